// Tests json.ts: kombu-compatible encoding (dates, bytes, BigInt) and exact decoding of big integers.

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseJson, stringifyJson } from "./json.ts";
import { ProtocolError } from "../util/errors.ts";

const encodeError = (err: unknown) => err instanceof ProtocolError && err.code === "ENCODE_ERROR";

test("plain data encodes exactly as JSON.stringify", () => {
  const value = { a: [1, 2.5, null, true, "x\u2603\n"], b: { c: {} }, d: undefined, e: [undefined] };
  assert.equal(stringifyJson(value), JSON.stringify(value));
  assert.equal(stringifyJson(Object.create(null) as object), "{}");
});

test("dates are written like kombu's JSONEncoder (isoformat, +00:00 -> Z)", () => {
  // The fixture echo-json-special-types shows "2030-01-02T03:04:05Z" and "...05.600000" for Python datetimes.
  assert.equal(stringifyJson([new Date("2030-01-02T03:04:05Z")]), '["2030-01-02T03:04:05Z"]');
  assert.equal(stringifyJson({ at: new Date("2030-01-02T03:04:05.6Z") }), '{"at":"2030-01-02T03:04:05.600000Z"}');
  assert.throws(() => stringifyJson([new Date(NaN)]), encodeError);
});

test("BigInt becomes an exact integer literal", () => {
  assert.equal(stringifyJson({ big: 9007199254740993n, neg: -(2n ** 70n), n: 1 }), `{"big":9007199254740993,"neg":-${2n ** 70n},"n":1}`);
  assert.equal(stringifyJson(5n), "5");
  // A user string that merely looks like a number stays a string.
  assert.equal(stringifyJson(["9007199254740993", 1n]), '["9007199254740993",1]');
});

test("bytes, Map and Set are refused like kombu's EncodeError", () => {
  for (const value of [new Uint8Array([1]), Buffer.from("x"), new ArrayBuffer(2), new Float32Array(1), new Map(), new Set([1])]) {
    assert.throws(() => stringifyJson({ nested: [value] }), encodeError);
  }
  assert.throws(() => stringifyJson(Buffer.from("x")), /bytes cannot be sent as JSON/);
});

test("cycles, undefined and functions at the top are ENCODE_ERROR", () => {
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  assert.throws(() => stringifyJson(loop), encodeError);
  assert.throws(() => stringifyJson(undefined), encodeError);
  assert.throws(() => stringifyJson(() => 1), encodeError);
  class Point { constructor(public x: number) {} }
  assert.equal(stringifyJson([new Point(1)]), '[{"x":1}]');
});

test("integers beyond 2^53 decode exactly, everything else as JSON.parse", () => {
  assert.deepEqual(parseJson('{"big": 9007199254740993, "neg": -9007199254740993, "edge": 9007199254740991}'), {
    big: 9007199254740993n,
    neg: -9007199254740993n,
    edge: 9007199254740991,
  });
  assert.deepEqual(parseJson("[18446744073709551615, 1.2345678901234567, 1e400, -0]"), [
    18446744073709551615n,
    1.2345678901234567,
    Infinity,
    -0,
  ]);
  assert.deepEqual(parseJson('["1234567890123456789", "\\u00eb\\ud83c\\udf89", "a\\"b"]'), ["1234567890123456789", "ë🎉", 'a"b']);
});

test("the precise path agrees with JSON.parse on random documents", () => {
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const gen = (depth: number): unknown => {
    const r = rand();
    if (depth > 3 || r < 0.3) {
      const leaves = [null, true, false, Math.floor(rand() * 1e9) - 5e8, rand() * 1e6, "s\u00e9\n\"\\\u0001" + rand(), ""];
      return leaves[Math.floor(rand() * leaves.length)];
    }
    if (r < 0.65) return Array.from({ length: Math.floor(rand() * 4) }, () => gen(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, (_, i) => [`k${i}\u2603`, gen(depth + 1)]));
  };
  for (let i = 0; i < 300; i++) {
    // The 16-digit string forces the precise parser.
    const text = JSON.stringify([gen(0), "1234567890123456"], null, i % 2 === 0 ? 0 : 2);
    assert.deepEqual(parseJson(text), JSON.parse(text));
  }
});

test("__proto__ keys stay own properties", () => {
  const value = parseJson('{"__proto__": {"polluted": 1}, "n": 12345678901234567890}') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.deepEqual(Object.keys(value), ["__proto__", "n"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("Python's NaN and Infinity literals are accepted", () => {
  assert.deepEqual(parseJson("[NaN, Infinity, -Infinity, 1]"), [NaN, Infinity, -Infinity, 1]);
});

test("invalid JSON throws SyntaxError on both paths", () => {
  for (const text of ["", "[1,", '{"a" 1}', "[1] x", "[01]", "tru", '"\u0001"', "[9007199254740993,]", '{"a":1,}']) {
    assert.throws(() => parseJson(text), SyntaxError, JSON.stringify(text));
  }
});
