// Poison messages on a real Redis (private throw-away servers, so keys can be counted and one server
// can refuse every write): a task whose result can never be stored runs exactly workerMaxDeliveries
// times and is dead-lettered, with no claim or counter left; and the count survives worker kills: a
// task that kills its worker every time is restored after each visibility timeout, counted, and after
// the limit dead-lettered by the next worker without running, FAILURE stored. Messages Python wrote are
// counted too, and a redriven dead letter counts from 1 again.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { TaskFailedError, type App, type Worker } from "../../src/index.ts";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker } from "../../src/broker/redis/broker.ts";
import { eventually } from "../conformance/fixtures.ts";
import { brokerOptions } from "./redis-helpers.ts";
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

test("a message Python wrote: counted when restored from a dead Python worker's claim and when requeued; Python's own restore mark counts once; redriven, it starts afresh", async () => {
  const fixture = readFileSync(new URL("../../../shared/fixtures/celery-5.2.6/redis-broker/add-delay.json", import.meta.url), "utf8");
  const raw = (JSON.parse(fixture) as { entries: { raw: string }[] }).entries[0]!.raw;
  const envelope = JSON.parse(raw) as { headers: { id: string }; properties: { delivery_tag: string } };
  const tag = envelope.properties.delivery_tag;
  const db1 = new Redis(url(1));
  const broker = createRedisBroker(url(1), brokerOptions([], { visibilityTimeoutSeconds: 1, transportOptions: { kombuVisibilityTimeout: 1 } }));
  try {
    // The claim of a Python worker killed 10 s ago, in kombu's unacked hash, as kombu writes it.
    await db1.hset("unacked", tag, `[${raw}, "", "celery"]`);
    await db1.zadd("unacked_index", Date.now() / 1000 - 10, tag);
    await broker.connect();
    const got: Delivery[] = [];
    const consumer = await broker.consume(["celery"], (delivery) => got.push(delivery), { prefetch: 1 });
    await eventually(() => got.length === 1, 10_000, "the restored delivery");
    assert.equal(got[0]!.message.headers["id"], envelope.headers.id);
    assert.equal(got[0]!.deliveryCount, 2, "restore.lua counted the dead Python worker's claim");
    await got[0]!.reject({ requeue: true });
    await eventually(() => got.length === 2, 5000, "the requeued delivery");
    assert.equal(got[1]!.deliveryCount, 3);
    assert.equal(await db1.get(`celeriac.redeliveries.${tag}`), "2");
    await got[1]!.reject({ requeue: false, reason: { code: "TOO_MANY_DELIVERIES", message: "test" } });
    assert.equal(await db1.exists(`celeriac.redeliveries.${tag}`), 0, "dead-lettering deletes the counter");

    // Another message, marked by a Python worker's restore_visible (kombu sets headers.redelivered and
    // appends delivery_info.redelivered), with no counter. Its own tag: claims are filed by tag.
    const pythonMarked = raw
      .replace('"routing_key": "celery"}', '"routing_key": "celery", "redelivered": true}')
      .replace('"headers": {', '"headers": {"redelivered": true, ')
      .replace(`"delivery_tag": "${tag}"`, `"delivery_tag": "${tag}-2"`);
    assert.notEqual(pythonMarked, raw);
    await db1.lpush("celery", pythonMarked);
    await eventually(() => got.length === 3, 5000, "the Python-restored delivery");
    assert.equal(got[2]!.deliveryCount, 2, "a redelivered mark without a counter is a second delivery");
    await got[2]!.reject({ requeue: false, reason: { code: "TOO_MANY_DELIVERIES", message: "test" } });

    // Both dead letters redriven: the redelivered marks are off, each is a first delivery again.
    assert.equal(await broker.deadLetters.redrive("celery", 10), 2);
    await eventually(() => got.length === 4, 5000, "the first redriven delivery");
    await got[3]!.ack();
    await eventually(() => got.length === 5, 5000, "the second redriven delivery");
    assert.deepEqual(got.slice(3).map((d) => [d.deliveryCount, d.redelivered]), [[1, false], [1, false]]);
    // kombu's headers.redelivered stays in the Python-marked one: its next requeue still counts.
    await got[4]!.reject({ requeue: true });
    await eventually(() => got.length === 6, 5000, "the requeued redriven delivery");
    assert.equal(got[5]!.deliveryCount, 2);
    await got[5]!.ack();
    await consumer.cancel();
    assert.deepEqual(await db1.keys("celeriac.redeliveries.*"), []);
  } finally {
    await broker.close();
    await db1.quit();
  }
});
