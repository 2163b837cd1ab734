// What a worker cannot run or cannot store still leaves a record, on the embedded broker: a FAILURE the
// caller reads when the task id is known, a dead letter with its reason, a count and an event.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createApp } from "../app/app.ts";
import { Reject, TaskFailedError } from "../app/errors.ts";
import type { MemoryBroker } from "../broker/memory/memory-broker.ts";
import type { WireMessage } from "../protocol/message.ts";
import { eventually, record, setup } from "./worker.test-helper.ts";

const failedWith = (type: string, module: string, message?: RegExp) => (error: unknown) =>
  error instanceof TaskFailedError && error.remote.type === type && error.remote.module === module && (!message || message.test(error.remote.message));

function circular(): Record<string, unknown> {
  const value: Record<string, unknown> = { name: "loop" };
  value["self"] = value;
  return value;
}

describe("messages a worker cannot run", () => {
  test("an unknown task: FAILURE NotRegistered for the caller and a dead letter; redriven once the task exists, it runs once", async () => {
    const { app, worker } = setup();
    const rejected = record(app, "task:rejected");
    await worker.start();
    const result = await app.sendTask("t.later", [2, 3]);
    await assert.rejects(result.get({ timeout: 5 }), failedWith("NotRegistered", "celery.exceptions", /^t\.later$/));
    const broker = (await app.getBroker()) as MemoryBroker;
    const letters = await broker.deadLetters.list("celery", 10);
    assert.equal(letters.length, 1);
    assert.equal(letters[0]?.code, "NOT_REGISTERED");
    assert.match(letters[0]?.reason ?? "", /task "t\.later" is not registered/);
    assert.equal(letters[0]?.message?.headers["id"], result.id);
    assert.deepEqual(rejected.map((e) => [e.id, e.code, e.requeued]), [[result.id, "NOT_REGISTERED", false]]);
    assert.equal(worker.stats.rejected, 1);

    let runs = 0;
    app.task("t.later", (x: number, y: number) => {
      runs++;
      return x + y;
    });
    assert.equal(await broker.deadLetters.redrive("celery", 10), 1);
    await eventually(async () => (await result.state()) === "SUCCESS", "SUCCESS after the redrive");
    assert.equal(await result.get({ timeout: 5 }), 5);
    assert.equal(runs, 1);
    assert.deepEqual(await broker.deadLetters.list("celery", 10), []);
  });

  test("oversized, refused and undecodable messages become dead letters with their reason; FAILURE where the id is known", async () => {
    const { app, worker } = setup({ messageMaxBytes: 1000 });
    app.task("t.victim", () => "ran");
    const rejected = record(app, "task:rejected");
    await worker.start();
    const broker = (await app.getBroker()) as MemoryBroker;
    const wire = (id: string | null, body: string, contentType: string, extra: Record<string, unknown> = {}): WireMessage => ({
      body: new TextEncoder().encode(body),
      contentType,
      contentEncoding: "utf-8",
      headers: { task: "t.victim", ...(id ? { id } : {}), ...extra },
      properties: {},
    });
    await broker.publish("celery", wire("big-1", JSON.stringify([["x".repeat(2000)], {}, {}]), "application/json"));
    await broker.publish("celery", wire("pickle-1", "\x80\x04K\x01.", "application/x-python-serialize"));
    await broker.publish("celery", wire(null, "[[], {}, {", "application/json"));
    await broker.publish("celery", wire("quiet-1", "--- [1]", "application/x-yaml", { ignore_result: true }));
    await eventually(() => rejected.length === 4, "four rejections");

    // Keyed by id: those with a FAILURE to store reach the dead letters a little later.
    const letters = new Map((await broker.deadLetters.list("celery", 10)).map((l) => [String(l.message?.headers["id"] ?? null), l]));
    assert.deepEqual(
      [...letters].map(([id, l]) => `${id} ${l.code}`).sort(),
      ["big-1 MESSAGE_TOO_LARGE", "null MALFORMED_MESSAGE", "pickle-1 CONTENT_TYPE_NOT_ALLOWED", "quiet-1 CONTENT_TYPE_NOT_ALLOWED"],
    );
    assert.match(letters.get("big-1")?.reason ?? "", /over the 1000-byte limit/);
    assert.match(letters.get("null")?.reason ?? "", /headers\.id must be a non-empty string/);
    await assert.rejects(app.asyncResult("big-1").get({ timeout: 5 }), failedWith("InvalidTaskError", "celery.exceptions", /1000-byte limit/));
    await assert.rejects(app.asyncResult("pickle-1").get({ timeout: 5 }), failedWith("ContentDisallowed", "kombu.exceptions"));
    assert.equal(await app.asyncResult("quiet-1").state(), "PENDING", "a message asking for no result got one");
    assert.equal(worker.stats.rejected, 4);
    assert.equal(worker.status, "running");
  });

  test("a task's Reject (acksLate) dead-letters its message with the task's reason", async () => {
    const { app, worker } = setup();
    let runs = 0;
    app.task(
      "t.picky",
      () => {
        runs++;
        throw new Reject("bad input: no customer");
      },
      { acksLate: true },
    );
    await worker.start();
    const sent = await app.sendTask("t.picky");
    const broker = (await app.getBroker()) as MemoryBroker;
    await eventually(async () => (await broker.deadLetters.list("celery", 10)).length === 1, "the dead letter");
    const [letter] = await broker.deadLetters.list("celery", 10);
    assert.deepEqual([letter?.code, letter?.reason, letter?.message?.headers["id"]], ["TASK_REJECTED", "bad input: no customer", sent.id]);
    assert.equal(runs, 1);
  });
});

describe("results a worker cannot store", () => {
  test("a circular result is stored as FAILURE EncodeError at once, counted and reported as a failure", async () => {
    const { app, worker } = setup();
    const failed = record(app, "task:failed");
    let runs = 0;
    // Acked early: were the failure not settled, the result would stay PENDING and get() time out
    // (redis-encode-error.test.ts shows an acksLate task is not redelivered either).
    const loop = app.task("t.loop", () => {
      runs++;
      return circular();
    });
    await worker.start();
    const result = await loop.delay();
    await assert.rejects(result.get({ timeout: 5 }), failedWith("EncodeError", "kombu.exceptions", /circular/));
    assert.deepEqual(failed.map((e) => e.error.type), ["EncodeError"]);
    assert.deepEqual([worker.stats.failed, worker.stats.succeeded], [1, 0]);
    assert.equal(runs, 1);
  });

  test("a circular result with a link callback: FAILURE EncodeError, the errback runs, the callback never does", async () => {
    const { app, worker } = setup();
    const seen: string[] = [];
    const loop = app.task("t.loop", () => circular());
    const callback = app.task("t.callback", () => void seen.push("callback"));
    const errback = app.task("t.errback", (id: string) => void seen.push(`errback ${id}`));
    await worker.start();
    const result = await loop.applyAsync([], { link: callback.s(), linkError: errback.s() });
    await assert.rejects(result.get({ timeout: 5 }), failedWith("EncodeError", "kombu.exceptions"));
    await eventually(() => seen.length === 1, "the errback");
    assert.deepEqual(seen, [`errback ${result.id}`]);
  });

  test("in eager mode too, a circular result is FAILURE EncodeError", async () => {
    const app = createApp({ readEnv: false, taskAlwaysEager: true });
    const loop = app.task("e.loop", () => circular());
    const result = await loop.delay();
    assert.equal(await result.state(), "FAILURE");
    await assert.rejects(result.get(), failedWith("EncodeError", "kombu.exceptions"));
    await app.close();
  });
});

describe("revoked tasks", () => {
  test("a task revoked while it waits for a slot is stored REVOKED and never runs", async () => {
    const { app, worker } = setup({}, { concurrency: 1 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ran: string[] = [];
    const block = app.task("t.block", async () => {
      await gate;
      ran.push("block");
    });
    const later = app.task("t.later", () => void ran.push("later"));
    await worker.start();
    const blocking = await block.delay();
    const waiting = await later.delay();
    await eventually(() => worker.stats.received === 2, "both received");
    const broker = await app.getBroker();
    const heard = new Promise<void>((resolve) => void broker.onControl?.((m) => m.arguments["task_id"] === waiting.id && resolve()));
    await waiting.revoke();
    // Listeners hear a broadcast in subscription order: once this one has, the worker's has too.
    await heard;
    release();
    await blocking.get({ timeout: 5 });
    await assert.rejects(waiting.get({ timeout: 5 }), (error: unknown) => error instanceof TaskFailedError && error.state === "REVOKED");
    assert.deepEqual(ran, ["block"]);
  });
});
