// "Did you mean": the nearest known name within a third of its length, and no quadratic cost on a huge name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { didYouMean, nearest } from "./suggest.ts";

test("the nearest known name, when it is close enough", () => {
  assert.equal(nearest("maxRetry", ["maxRetries", "queue"]), "maxRetries");
  assert.equal(nearest("tasks.ad", ["tasks.add", "tasks.mul"]), "tasks.add");
  assert.equal(nearest("completely.different", ["tasks.add"]), null);
  assert.equal(didYouMean("workerConcurency", ["workerConcurrency"]), ' (did you mean "workerConcurrency"?)');
  assert.equal(didYouMean("x", []), "");
});

test("a candidate too far by length does not hide a close one", () => {
  // "abcdefgh" is 3 edits away but may be only 2 (a third of its length); the other is 4 of its 5.
  assert.equal(nearest("abcdefghijk", ["abcdefgh", "abcdefghijkwxyz"]), "abcdefghijkwxyz");
});

// A message may name a task of any length: before, each unknown name cost length x length per
// registered task (a 1 MB name against 100 tasks: ~20 s of a blocked worker, per message).
test("a 1 MB unknown name among 100 registered ones gets no hint, without a quadratic scan", () => {
  const known = Array.from({ length: 100 }, (_, i) => `proj.tasks.task_number_${i}`);
  const started = performance.now();
  assert.equal(nearest("x".repeat(1 << 20), known), null);
  // A liveness bound, not a speed target: the quadratic scan takes seconds even on a fast machine.
  assert.ok(performance.now() - started < 5000, "nearest() scanned the whole name against every task");
});
