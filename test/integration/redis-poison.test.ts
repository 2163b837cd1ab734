// Poison messages on a real Redis (private throw-away servers, so keys can be counted and one server
// can refuse every write): a task whose result can never be stored runs exactly workerMaxDeliveries
// times and is dead-lettered, with no claim or counter left; and the count survives worker kills: a
// task that kills its worker every time is restored after each visibility timeout, counted, and after
// the limit dead-lettered by the next worker without running, FAILURE stored.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { TaskFailedError, type App, type Worker } from "../../src/index.ts";
import { eventually } from "../conformance/fixtures.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";
import { assertStoppedPoison, runUnsettleable, startFullRedis } from "./poison-helpers.ts";
import { CRASH_STARTS, crashApp } from "./redis-poison-child.ts";

let server: RedisChild;
let full: RedisChild;
let admin: Redis;
const open: { app: App; worker: Worker }[] = [];
const url = (db: number): string => `redis://127.0.0.1:${server.port}/${db}`;

before(async () => {
  server = await startRedisServer(await freePort());
  full = await startFullRedis();
  admin = new Redis(url(0));
});
after(async () => {
  for (const { app, worker } of open) {
    await worker.stop();
    await app.close();
  }
  await admin.quit();
  await killRedisServer(server);
  await killRedisServer(full);
});

/** Keys of our bookkeeping left in db 0: claims and redelivery counters. */
async function leftovers(): Promise<string[]> {
  return [...(await admin.keys("celeriac.unacked*")), ...(await admin.keys("celeriac.redeliveries.*"))];
}

test("a result the backend always refuses: 3 runs (workerMaxDeliveries), backed off, then a dead letter; no claim or counter left", async () => {
  const run = await runUnsettleable({ brokerUrl: url(0), fullBackendUrl: `redis://127.0.0.1:${full.port}/0`, queue: "unstorable", track: (app, worker) => open.push({ app, worker }) });
  assertStoppedPoison(run);
  assert.deepEqual(await leftovers(), []);
  assert.equal(await admin.llen("unstorable"), 0);
});

test("a task that kills its worker every time: each restore after the visibility timeout counts; the 4th worker dead-letters it unrun, FAILURE stored", async () => {
  const producer = crashApp(url(0), null);
  const result = await producer.sendTask("poison.crash", []);
  const children: number[] = [];
  try {
    // One worker after another, as a supervisor restarts them: each takes the message once its previous
    // taker's claim is past the visibility timeout (1 s).
    for (let i = 0; i < 6 && (await admin.llen("celeriac.dead-letter.celery")) === 0; i++) {
      const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./redis-poison-child.ts", import.meta.url)), url(0)], { stdio: ["ignore", "pipe", "inherit"] });
      children.push(child.pid as number);
      const lines: string[] = [];
      createInterface({ input: child.stdout! }).on("line", (line) => lines.push(line));
      const exited = once(child, "exit");
      await eventually(async () => child.exitCode !== null || child.signalCode !== null || (await admin.llen("celeriac.dead-letter.celery")) > 0, 30_000, `worker ${i + 1} to crash or dead-letter`);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    }
    const starts = await admin.lrange(CRASH_STARTS, 0, -1);
    assert.equal(starts.length, 3, `the task ran exactly workerMaxDeliveries times, not ${starts.length}`);
    assert.equal(new Set(starts).size, 3, "each run in another worker process");
    assert.equal(children.length, 4, "three workers killed, the fourth dead-lettered it");
    await assert.rejects(result.get({ timeout: 10 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "TooManyDeliveries" && /delivered 4 times, more than workerMaxDeliveries \(3\)/.test(error.remote.message));
    const [entry] = await admin.lrange("celeriac.dead-letter.celery", 0, -1);
    assert.match(entry ?? "", /"code":"TOO_MANY_DELIVERIES"/);
    assert.deepEqual(await leftovers(), []);
  } finally {
    await producer.close();
  }
});
