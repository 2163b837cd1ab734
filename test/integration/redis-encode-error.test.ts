// Results that cannot be encoded, on a real Redis (a private throw-away server, so its keys can be
// counted): the task is stored as FAILURE with kombu's EncodeError at its first run, in the JSON a
// Python client reads, while the results written in the same store.lua batch are stored as usual.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { eventually } from "../../src/testing/fixtures.ts";
import { Redis } from "ioredis";
import { createApp, createWorker, TaskFailedError } from "../../src/index.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";

let server: RedisChild;
let url: string;

before(async () => {
  server = await startRedisServer(await freePort());
  url = `redis://127.0.0.1:${server.port}/0`;
});
after(async () => killRedisServer(server));

test("a circular result is FAILURE EncodeError at the first attempt; the other results of its batch are stored", async () => {
  const app = createApp({ brokerUrl: url, resultBackend: url, readEnv: false, taskAcksLate: true });
  const runs = new Map<string, number>();
  const value = app.task("enc.value", (label: string) => {
    runs.set(label, (runs.get(label) ?? 0) + 1);
    if (label !== "circular") return label;
    const loop: Record<string, unknown> = { label };
    loop["self"] = loop;
    return loop;
  });
  const worker = createWorker(app, { concurrency: 10, shutdownTimeout: 2 });
  const admin = new Redis(url);
  try {
    const labels = ["a", "b", "c", "circular", "d", "e", "f", "g"];
    // Sent before the worker starts, so it takes them in one fetch and their results share a batch.
    const results = await value.applyMany(labels.map((label) => [label]));
    await worker.start();
    const settled = await Promise.allSettled(results.map((result) => result.get({ timeout: 10 })));
    labels.forEach((label, i) => {
      const outcome = settled[i];
      if (label === "circular") {
        assert.equal(outcome?.status, "rejected");
        const error = (outcome as PromiseRejectedResult).reason as unknown;
        assert.ok(error instanceof TaskFailedError, String(error));
        assert.deepEqual([error.remote.type, error.remote.module], ["EncodeError", "kombu.exceptions"]);
        assert.match(error.remote.message, /circular/);
      } else {
        assert.deepEqual(outcome, { status: "fulfilled", value: label });
      }
    });
    const stored = JSON.parse((await admin.get(`celery-task-meta-${results[3]!.id}`)) ?? "null") as { status: string; result: Record<string, unknown> };
    assert.equal(stored.status, "FAILURE");
    assert.deepEqual([stored.result["exc_type"], stored.result["exc_module"]], ["EncodeError", "kombu.exceptions"]);
    // Callers hear of a result as soon as it is stored; the worker counts and acknowledges just after.
    await eventually(() => worker.stats.succeeded === 7 && worker.stats.failed === 1, 5000, "7 successes and 1 failure counted");
    // Failed at once and acknowledged (acksLate): never run again, nothing left claimed or queued.
    assert.equal(runs.get("circular"), 1);
    await eventually(async () => (await admin.hlen("celeriac.unacked")) === 0, 5000, "every claim acknowledged");
    assert.equal(await admin.llen("celery"), 0, "nothing left queued");
  } finally {
    await worker.stop();
    await app.close();
    admin.disconnect();
  }
});
