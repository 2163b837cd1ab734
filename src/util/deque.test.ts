import { test } from "node:test";
import assert from "node:assert/strict";
import { Deque } from "./deque.ts";

test("deque keeps FIFO order across growth and wrap-around", () => {
  const q = new Deque<number>();
  for (let i = 0; i < 10; i++) q.push(i);
  for (let i = 0; i < 5; i++) assert.equal(q.shift(), i);
  for (let i = 10; i < 40; i++) q.push(i);
  const out: number[] = [];
  while (q.length) out.push(q.shift() as number);
  assert.deepEqual(out, Array.from({ length: 35 }, (_, i) => i + 5));
  assert.equal(q.shift(), undefined);
});

test("deque unshift puts an item back at the front", () => {
  const q = new Deque<string>();
  q.push("b");
  q.push("c");
  q.unshift("a");
  assert.equal(q.length, 3);
  assert.deepEqual([q.shift(), q.shift(), q.shift()], ["a", "b", "c"]);
  q.push("x");
  assert.equal(q.clear(), 1);
  assert.equal(q.length, 0);
});

test("deque peek reads the front items without removing them, across wrap-around", () => {
  const q = new Deque<number>();
  for (let i = 0; i < 14; i++) q.push(i);
  for (let i = 0; i < 10; i++) q.shift();
  for (let i = 14; i < 20; i++) q.push(i);
  assert.deepEqual(q.peek(3), [10, 11, 12]);
  assert.deepEqual(q.peek(100), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  assert.equal(q.length, 10);
});
