import { test } from "node:test";
import assert from "node:assert/strict";
import { exponentialBackoff, reconnectDelayMs } from "./backoff.ts";

test("exponential backoff doubles per retry and stops at the maximum", () => {
  assert.deepEqual([0, 1, 2, 3, 4].map((r) => exponentialBackoff(1, r, 600, false)), [1, 2, 4, 8, 16]);
  assert.equal(exponentialBackoff(2, 3, 600, false), 16);
  assert.equal(exponentialBackoff(1, 20, 600, false), 600);
  assert.equal(exponentialBackoff(5, 10, 60, false), 60);
});

test("full jitter draws a whole number from 0 to the countdown inclusive", () => {
  assert.equal(exponentialBackoff(1, 3, 600, true, () => 0), 0);
  assert.equal(exponentialBackoff(1, 3, 600, true, () => 0.9999), 8);
  assert.equal(exponentialBackoff(1, 3, 600, true, () => 0.5), 4);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const value = exponentialBackoff(1, 2, 600, true);
    assert.ok(Number.isInteger(value) && value >= 0 && value <= 4, `out of range: ${value}`);
    seen.add(value);
  }
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
});

test("reconnect delays double from 100 ms and are capped", () => {
  assert.deepEqual([1, 2, 3, 4].map((a) => reconnectDelayMs(a)), [100, 200, 400, 800]);
  assert.equal(reconnectDelayMs(30), 10_000);
  assert.equal(reconnectDelayMs(30, 2000), 2000);
});
