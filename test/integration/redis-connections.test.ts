// Connection budget and resilience against the real Redis (db 11): counts this process's named
// connections in CLIENT LIST, kills them mid-stream and proves consumption resumes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker } from "../../src/broker/redis/broker.ts";
import { createRedisBackend } from "../../src/backend/redis/backend.ts";
import { ConnectionError } from "../../src/util/errors.ts";
import { eventually, labelOf, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { adminClient, backendOptions, brokerOptions, ourConnections, redisUrl, total, type LogLine } from "./redis-helpers.ts";

const DB = 11;
const admin = adminClient(DB);

/** CLIENT KILL every connection this process's Celeriac code opened (not other processes' clients). */
async function killOurConnections(): Promise<void> {
  const list = (await admin.client("LIST")) as string;
  for (const line of list.split("\n")) {
    const match = /^id=(\d+) .*\bname=celeriac:\w+:(\d+)\b/.exec(line);
    if (match && Number(match[2]) === process.pid) await admin.client("KILL", "ID", match[1]!);
  }
}

describe("redis connections", () => {
  before(async () => {
    await admin.flushdb();
  });
  after(async () => {
    await admin.flushdb();
    await admin.quit();
  });

  test("a producer holds 1 connection for any number of concurrent publishes, 2 while waiting on results", async () => {
    const broker = createRedisBroker(redisUrl(DB), brokerOptions());
    const backend = createRedisBackend(redisUrl(DB), backendOptions());
    await broker.connect();
    await backend.connect();
    const q = uniqueQueue();
    await Promise.all(Array.from({ length: 500 }, (_, i) => broker.publish(q, wireMessage(`c${i}`))));
    assert.equal(await broker.length(q), 500);
    assert.deepEqual(await ourConnections(admin), { cmd: 1 });
    const ids = Array.from({ length: 20 }, () => randomUUID());
    const waits = ids.map((id) => backend.waitForReady(id, { timeoutMs: 5000 }));
    await eventually(async () => total(await ourConnections(admin)) === 2, 5000, "the subscriber");
    assert.deepEqual(await ourConnections(admin), { cmd: 1, sub: 1 });
    await backend.storeMany(ids.map((taskId) => ({ taskId, state: "SUCCESS", value: 1, error: null, traceback: null, children: [], dateDone: new Date() })));
    await Promise.all(waits);
    await broker.purge(q);
    await backend.close();
    await broker.close();
    await eventually(async () => total(await ourConnections(admin)) === 0, 5000, "all connections closed");
  });

  test("a worker (consumer with any prefetch + control + results on one server) holds at most 3", async () => {
    const broker = createRedisBroker(redisUrl(DB), brokerOptions());
    const backend = createRedisBackend(redisUrl(DB), backendOptions());
    await broker.connect();
    await backend.connect();
    const q = uniqueQueue();
    const got: Delivery[] = [];
    const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 64 });
    const stopControl = await broker.onControl(() => undefined);
    for (let i = 0; i < 200; i++) await broker.publish(q, wireMessage(`w${i}`));
    await eventually(() => got.length === 64, 5000, "a full prefetch window");
    await backend.storeMany(got.map((d) => ({ taskId: String(d.message.headers["id"]), state: "SUCCESS", value: null, error: null, traceback: null, children: [], dateDone: new Date() })));
    const counts = await ourConnections(admin);
    assert.deepEqual(counts, { cmd: 1, blocking: 1, sub: 1 });
    await Promise.all(got.map((d) => d.ack()));
    await stopControl();
    await consumer.cancel();
    await broker.purge(q);
    await backend.close();
    await broker.close();
  });

  test("after CLIENT KILL mid-stream the consumer reconnects, logs the attempt and resumes consuming", async () => {
    const logs: LogLine[] = [];
    const broker = createRedisBroker(redisUrl(DB), brokerOptions(logs));
    await broker.connect();
    const q = uniqueQueue();
    const got: string[] = [];
    const consumer = await broker.consume([q], (d) => {
      got.push(labelOf(d.message));
      void d.ack();
    }, { prefetch: 4 });
    for (let i = 0; i < 20; i++) await broker.publish(q, wireMessage(`before${i}`));
    await eventually(() => got.length === 20, 5000, "the first messages");
    await killOurConnections();
    await eventually(() => logs.some((l) => /reconnect attempt 1/.test(l.message)), 5000, "a logged reconnect attempt");
    // Published by another client while ours reconnect: must be consumed, not left sitting.
    const producer = createRedisBroker(redisUrl(DB), brokerOptions());
    await producer.connect();
    for (let i = 0; i < 20; i++) await producer.publish(q, wireMessage(`after${i}`));
    await eventually(() => got.length === 40, 15_000, "consumption after the reconnect");
    assert.deepEqual(got.slice(20), Array.from({ length: 20 }, (_, i) => `after${i}`));
    // Acks are batched per tick: the last one may still be on its way when the 40th delivery arrives.
    await eventually(async () => (await admin.hlen("celeriac.unacked")) === 0, 5000, "no claims left behind by acknowledged messages");
    assert.ok(logs.some((l) => /reconnected/.test(l.message)), "logs.some((l) => /reconnected/.test(l.message))");
    await consumer.cancel();
    await producer.close();
    await broker.close();
  });

  test("publish rejects with a clear ConnectionError within brokerConnectionTimeout when Redis is unreachable", async () => {
    const logs: LogLine[] = [];
    const broker = createRedisBroker("redis://127.0.0.1:1/0", brokerOptions(logs, { connectionTimeoutMs: 300, connectionMaxRetries: 2 }));
    const started = Date.now();
    await assert.rejects(broker.connect(), (error: unknown) => error instanceof ConnectionError && /unreachable|closed/.test(error.message));
    assert.ok(Date.now() - started < 3000, "Date.now() - started < 3000");
    await assert.rejects(broker.publish("q", wireMessage("x")), ConnectionError);
    await broker.close();
  });
});
