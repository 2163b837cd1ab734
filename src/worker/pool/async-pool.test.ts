import { test } from "node:test";
import assert from "node:assert/strict";
import { AsyncPool } from "./async-pool.ts";

test("the pool grants at most `concurrency` slots and hands freed ones on in arrival order", async () => {
  const pool = new AsyncPool(2);
  const first = await pool.acquire();
  const second = await pool.acquire();
  const order: string[] = [];
  const third = pool.acquire().then((release) => (order.push("third"), release));
  const fourth = pool.acquire().then((release) => (order.push("fourth"), release));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(order, []);
  assert.equal(pool.active, 2);
  first();
  first(); // releasing twice frees one slot only
  (await third)();
  second();
  (await fourth)();
  assert.deepEqual(order, ["third", "fourth"]);
  assert.equal(pool.active, 0);
});

test("stopping refuses every waiter and every later acquire", async () => {
  const stop = new AbortController();
  const pool = new AsyncPool(1, stop.signal);
  await pool.acquire();
  const waiting = [pool.acquire(), pool.acquire()];
  stop.abort(new Error("stopping"));
  for (const w of waiting) await assert.rejects(w, /stopping/);
  await assert.rejects(pool.acquire(), /stopping/);
});

test("tryAcquire takes a free slot without a promise, and gives null when none is free", () => {
  const stop = new AbortController();
  const pool = new AsyncPool(1, stop.signal);
  const release = pool.tryAcquire();
  assert.ok(release, "release");
  assert.equal(pool.tryAcquire(), null);
  release();
  assert.equal(pool.active, 0);
  stop.abort(new Error("stopping"));
  assert.equal(pool.tryAcquire(), null);
});
