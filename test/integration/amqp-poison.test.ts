// Poison messages on the real RabbitMQ, classic and quorum queues alike: a task whose result can never
// be stored (a private Redis backend that refuses every write) runs exactly workerMaxDeliveries times
// and is dead-lettered (quorum: counted by RabbitMQ's x-delivery-count; classic: by the confirmed
// re-publish with x-celeriac-delivery-count); and a chain step that cannot be routed (no queue bound)
// fails its task once with FollowUpError instead of requeueing it forever.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createApp, createWorker, TaskFailedError, type App, type Worker } from "../../src/index.ts";
import { deadLetterQueue } from "../../src/broker/amqp/dead-letters.ts";
import type { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { encodeTaskMessage } from "../../src/protocol/celery-v2.ts";
import { emptyEmbed } from "../../src/protocol/message.ts";
import { signature } from "../../src/protocol/signature.ts";
import { eventually } from "../../src/testing/fixtures.ts";
import { AMQP_URL, TEST_DELAY_NAMESPACE, closeAppsAndQueues } from "../interop/amqp-helpers.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";
import { assertStoppedPoison, runUnsettleable, startFullRedis } from "./poison-helpers.ts";

let full: RedisChild;
let results: RedisChild;
const apps: App[] = [];
const workers: Worker[] = [];
const queues: string[] = [];

function newQueue(label: string): string {
  const queue = `poison-${label}-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  return queue;
}

before(async () => {
  full = await startFullRedis();
  results = await startRedisServer(await freePort());
});
after(async () => {
  // The dead-letter queues first, through a broker still open, then the task queues.
  const broker = (await apps[0]?.getBroker()) as AmqpBroker | undefined;
  for (const queue of queues) await broker?.withAdminChannel((channel) => channel.deleteQueue(deadLetterQueue(queue))).catch(() => undefined);
  await closeAppsAndQueues(workers, apps, queues);
  await killRedisServer(full);
  await killRedisServer(results);
});

for (const queueType of ["classic", "quorum"] as const) {
  test(`${queueType} queue: a result the backend always refuses runs 3 times (workerMaxDeliveries), backed off, then is a dead letter`, async () => {
    const queue = newQueue(queueType);
    const run = await runUnsettleable({
      brokerUrl: AMQP_URL,
      fullBackendUrl: `redis://127.0.0.1:${full.port}/0`,
      queue,
      transportOptions: { queueType, delayNamespace: TEST_DELAY_NAMESPACE },
      track: (app, worker) => {
        apps.push(app);
        workers.push(worker);
      },
    });
    assertStoppedPoison(run);
    // The count headers stay out of the dead letter: a redrive starts counting afresh.
    const headers = run.letters[0]?.message?.headers ?? {};
    assert.deepEqual(Object.keys(headers).filter((name) => /delivery-count/.test(name)), []);
    assert.equal(await (await run.app.getBroker()).length(queue), 0, "nothing left in the task queue");
  });
}

test("a chain step routed to a queue nobody declared fails its task once (FollowUpError), not a requeue loop", async () => {
  const app = createApp({ brokerUrl: AMQP_URL, resultBackend: `redis://127.0.0.1:${results.port}/0`, taskAcksLate: true, brokerTransportOptions: { delayNamespace: TEST_DELAY_NAMESPACE }, readEnv: false });
  apps.push(app);
  const queue = newQueue("chain");
  let runs = 0;
  app.task("poison.first", () => ++runs);
  const worker = createWorker(app, { queues: [queue], concurrency: 1, shutdownTimeout: 2 });
  workers.push(worker);
  await worker.start();
  const nowhere = `poison-nowhere-${randomUUID().slice(0, 8)}`;
  const embed = emptyEmbed();
  embed.chain = [signature("poison.next", [], {}, { queue: nowhere })];
  const id = randomUUID();
  const message = {
    id, task: "poison.first", args: [], kwargs: {}, embed, eta: null, expires: null, retries: 0, rootId: id, parentId: null, groupId: null, groupIndex: null,
    timeLimit: [null, null] as [null, null], priority: null, ignoreResult: false, shadow: null, origin: null, argsrepr: null, kwargsrepr: null, replyTo: null, correlationId: id, headers: {}, serializer: "json" as const,
  };
  await (await app.getBroker()).publish(queue, encodeTaskMessage(message));
  await assert.rejects(app.asyncResult(id).get({ timeout: 15 }), (error: unknown) =>
    error instanceof TaskFailedError && error.remote.type === "FollowUpError" && error.remote.message.includes(`next chain step "poison.next" of task poison.first[${id}] cannot be sent to queue "${nowhere}"`));
  assert.equal(runs, 1, "ran once: the failure is the task's, not a settle failure to retry");
  // The caller hears of the FAILURE as soon as it is stored; the worker counts it just after.
  await eventually(() => worker.stats.failed === 1, 5000, "the failure counted");
  assert.equal(worker.stats.succeeded, 0, "no success counted");
  assert.equal(await (await app.getBroker()).length(queue), 0);
});
