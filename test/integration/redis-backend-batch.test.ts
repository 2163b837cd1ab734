// The Redis result backend's batched store(): records stored in one turn of the event loop go out in
// one store.lua call (SETEX + PUBLISH each, one command) per STORE_EAGER_BATCH, each caller settles for
// its own record only, and close() writes what is still pending; and expect(), the subscription made
// ahead of a wait. Runs on the loopback Redis, db 7.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { STORE_EAGER_BATCH, createRedisBackend } from "../../src/backend/redis/backend.ts";
import type { ResultRecord } from "../../src/protocol/result.ts";
import { eventually } from "../conformance/fixtures.ts";
import { adminClient, backendOptions, redisUrl } from "./redis-helpers.ts";

const DB = 7;

function record(value: unknown): ResultRecord {
  return { taskId: randomUUID(), state: "SUCCESS", value, error: null, traceback: null, children: [], dateDone: new Date() };
}

test("stores issued together share one script call; a record that cannot be encoded fails alone", async () => {
  const backend = createRedisBackend(redisUrl(DB), backendOptions());
  const admin = adminClient(DB);
  try {
    await backend.connect();
    const client = (backend as unknown as { client: { evalsha: (...args: unknown[]) => Promise<unknown> } }).client;
    const original = client.evalsha.bind(client);
    let calls = 0;
    client.evalsha = (...args: unknown[]) => {
      calls++;
      return original(...args);
    };
    const subscriber = adminClient(DB);
    const announced: string[] = [];
    await subscriber.psubscribe("celery-task-meta-*");
    subscriber.on("pmessage", (_pattern: string, channel: string) => announced.push(channel));
    const circular: Record<string, unknown> = {};
    circular["self"] = circular;
    // Fewer than a full batch: written together at the end of the turn.
    const good = Array.from({ length: STORE_EAGER_BATCH - 2 }, (_, i) => record(i));
    const bad = record(circular);
    const outcomes = await Promise.allSettled([...good, bad].map((r) => backend.store(r)));
    assert.equal(calls, 1);
    assert.deepEqual(outcomes.slice(0, good.length).map((o) => o.status), Array(good.length).fill("fulfilled"));
    assert.equal(outcomes[good.length]?.status, "rejected");
    for (const [i, r] of good.entries()) assert.equal((await backend.get(r.taskId))?.value, i);
    assert.equal(await backend.get(bad.taskId), null);
    // As Celery: each key expires after result_expires (here 3,600 s) and is announced on its channel.
    const ttl = await admin.ttl(`celery-task-meta-${good[0]?.taskId}`);
    assert.ok(ttl > 3_500 && ttl <= 3_600, `ttl ${ttl}`);
    await eventually(() => announced.length >= good.length, 2000, "a PUBLISH per result");
    assert.deepEqual(new Set(announced), new Set(good.map((r) => `celery-task-meta-${r.taskId}`)));
    await subscriber.quit();

    // More than a full batch in one turn: each full batch goes out at once, the rest at the end of the turn.
    calls = 0;
    const many = Array.from({ length: 2 * STORE_EAGER_BATCH + 5 }, (_, i) => record(i));
    await Promise.all(many.map((r) => backend.store(r)));
    assert.equal(calls, 3);
    for (const [i, r] of many.entries()) assert.equal((await backend.get(r.taskId))?.value, i);

    // Still pending when close() is called: written before the connection goes.
    const late = record("late");
    const stored = backend.store(late);
    await backend.close();
    await stored;
    assert.match((await admin.get(`celery-task-meta-${late.taskId}`)) ?? "", /"late"/);
    await admin.del(...[...good, ...many, late].map((r) => `celery-task-meta-${r.taskId}`));
  } finally {
    await backend.close();
    await admin.quit();
  }
});

test("a waiting client subscribes ahead of the publish: an announcement made before its wait is not missed", async () => {
  const backend = createRedisBackend(redisUrl(DB), backendOptions());
  const admin = adminClient(DB);
  try {
    await backend.connect();
    // Before any wait the subscriber is not open, and expect() opens nothing (a producer stays at 1 connection).
    const stranger = record("x");
    backend.expect(stranger.taskId);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await admin.pubsub("NUMSUB", `celery-task-meta-${stranger.taskId}`))[1], 0);
    // A first wait opens the subscriber.
    await assert.rejects(backend.waitForReady(stranger.taskId, { timeoutMs: 100 }), /timed out/);

    const expected = record("heard early");
    backend.expect(expected.taskId);
    await eventually(async () => (await admin.pubsub("NUMSUB", `celery-task-meta-${expected.taskId}`))[1] === 1, 2000, "the early subscription");
    // Announced only (no key stored): just the subscription made by expect() can have heard it.
    const json = JSON.stringify({ status: "SUCCESS", result: "heard early", traceback: null, children: [], date_done: null, task_id: expected.taskId });
    assert.equal(await admin.publish(`celery-task-meta-${expected.taskId}`, json), 1);
    assert.equal((await backend.waitForReady(expected.taskId, { timeoutMs: 2000 })).value, "heard early");
    // Taken over and released by the wait.
    await eventually(async () => (await admin.pubsub("NUMSUB", `celery-task-meta-${expected.taskId}`))[1] === 0, 2000, "the unsubscribe");

    // Not waited on: dropped at close.
    const forgotten = record("never awaited");
    backend.expect(forgotten.taskId);
    await eventually(async () => (await admin.pubsub("NUMSUB", `celery-task-meta-${forgotten.taskId}`))[1] === 1, 2000, "the early subscription");
    await backend.close();
    await eventually(async () => (await admin.pubsub("NUMSUB", `celery-task-meta-${forgotten.taskId}`))[1] === 0, 2000, "no subscription left");
  } finally {
    await backend.close();
    await admin.quit();
  }
});
