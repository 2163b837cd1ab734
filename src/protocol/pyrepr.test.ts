// Tests pyrepr.ts against the argsrepr/kwargsrepr Celery's saferepr wrote into the fixtures.

import { test } from "node:test";
import assert from "node:assert/strict";
import { pyRepr, reprArgs, reprKwargs } from "./pyrepr.ts";
import { decodeTaskMessage } from "./celery-v2.ts";
import { taskFixtures } from "./fixtures.test-helper.ts";

// misc-options overrides argsrepr by hand; echo-json-special-types had Python objects (datetime, Decimal).
const SKIP = ["misc-options", "echo-json-special-types"];

for (const fx of taskFixtures().filter((f) => !SKIP.some((name) => f.source.includes(name)))) {
  test(`matches Celery's argsrepr and kwargsrepr for ${fx.source}`, () => {
    const msg = decodeTaskMessage(fx.wire, { accept: ["json", "msgpack"], maxBytes: 1 << 20 });
    assert.equal(reprArgs(msg.args), fx.headers.argsrepr);
    assert.equal(reprKwargs(msg.kwargs), fx.headers.kwargsrepr);
  });
}

test("Python literals and containers", () => {
  assert.equal(reprArgs([]), "()");
  assert.equal(reprArgs(["x"]), "('x',)");
  assert.equal(pyRepr([null, undefined, true, false, 1.5, NaN, -Infinity, 10n]), "[None, None, True, False, 1.5, nan, -inf, 10]");
  assert.equal(pyRepr({ "it's": new Set([1]), s: new Set(), m: new Map([[1, "a"]]) }), "{'it\\'s': {1}, 's': set(), 'm': {1: 'a'}}");
  assert.equal(pyRepr(new Uint8Array([104, 105])), "b'hi'");
  assert.equal(pyRepr([new Date("2030-01-02T03:04:05.6Z")]), "['2030-01-02T03:04:05.600000Z']");
});

test("nesting beyond three levels is elided like saferepr", () => {
  assert.equal(reprArgs([{ a: { b: [1], c: {} } }]), "({'a': {'b': [...], 'c': {...}}},)");
  const loop: unknown[] = [1];
  loop.push(loop);
  assert.equal(pyRepr(loop), "[1, <Recursion on list>]");
});

test("output is bounded and still closes its brackets", () => {
  const long = reprArgs([Array.from({ length: 1000 }, (_, i) => i)], 50);
  assert.ok(long.length < 70, long);
  assert.match(long, /^\(\[0, 1, 2, .*, \.\.\.\],\)$/);
  assert.equal(reprArgs(["x".repeat(100)], 10), "('xxxxxxxxx...',)");
});
