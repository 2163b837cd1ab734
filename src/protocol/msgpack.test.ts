// Tests msgpack.ts: bin <-> Uint8Array, exact 64-bit integers both ways, dates as ISO strings.

import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMsgpack, encodeMsgpack } from "./msgpack.ts";
import { ProtocolError } from "../util/errors.ts";

const encodeError = (err: unknown) => err instanceof ProtocolError && err.code === "ENCODE_ERROR";
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

test("round-trips ordinary values", () => {
  const value = [[1, -1, 2.5, "Zoë ☃ 🎉", null, true], { a: { b: [] } }, { callbacks: null }];
  assert.deepEqual(decodeMsgpack(encodeMsgpack(value)), value);
});

test("bytes travel as bin and come back as plain Uint8Array", () => {
  const packed = encodeMsgpack([Buffer.from([0, 1, 0xff]), new Uint8Array([2]).buffer]);
  assert.equal(hex(packed), "92c4030001ffc40102"); // bin 8 = what Python packb(use_bin_type=True) writes
  const decoded = decodeMsgpack(Buffer.from(packed)) as Uint8Array[];
  assert.equal(Object.getPrototypeOf(decoded[0]), Uint8Array.prototype);
  assert.deepEqual(decoded, [new Uint8Array([0, 1, 0xff]), new Uint8Array([2])]);
});

test("integers above 32 bits stay integers, as Python packs them", () => {
  // Python: packb(5000000000) == b'\xcf\x00\x00\x00\x01\x2a\x05\xf2\x00'
  assert.equal(hex(encodeMsgpack(5_000_000_000)), "cf000000012a05f200");
  assert.equal(decodeMsgpack(Buffer.from("cf000000012a05f200", "hex")), 5_000_000_000);
  assert.equal(decodeMsgpack(Buffer.from("d3fffffffed5fa0e00", "hex")), -5_000_000_000);
  // With an unsafe BigInt present the other integers must still not turn into floats.
  const mixed = encodeMsgpack([5_000_000_000, 2n ** 63n, -(2n ** 63n), 1.5]);
  assert.equal(hex(mixed), "94cf000000012a05f200cf8000000000000000d38000000000000000cb3ff8000000000000");
  assert.deepEqual(decodeMsgpack(mixed), [5_000_000_000, 2n ** 63n, -(2n ** 63n), 1.5]);
});

test("integers beyond 2^53 decode as exact BigInt", () => {
  assert.equal(decodeMsgpack(Buffer.from("cf0020000000000001", "hex")), 9007199254740993n);
  assert.equal(decodeMsgpack(Buffer.from("cfffffffffffffffff", "hex")), 2n ** 64n - 1n);
  assert.deepEqual(decodeMsgpack(encodeMsgpack({ big: 9007199254740993n, small: 7n })), { big: 9007199254740993n, small: 7 });
});

test("BigInts beyond 64 bits, Map and Set are refused", () => {
  assert.throws(() => encodeMsgpack([2n ** 64n]), encodeError);
  assert.throws(() => encodeMsgpack([-(2n ** 63n) - 1n]), encodeError);
  assert.throws(() => encodeMsgpack({ m: new Map() }), encodeError);
  assert.throws(() => encodeMsgpack([new Set()]), encodeError);
  assert.throws(() => encodeMsgpack([() => 1]), encodeError);
  const loop: unknown[] = [];
  loop.push(loop);
  assert.throws(() => encodeMsgpack(loop), encodeError);
});

test("dates become kombu ISO strings; undefined members are dropped like JSON", () => {
  const input = { at: new Date("2030-01-02T03:04:05.6Z"), gone: undefined, list: [new Date("2030-01-02T00:00:00Z")] };
  assert.deepEqual(decodeMsgpack(encodeMsgpack(input)), {
    at: "2030-01-02T03:04:05.600000Z",
    list: ["2030-01-02T00:00:00Z"],
  });
  assert.ok(input.at instanceof Date, "the caller's value is not modified");
});

test("malformed msgpack throws", () => {
  assert.throws(() => decodeMsgpack(Buffer.from("92c4", "hex")));
  assert.throws(() => decodeMsgpack(Buffer.from("9101", "hex").subarray(0, 1)));
});
