// The result backend conformance suite: one spec of the ResultBackend contract, run against every
// implementation on its real server (and a third party's through `celeriac/testing`, see
// docs/plugins.md). A backend is done when it passes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { ResultBackend } from "../backend/backend.ts";
import type { ResultRecord } from "../protocol/result.ts";
import { TimeoutError } from "../util/errors.ts";
import { delay } from "./fixtures.ts";

export interface BackendSpecOptions {
  /** A new, unconnected backend; several may be alive at once (they must share the same store). */
  create: () => ResultBackend | Promise<ResultBackend>;
  /** Backends that only deliver results to the process that sent the task (rpc://) skip cross-client reads. */
  sharedReads?: boolean;
}

function record(overrides: Partial<ResultRecord> = {}): ResultRecord {
  return {
    taskId: randomUUID(),
    state: "SUCCESS",
    value: { sum: 5, list: [1, "two", null], nested: { ok: true } },
    error: null,
    traceback: null,
    children: [],
    dateDone: new Date(Math.floor(Date.now() / 1000) * 1000),
    ...overrides,
  };
}

export function describeBackendConformance(name: string, options: BackendSpecOptions): void {
  describe(`backend conformance: ${name}`, () => {
    let backend: ResultBackend;

    before(async () => {
      backend = await options.create();
      await backend.connect();
    });

    after(async () => {
      await backend.close();
    });

    test("a stored success reads back with its value, state and date", async () => {
      const stored = record({ parentId: "p-1", groupId: null });
      await backend.store(stored);
      const got = await backend.get(stored.taskId);
      assert.ok(got, "got");
      assert.equal(got.taskId, stored.taskId);
      assert.equal(got.state, "SUCCESS");
      assert.deepEqual(got.value, stored.value);
      assert.equal(got.error, null);
      assert.equal(got.dateDone?.getTime(), stored.dateDone?.getTime());
    });

    test("an unknown task reads as null (PENDING)", async () => {
      assert.equal(await backend.get(randomUUID()), null);
    });

    test("a failure keeps the error's type, message and traceback", async () => {
      const stored = record({
        state: "FAILURE",
        value: null,
        error: { type: "ValueError", message: "boom", module: "builtins" },
        traceback: "Traceback (most recent call last):\n  boom",
      });
      await backend.store(stored);
      const got = await backend.get(stored.taskId);
      assert.equal(got?.state, "FAILURE");
      assert.equal(got?.error?.type, "ValueError");
      assert.equal(got?.error?.message, "boom");
      assert.equal(got?.traceback, stored.traceback);
    });

    test("a later state replaces an earlier one; children are kept", async () => {
      const id = randomUUID();
      await backend.store(record({ taskId: id, state: "STARTED", value: { pid: 1, hostname: "h" }, dateDone: null }));
      assert.equal((await backend.get(id))?.state, "STARTED");
      await backend.store(record({ taskId: id, value: 42, children: ["child-1", "child-2"] }));
      const got = await backend.get(id);
      assert.equal(got?.state, "SUCCESS");
      assert.equal(got?.value, 42);
      assert.deepEqual(got?.children, ["child-1", "child-2"]);
    });

    test("waitForReady resolves when the result arrives later, ignoring non-ready states", async () => {
      const id = randomUUID();
      const waiting = backend.waitForReady(id, { timeoutMs: 5000 });
      await delay(50);
      await backend.store(record({ taskId: id, state: "PROGRESS", value: { done: 1 }, dateDone: null }));
      await delay(50);
      await backend.store(record({ taskId: id, value: "finally" }));
      const got = await waiting;
      assert.equal(got.state, "SUCCESS");
      assert.equal(got.value, "finally");
    });

    test("waitForReady resolves at once for a result already stored", async () => {
      const stored = record({ value: "already" });
      await backend.store(stored);
      const got = await backend.waitForReady(stored.taskId, { timeoutMs: 2000 });
      assert.equal(got.value, "already");
    });

    test("waitForReady rejects with TimeoutError when nothing comes", async () => {
      const started = Date.now();
      await assert.rejects(backend.waitForReady(randomUUID(), { timeoutMs: 150 }), TimeoutError);
      assert.ok(Date.now() - started >= 140, "Date.now() - started >= 140");
    });

    test("many concurrent waiters each get their own result", async () => {
      const ids = Array.from({ length: 50 }, () => randomUUID());
      const waits = ids.map((id) => backend.waitForReady(id, { timeoutMs: 5000 }));
      if (backend.storeMany) await backend.storeMany(ids.map((id, i) => record({ taskId: id, value: i })));
      else await Promise.all(ids.map((id, i) => backend.store(record({ taskId: id, value: i }))));
      const got = await Promise.all(waits);
      assert.deepEqual(got.map((r) => r.value), ids.map((_, i) => i));
    });

    test("forget removes a result", async () => {
      const stored = record();
      await backend.store(stored);
      await backend.forget(stored.taskId);
      assert.equal(await backend.get(stored.taskId), null);
    });

    test("extended fields survive when present", async () => {
      const stored = record({
        extended: { name: "interop.add", args: [2, 3], kwargs: { z: 1 }, worker: "w@h", retries: 1, queue: "celery" },
      });
      await backend.store(stored);
      const got = await backend.get(stored.taskId);
      assert.deepEqual(got?.extended, stored.extended);
    });
  });
}
