// The Redis broker against a server that stops answering without closing its connections (a private
// redis-server frozen with SIGSTOP: what a hung server or a half-open TCP connection looks like; the
// clients stay "ready", so nothing reconnects). Every call the worker makes on the broker (ack,
// requeue, dead-letter, consume, length, cancel, close) settles within a bound instead of waiting for
// a reply that never comes; once the server thaws, what was neither acked nor buried is still there.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker } from "../../src/broker/redis/broker.ts";
import { eventually, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { brokerOptions } from "./redis-helpers.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";
import { Redis } from "ioredis";

const TIMEOUT_MS = 1000;
/** Generous against TIMEOUT_MS (a loaded machine), far below "forever". */
const BOUND_MS = 8000;
let server: RedisChild | null = null;

after(async () => {
  if (server) {
    server.process.kill("SIGCONT");
    await killRedisServer(server);
  }
});

/** How `operation` ended, or "pending" if it had not after BOUND_MS. */
async function outcome(operation: Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("pending"), BOUND_MS)));
  const settled = operation.then(
    () => "ok",
    (error: unknown) => `rejected: ${(error as Error).message}`,
  );
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

test("a Redis that stops answering: ack, requeue, dead-letter, consume, cancel and close all settle within a bound", { timeout: 120_000 }, async () => {
  const port = await freePort();
  server = await startRedisServer(port);
  const url = `redis://127.0.0.1:${port}/0`;
  const broker = createRedisBroker(url, brokerOptions([], { connectionTimeoutMs: TIMEOUT_MS, visibilityTimeoutSeconds: 3600 }));
  await broker.connect();
  const q = uniqueQueue("stalled");
  for (const label of ["acked", "requeued", "buried"]) await broker.publish(q, wireMessage(label));
  const got: Delivery[] = [];
  const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 3 });
  await eventually(() => got.length === 3, 5000, "three deliveries");
  // Let the consumer go back to waiting in BLMOVE + fetch, then freeze the server.
  await new Promise((resolve) => setTimeout(resolve, 300));
  server.process.kill("SIGSTOP");

  const [acked, requeued, buried] = got as [Delivery, Delivery, Delivery];
  const results: Record<string, string> = {};
  // One at a time, so each is bounded on its own (not all by the first one's timer).
  results["ack"] = await outcome(acked.ack());
  results["requeue"] = await outcome(requeued.reject({ requeue: true }));
  results["dead-letter"] = await outcome(buried.reject({ requeue: false, reason: { code: "TEST", message: "stalled" } }));
  results["consume"] = await outcome(broker.consume([uniqueQueue("stalled-other")], () => undefined, { prefetch: 1 }));
  results["length"] = await outcome(broker.length(q));
  results["cancel"] = await outcome(consumer.cancel());
  results["close"] = await outcome(broker.close());
  const pending = Object.entries(results).filter(([, how]) => how === "pending");
  assert.deepEqual(pending, [], `still waiting after ${BOUND_MS} ms: ${JSON.stringify(results)}`);

  // Thawed: every message is still somewhere (queue, claim or dead letters); none was lost by giving up.
  server.process.kill("SIGCONT");
  const admin = new Redis({ port, host: "127.0.0.1", protocol: 2 });
  try {
    const [queued, claimed, dead] = await Promise.all([admin.lrange(q, 0, -1), admin.hvals("celeriac.unacked"), admin.lrange(`celeriac.dead-letter.${q}`, 0, -1)]);
    const labels = [...queued, ...claimed, ...dead].join("\n");
    for (const label of ["requeued", "buried"]) {
      // The envelope's body is the JSON text [["<label>"],...], escaped inside the envelope's JSON.
      assert.ok(labels.includes(`[[\\"${label}\\"]`), `"${label}" is in no queue, claim or dead letter`);
    }
  } finally {
    admin.disconnect();
  }
});
