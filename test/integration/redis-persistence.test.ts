// The warning a consuming Redis broker logs when its server keeps no persistence, on private
// redis-servers started each way: none (warns), AOF or RDB snapshots (quiet), CONFIG renamed away
// (quiet: nothing can be known).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { createRedisBroker } from "../../src/broker/redis/broker.ts";
import { warnIfNotPersistent } from "../../src/broker/redis/persistence.ts";
import { eventually, uniqueQueue } from "../conformance/fixtures.ts";
import { brokerOptions, type LogLine } from "./redis-helpers.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";

const servers: RedisChild[] = [];
// The AOF and snapshot files of the servers that keep them, apart from anyone else's in /tmp.
const dir = mkdtempSync(join(tmpdir(), "celeriac-persistence-"));
after(async () => {
  for (const server of servers) await killRedisServer(server);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the check against a private server started with `extra` arguments: what it logged, and the server's settings. */
async function check(extra: string[]): Promise<{ lines: string[]; settings: Record<string, string> | null }> {
  const server = await startRedisServer(await freePort(), ["--dir", dir, ...extra]);
  servers.push(server);
  const client = new Redis({ port: server.port, host: "127.0.0.1" });
  const lines: string[] = [];
  try {
    await warnIfNotPersistent(client, `redis://127.0.0.1:${server.port}/0`, (_level, message) => lines.push(message));
    const reply = (await client.config("GET", "appendonly", "save").catch(() => null)) as string[] | null;
    const settings = reply && Object.fromEntries(reply.flatMap((value, i) => (i % 2 === 0 ? [[value, reply[i + 1] ?? ""]] : [])));
    return { lines, settings };
  } finally {
    await client.quit();
  }
}

test("no AOF and no save rules: one warning that a restart loses every queued task", async () => {
  const { lines, settings } = await check([]);
  assert.deepEqual(settings, { appendonly: "no", save: "" });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /no persistence \(appendonly no, no save rules\): a Redis restart loses every queued and running task/);
});

test("AOF on, or RDB save rules: no warning", async () => {
  assert.deepEqual(await check(["--appendonly", "yes"]), { lines: [], settings: { appendonly: "yes", save: "" } });
  assert.deepEqual(await check(["--save", "900 1"]), { lines: [], settings: { appendonly: "no", save: "900 1" } });
});

test("CONFIG renamed away (as managed Redis often does): quiet, no error", async () => {
  assert.deepEqual(await check(["--rename-command", "CONFIG", ""]), { lines: [], settings: null });
});

test("a worker's broker logs it once when it starts consuming", async () => {
  const server = await startRedisServer(await freePort());
  servers.push(server);
  const logs: LogLine[] = [];
  const broker = createRedisBroker(`redis://127.0.0.1:${server.port}/0`, brokerOptions(logs));
  await broker.connect();
  try {
    const first = await broker.consume([uniqueQueue()], () => undefined, { prefetch: 1 });
    const second = await broker.consume([uniqueQueue()], () => undefined, { prefetch: 1 });
    await eventually(() => logs.some((l) => /keeps no persistence/.test(l.message)), 5000, "the warning");
    await Promise.all([first.cancel(), second.cancel()]);
    assert.equal(logs.filter((l) => /keeps no persistence/.test(l.message)).length, 1);
    assert.equal(logs.find((l) => /keeps no persistence/.test(l.message))?.level, "warn");
  } finally {
    await broker.close();
  }
});
