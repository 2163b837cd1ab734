// Tests result-meta.ts against every result meta a Celery 5.2.6 worker stored or published, plus the
// JS error -> Python exception mapping and its size bounds.

import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeResultMeta, encodeResultMeta, errorInfoFrom, tracebackFrom } from "./result-meta.ts";
import type { ResultRecord } from "./result.ts";
import { ConnectionError, ProtocolError } from "../util/errors.ts";
import { epochMs, loadFixture, resultMetaFixtures, type Json } from "./fixtures.test-helper.ts";

const METAS = resultMetaFixtures();

test("the fixtures hold every stored and published result meta", () => {
  assert.ok(METAS.length >= 40, `only ${METAS.length} metas found`);
  const states = new Set(METAS.map((m) => (JSON.parse(m.raw) as Json).status));
  assert.deepEqual([...states].sort(), ["FAILURE", "RETRY", "REVOKED", "STARTED", "SUCCESS"]);
});

/** Celery writes microseconds; a Date keeps milliseconds: the only documented difference. */
function toMillisecondPrecision(meta: Json): Json {
  const date = meta.date_done;
  return typeof date === "string" ? { ...meta, date_done: date.replace(/(\.\d{3})\d{3}$/, "$1000") } : meta;
}

for (const fx of METAS) {
  test(`decodes ${fx.source}`, () => {
    const meta = JSON.parse(fx.raw) as Json;
    const record = decodeResultMeta(meta);
    assert.equal(record.taskId, meta.task_id);
    assert.equal(record.state, meta.status);
    assert.equal(record.traceback, meta.traceback);
    assert.equal(record.dateDone?.getTime() ?? null, meta.date_done === null ? null : epochMs(meta.date_done as string));
    assert.deepEqual(record.children, (meta.children as [[string, null], null][]).map((c) => c[0][0]));
    assert.equal(record.parentId, meta.parent_id);
    assert.equal(record.groupId, meta.group_id);
    const result = meta.result as Json | null;
    if (result !== null && typeof result === "object" && "exc_type" in result) {
      assert.deepEqual(record.error, {
        type: result.exc_type,
        message: (result.exc_message as string[])[0],
        module: result.exc_module,
      });
      assert.equal(record.value, null);
    } else {
      assert.equal(record.error, null);
      assert.deepEqual(record.value, result);
    }
    if ("worker" in meta) {
      assert.deepEqual(record.extended, {
        name: meta.name, args: meta.args, kwargs: meta.kwargs, worker: meta.worker, retries: meta.retries, queue: meta.queue,
      });
    } else {
      assert.equal(record.extended, undefined);
    }
  });

  test(`re-encodes ${fx.source} as Celery wrote it`, () => {
    const meta = JSON.parse(fx.raw) as Json;
    const again = encodeResultMeta(decodeResultMeta(meta));
    assert.deepEqual(Object.keys(again), Object.keys(meta)); // key order too
    assert.deepEqual(again, toMillisecondPrecision(meta));
  });
}

test("failure and revoked metas carry Celery's exception dicts", () => {
  const entry = (loadFixture("redis-backend/failure-valueerror.json").backend_entries as Json[])[0];
  const failure = decodeResultMeta(JSON.parse(entry?.raw as string));
  assert.deepEqual(failure.error, { type: "ValueError", message: "boom", module: "builtins" });
  assert.match(failure.traceback ?? "", /ValueError: boom\n$/);

  const chord = METAS.map((m) => decodeResultMeta(JSON.parse(m.raw))).find((r) => r.error?.type === "ChordError");
  assert.equal(chord?.error?.module, "celery.exceptions");
  assert.match(chord?.error?.message ?? "", /^Dependency .* raised ValueError\('chord-boom'\)$/);
  const revoked = METAS.map((m) => decodeResultMeta(JSON.parse(m.raw))).find((r) => r.state === "REVOKED");
  assert.deepEqual(revoked?.error, { type: "TaskRevokedError", message: "expired", module: "celery.exceptions" });
});

test("rpc:// replies (no date_done) decode too", () => {
  const replies = (loadFixture("amqp/rpc-replies.json").messages as Json[]).map((m) => decodeResultMeta(m.body_decoded));
  assert.deepEqual(replies.map((r) => [r.state, r.value, r.error?.type ?? null, r.dateDone]), [
    ["SUCCESS", 5, null, null],
    ["FAILURE", null, "ValueError", null],
  ]);
});

test("decoding is tolerant of other writers' shapes", () => {
  const record = decodeResultMeta(
    {
      status: "FAILURE",
      result: { exc_type: "KeyError", exc_message: "missing", exc_module: null },
      children: ["plain-id", ["pair-id", null], [["g", null], [[["m1", null], null], [["m2", null], null]]], 42],
      date_done: "2026-11-21T19:27:35.369764+02:00",
    },
    "from-key",
  );
  assert.equal(record.taskId, "from-key");
  assert.deepEqual(record.error, { type: "KeyError", message: "missing", module: "" });
  assert.deepEqual(record.children, ["plain-id", "pair-id", "m1", "m2"]);
  assert.equal(record.dateDone?.toISOString(), "2026-11-21T17:27:35.369Z");
  assert.equal(record.traceback, null);
  assert.equal(encodeResultMeta(record).result && (encodeResultMeta(record).result as Json).exc_module, null);

  const multi = decodeResultMeta({ status: "FAILURE", task_id: "t", result: { exc_type: "E", exc_message: ["a", 1] } });
  assert.deepEqual(multi.error, { type: "E", message: "('a', 1)", module: "", args: ["a", 1] });
  assert.deepEqual((encodeResultMeta(multi).result as Json).exc_message, ["a", 1]);

  const odd = decodeResultMeta({ status: "FAILURE", task_id: "t", result: "it broke" });
  assert.deepEqual(odd.error, { type: "Exception", message: "it broke", module: "builtins" });
  const retry = decodeResultMeta({ status: "RETRY", task_id: "t", result: null });
  assert.equal(retry.error, null);
});

test("decoding refuses what is not a result meta", () => {
  const isMalformed = (err: unknown) => err instanceof ProtocolError && err.code === "MALFORMED_MESSAGE";
  assert.throws(() => decodeResultMeta(null), isMalformed);
  assert.throws(() => decodeResultMeta([]), isMalformed);
  assert.throws(() => decodeResultMeta({ result: 1, task_id: "t" }), isMalformed);
  assert.throws(() => decodeResultMeta({ status: "SUCCESS" }), isMalformed);
});

test("encode writes group_id/parent_id only when set, in Celery's key order", () => {
  const record: ResultRecord = {
    taskId: "t", state: "SUCCESS", value: 1, error: null, traceback: null, children: ["c"],
    dateDone: new Date(Date.UTC(2026, 10, 21, 19, 27, 35, 5)), groupId: "g", parentId: "p",
  };
  const meta = encodeResultMeta(record);
  assert.deepEqual(Object.keys(meta), ["status", "result", "traceback", "children", "date_done", "group_id", "parent_id", "task_id"]);
  assert.equal(meta.date_done, "2026-11-21T19:27:35.005000");
  assert.deepEqual(meta.children, [[["c", null], null]]);
  assert.deepEqual(Object.keys(encodeResultMeta({ ...record, groupId: null, parentId: undefined })), [
    "status", "result", "traceback", "children", "date_done", "task_id",
  ]);
});

test("errorInfoFrom maps JS errors to exceptions a Python client can raise", () => {
  const cases: [unknown, string, string][] = [
    [new Error("x"), "Exception", "builtins"],
    [new TypeError("x"), "TypeError", "builtins"],
    [new RangeError("x"), "ValueError", "builtins"],
    [new ReferenceError("x"), "NameError", "builtins"],
    [new SyntaxError("x"), "SyntaxError", "builtins"],
    [new URIError("x"), "ValueError", "builtins"],
    [new DOMException("x", "TimeoutError"), "TimeoutError", "builtins"],
    [new DOMException("x", "AbortError"), "AbortError", "celeriac.exceptions"],
    [new ConnectionError("x"), "ConnectionError", "builtins"],
    [Object.assign(new Error("connect ECONNREFUSED"), { syscall: "connect", code: "ECONNREFUSED" }), "OSError", "builtins"],
    [Object.assign(new Error("x"), { name: "ChordError" }), "ChordError", "celery.exceptions"],
    [Object.assign(new Error("x"), { name: "SystemExit" }), "SystemExit", "celeriac.exceptions"],
    [Object.assign(new Error("x"), { name: "Weird Name!" }), "Weird_Name_", "celeriac.exceptions"],
    [Object.assign(new Error("x"), { name: "" }), "Exception", "builtins"],
    ["just a string", "Exception", "builtins"],
  ];
  for (const [thrown, type, module] of cases) {
    const info = errorInfoFrom(thrown);
    assert.equal(info.type, type, String(thrown));
    assert.equal(info.module, module, String(thrown));
  }
  assert.equal(errorInfoFrom(new Error("boom")).message, "boom");
  assert.equal(errorInfoFrom({ code: 7 }).message, "{'code': 7}");
  const overflow = (() => {
    const f = (): number => f() + 1;
    try { return f(); } catch (err) { return err; }
  })();
  assert.equal(errorInfoFrom(overflow).type, "RecursionError");
});

test("failure records are bounded", () => {
  const huge = new Error("é".repeat(10_000));
  huge.name = "N".repeat(500);
  const info = errorInfoFrom(huge);
  assert.equal(info.type.length, 200);
  assert.ok(Buffer.byteLength(info.message) <= 4096, "Buffer.byteLength(info.message) <= 4096");
  assert.match(info.message, /…\[truncated \d+ bytes\]$/);
  const traceback = tracebackFrom(huge);
  assert.ok(traceback !== null && Buffer.byteLength(traceback) <= 16 * 1024, "traceback !== null && Buffer.byteLength(traceback) <= 16 * 1024");
  assert.match(traceback, /…\[truncated \d+ bytes\]$/);
});

test("tracebackFrom gives the stack and its causes, null for non-errors", () => {
  const root = new Error("root cause");
  const err = new Error("outer", { cause: root });
  const text = tracebackFrom(err);
  assert.match(text ?? "", /^Error: outer\n {4}at /);
  assert.match(text ?? "", /\nCaused by: Error: root cause\n/);
  assert.equal(tracebackFrom("nope"), null);
  const loop = new Error("a");
  (loop as { cause?: unknown }).cause = loop;
  assert.doesNotMatch(tracebackFrom(loop) ?? "", /Caused by/);
});
