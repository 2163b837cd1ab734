// The Redis result backend's batched store(): records stored in one turn of the event loop go out in
// one pipeline (one socket write), each caller settles for its own record only, and close() writes
// what is still pending. Runs on the loopback Redis, db 7.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createRedisBackend } from "../../src/backend/redis/backend.ts";
import type { ResultRecord } from "../../src/protocol/result.ts";
import { adminClient, backendOptions, redisUrl } from "./redis-helpers.ts";

const DB = 7;

function record(value: unknown): ResultRecord {
  return { taskId: randomUUID(), state: "SUCCESS", value, error: null, traceback: null, children: [], dateDone: new Date() };
}

test("stores issued together share one pipeline; a record that cannot be encoded fails alone", async () => {
  const backend = createRedisBackend(redisUrl(DB), backendOptions());
  const admin = adminClient(DB);
  try {
    await backend.connect();
    const client = (backend as unknown as { client: { pipeline: () => unknown } }).client;
    const original = client.pipeline.bind(client);
    let pipelines = 0;
    client.pipeline = () => {
      pipelines++;
      return original();
    };
    const circular: Record<string, unknown> = {};
    circular["self"] = circular;
    const good = Array.from({ length: 50 }, (_, i) => record(i));
    const bad = record(circular);
    const outcomes = await Promise.allSettled([...good, bad].map((r) => backend.store(r)));
    assert.equal(pipelines, 1);
    assert.deepEqual(outcomes.slice(0, 50).map((o) => o.status), Array(50).fill("fulfilled"));
    assert.equal(outcomes[50]?.status, "rejected");
    for (const [i, r] of good.entries()) assert.equal((await backend.get(r.taskId))?.value, i);
    assert.equal(await backend.get(bad.taskId), null);

    // Still pending when close() is called: written before the connection goes.
    const late = record("late");
    const stored = backend.store(late);
    await backend.close();
    await stored;
    assert.match((await admin.get(`celery-task-meta-${late.taskId}`)) ?? "", /"late"/);
    await admin.del(...[...good, late].map((r) => `celery-task-meta-${r.taskId}`));
  } finally {
    await backend.close();
    await admin.quit();
  }
});
