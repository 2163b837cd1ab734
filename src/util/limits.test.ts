// Tests limits.ts: UTF-8 truncation that never exceeds the cap and never splits a character.

import { test } from "node:test";
import assert from "node:assert/strict";
import { truncateUtf8 } from "./limits.ts";

test("short text is returned as is", () => {
  assert.equal(truncateUtf8("hello", 10), "hello");
  assert.equal(truncateUtf8("ééééé", 10), "ééééé"); // exactly 10 bytes
});

test("long text is cut to the byte cap, marker included", () => {
  for (const [text, cap] of [["x".repeat(5000), 4096], ["é".repeat(3000), 4096], ["🎉".repeat(3000), 100], ["a🎉".repeat(50), 40]] as const) {
    const out = truncateUtf8(text, cap);
    assert.ok(Buffer.byteLength(out) <= cap, `${out.length} chars over ${cap} bytes`);
    assert.match(out, /…\[truncated \d+ bytes\]$/);
    assert.ok(!out.includes("\ufffd"), "no split character");
    const kept = out.slice(0, out.indexOf("…["));
    const omitted = Number(/truncated (\d+) bytes/.exec(out)?.[1]);
    assert.equal(Buffer.byteLength(kept) + omitted, Buffer.byteLength(text));
  }
});
