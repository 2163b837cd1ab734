// Poison messages on the embedded broker: a message whose outcome cannot be settled runs exactly
// workerMaxDeliveries times, each requeue after a growing backoff, then is dead-lettered; a message
// delivered too often is not run at all; a follow-up that cannot be built fails its task once.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { TaskFailedError } from "../app/errors.ts";
import type { Delivery } from "../broker/broker.ts";
import type { MemoryBroker } from "../broker/memory/memory-broker.ts";
import { MemoryBackend } from "../backend/memory/memory-backend.ts";
import { registerBackend } from "../backend/registry.ts";
import { encodeTaskMessage } from "../protocol/celery-v2.ts";
import { emptyEmbed, type Signature, type TaskMessage } from "../protocol/message.ts";
import type { ResultRecord } from "../protocol/result.ts";
import { signature } from "../protocol/signature.ts";
import { requeueDelayMs } from "./redelivery.ts";
import { eventually, record, setup } from "./worker.test-helper.ts";

/** `storefails://success` refuses SUCCESS records (a result too big for its store); `storefails://all` every record. */
class FailingStore extends MemoryBackend {
  constructor(private readonly refuses: (record: ResultRecord) => boolean) {
    super();
  }

  override async store(record: ResultRecord): Promise<void> {
    if (this.refuses(record)) throw new Error(`result store refused ${record.state} for ${record.taskId}`);
    return super.store(record);
  }
}
const unregister = registerBackend("storefails", (url) => new FailingStore(new URL(url).host === "all" ? () => true : (record) => record.state === "SUCCESS"));
after(() => unregister());

function message(task: string, embed = emptyEmbed()): TaskMessage {
  const id = randomUUID();
  return {
    id, task, args: [], kwargs: {}, embed, eta: null, expires: null, retries: 0, rootId: id, parentId: null, groupId: null, groupIndex: null,
    timeLimit: [null, null], priority: null, ignoreResult: false, shadow: null, origin: null, argsrepr: null, kwargsrepr: null, replyTo: null, correlationId: id, headers: {}, serializer: "json",
  };
}

describe("poison messages", () => {
  test("a result that cannot be stored: runs exactly workerMaxDeliveries times, backing off, then FAILURE TooManyDeliveries and a dead letter", async () => {
    const { app, worker } = setup({ resultBackend: "storefails://success", taskAcksLate: true, workerMaxDeliveries: 3, workerRequeueDelaySeconds: 0.1 });
    const runs: number[] = [];
    const task = app.task("p.unstorable", () => {
      runs.push(Date.now());
      return "done";
    });
    const errors = record(app, "worker:error");
    await worker.start();
    const result = await task.delay();
    await assert.rejects(result.get({ timeout: 10 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "TooManyDeliveries" && /delivered 3 times.*refused SUCCESS/.test(error.remote.message));
    assert.equal(runs.length, 3, "run once per allowed delivery, never more");
    // The requeues waited 0.1 s, then 0.2 s (doubling per delivery), not at once.
    assert.ok((runs[1] as number) - (runs[0] as number) >= 95, `first requeue waited ${(runs[1] as number) - (runs[0] as number)} ms`);
    assert.ok((runs[2] as number) - (runs[1] as number) >= 195, `second requeue waited ${(runs[2] as number) - (runs[1] as number)} ms`);
    const broker = (await app.getBroker()) as MemoryBroker;
    const letters = await broker.deadLetters.list("celery", 10);
    assert.deepEqual(letters.map((l) => [l.code, l.message?.headers["id"]]), [["TOO_MANY_DELIVERIES", result.id]]);
    assert.equal(errors.filter((e) => /could not settle task p\.unstorable/.test(e.message)).length, 3, "each failed settle is reported");
    assert.deepEqual([worker.stats.succeeded, worker.stats.rejected], [0, 1]);
    assert.equal(await broker.length("celery"), 0);
  });

  test("a backend that stores nothing at all: the message is still dead-lettered after the limit, nothing lost", async () => {
    const { app, worker } = setup({ resultBackend: "storefails://all", taskAcksLate: true, workerMaxDeliveries: 2, workerRequeueDelaySeconds: 0 });
    let runs = 0;
    const task = app.task("p.nowhere", () => ++runs);
    const errors = record(app, "worker:error");
    await worker.start();
    const sent = await task.delay();
    const broker = (await app.getBroker()) as MemoryBroker;
    await eventually(async () => (await broker.deadLetters.list("celery", 10)).length === 1, "the dead letter");
    const [letter] = await broker.deadLetters.list("celery", 10);
    assert.equal(letter?.code, "TOO_MANY_DELIVERIES");
    assert.equal(letter?.message?.headers["id"], sent.id);
    assert.equal(runs, 2);
    assert.ok(errors.some((e) => /could not store the failure of rejected task p\.nowhere/.test(e.message)), "the lost FAILURE is reported");
  });

  test("acks early, a result that cannot be stored is reported once as lost: nothing to requeue, nothing run again", async () => {
    const { app, worker } = setup({ resultBackend: "storefails://success", workerRequeueDelaySeconds: 0 });
    let runs = 0;
    const task = app.task("p.early", async () => ++runs);
    const errors = record(app, "worker:error");
    await worker.start();
    await task.delay();
    await eventually(() => errors.length === 1, "the report");
    assert.match(errors[0]?.message ?? "", /could not settle task p\.early\[.*\], acknowledged already \(acks early\): its outcome is lost/);
    const broker = (await app.getBroker()) as MemoryBroker;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(runs, 1);
    assert.deepEqual([await broker.length("celery"), (await broker.deadLetters.list("celery", 10)).length, worker.stats.rejected], [0, 0, 0]);
  });

  test("a message delivered more often than allowed is dead-lettered before it runs, FAILURE stored", async () => {
    const { app, worker } = setup({ workerMaxDeliveries: 4 });
    let runs = 0;
    const task = app.task("p.crashy", () => ++runs);
    const broker = (await app.getBroker()) as MemoryBroker;
    const sent = await task.delay();
    // Four deliveries given back (as four crashed workers would), the fifth goes to the worker.
    const counts: number[] = [];
    let fourth: Delivery | null = null;
    const consumer = await broker.consume(["celery"], (delivery) => {
      counts.push(delivery.deliveryCount);
      if (delivery.deliveryCount === 4) fourth = delivery;
      else void delivery.reject({ requeue: true });
    }, { prefetch: 1 });
    await eventually(() => counts.length === 4, "four deliveries");
    await consumer.cancel();
    await (fourth as Delivery | null)?.reject({ requeue: true });
    assert.deepEqual(counts, [1, 2, 3, 4]);
    const rejected = record(app, "task:rejected");
    await worker.start();
    await assert.rejects(sent.get({ timeout: 5 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "TooManyDeliveries" && /delivered 5 times, more than workerMaxDeliveries \(4\)/.test(error.remote.message));
    assert.equal(runs, 0);
    assert.deepEqual(rejected.map((e) => [e.id, e.code, e.requeued]), [[sent.id, "TOO_MANY_DELIVERIES", false]]);
    assert.deepEqual((await broker.deadLetters.list("celery", 10)).map((l) => l.code), ["TOO_MANY_DELIVERIES"]);
  });

  test("a chain step that cannot be built fails the task once (FollowUpError), without running it again", async () => {
    const { app, worker } = setup({ taskAcksLate: true });
    let runs = 0;
    app.task("p.first", () => ++runs);
    let nextRuns = 0;
    app.task("p.next", () => ++nextRuns);
    await worker.start();
    const embed = emptyEmbed();
    // A nested link that is no signature at all: the step cannot be built.
    embed.chain = [{ ...signature("p.next"), options: { link: [null] } } as Signature];
    const broken = message("p.first", embed);
    const broker = (await app.getBroker()) as MemoryBroker;
    await broker.publish("celery", encodeTaskMessage(broken));
    const result = app.asyncResult(broken.id);
    await assert.rejects(result.get({ timeout: 5 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "FollowUpError" && /next chain step "p\.next" of task p\.first\[.*\] cannot be built: options\.link\[0\] must be an object/.test(error.remote.message));
    assert.equal(runs, 1);
    assert.equal(nextRuns, 0);
    assert.deepEqual([worker.stats.failed, worker.stats.succeeded], [1, 0]);
    assert.equal(await broker.length("celery"), 0);
  });

  test("an errback that cannot be built is skipped and reported; the FAILURE is stored", async () => {
    const { app, worker } = setup({ taskAcksLate: true });
    app.task("p.fails", () => {
      throw new Error("boom");
    });
    const errors = record(app, "worker:error");
    await worker.start();
    const embed = emptyEmbed();
    embed.errbacks = [{ ...signature("p.handler"), options: { link_error: 42 } } as Signature];
    const failing = message("p.fails", embed);
    await ((await app.getBroker()) as MemoryBroker).publish("celery", encodeTaskMessage(failing));
    await assert.rejects(app.asyncResult(failing.id).get({ timeout: 5 }), (error: unknown) => error instanceof TaskFailedError && error.remote.message === "boom");
    assert.ok(errors.some((e) => /errback "p\.handler" of task p\.fails\[.*\] cannot be built.*errback skipped/.test(e.message)), "the skipped errback is reported");
    assert.equal(worker.stats.failed, 1);
  });

  test("requeueDelayMs doubles per delivery from workerRequeueDelaySeconds, at most 60 s", () => {
    const config = { workerRequeueDelaySeconds: 1 };
    assert.deepEqual([1, 2, 3, 4, 10].map((n) => requeueDelayMs(config, n)), [1000, 2000, 4000, 8000, 60_000]);
    assert.equal(requeueDelayMs({ workerRequeueDelaySeconds: 0 }, 5), 0);
  });
});
