// Tests signature.ts: Celery's signature dict in both directions, tolerant of missing and extra keys.

import { test } from "node:test";
import assert from "node:assert/strict";
import { signature, signatureFromWire, signatureToWire } from "./signature.ts";
import { ProtocolError } from "../util/errors.ts";
import { loadFixture, type Json } from "./fixtures.test-helper.ts";

test("signature() builds a plain mutable call", () => {
  assert.deepEqual(signature("interop.add", [10]), {
    task: "interop.add", args: [10], kwargs: {}, options: {}, immutable: false, subtaskType: null,
  });
});

test("round-trips the chain signatures Celery sent (chain-3)", () => {
  const entry = (loadFixture("redis-broker/chain-3.json").entries as Json[])[0] as Json;
  const chain = (((entry.decoded as Json).body as unknown[])[2] as Json).chain as Json[];
  for (const dict of chain) {
    const sig = signatureFromWire(dict);
    assert.equal(sig.task, "interop.add");
    assert.deepEqual(signatureToWire(sig), dict);
    assert.deepEqual(Object.keys(signatureToWire(sig)), Object.keys(dict)); // Celery's key order
  }
});

test("missing fields take Celery's defaults; extra keys are ignored", () => {
  assert.deepEqual(signatureFromWire({ task: "t", args: null, chord_size: 3 }), {
    task: "t", args: [], kwargs: {}, options: {}, immutable: false, subtaskType: null,
  });
  const group = signatureFromWire({ task: "celery.group", kwargs: { tasks: [] }, subtask_type: "group", immutable: true });
  assert.equal(group.subtaskType, "group");
  assert.equal(group.immutable, true);
});

test("garbage is MALFORMED_MESSAGE naming where it was", () => {
  const bad: [unknown, RegExp][] = [
    [null, /signature must be an object/],
    [[], /signature must be an object/],
    [{ args: [] }, /signature.task/],
    [{ task: "" }, /signature.task/],
    [{ task: "t", args: "x" }, /signature.args/],
    [{ task: "t", kwargs: [] }, /signature.kwargs/],
    [{ task: "t", options: 1 }, /signature.options/],
    [{ task: "t", subtask_type: 5 }, /signature.subtask_type/],
  ];
  for (const [value, reason] of bad) {
    assert.throws(
      () => signatureFromWire(value),
      (err: unknown) => err instanceof ProtocolError && err.code === "MALFORMED_MESSAGE" && reason.test(err.message),
    );
  }
  assert.throws(() => signatureFromWire(1, "embed.chord"), /embed\.chord must be an object/);
});
