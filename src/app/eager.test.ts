// Eager mode, as users' unit tests use it: delay() runs inline and returns a ready result.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { TaskFailedError } from "./errors.ts";

test("in eager mode delay() runs the task inline and the result is ready", async () => {
  const app = createApp({ readEnv: false, taskAlwaysEager: true, brokerUrl: "redis://unreachable.invalid:1/0" });
  const add = app.task("e.add", (x: number, y: number) => x + y);
  const result = await add.delay(2, 3);
  assert.equal(await result.ready(), true);
  assert.equal(await result.state(), "SUCCESS");
  assert.equal(await result.get(), 5);
});

test("eager retries run again at once until they succeed", async () => {
  const app = createApp({ readEnv: false, taskAlwaysEager: true });
  class Flaky extends Error {}
  const task = app.task(
    "e.flaky",
    (ctx) => {
      if (ctx.request.retries < 2) throw new Flaky("again");
      return `ok after ${ctx.request.retries} retries, eager=${ctx.request.isEager}`;
    },
    { bind: true, autoretryFor: [Flaky], defaultRetryDelay: 3600 },
  );
  assert.equal(await (await task.delay()).get(), "ok after 2 retries, eager=true");
});

test("eager failures are stored, or thrown with taskEagerPropagates", async () => {
  const stored = createApp({ readEnv: false, taskAlwaysEager: true });
  const failing = stored.task("e.fail", (): never => {
    throw new RangeError("out of range");
  });
  const result = await failing.delay();
  assert.equal(await result.failed(), true);
  await assert.rejects(result.get(), (e: unknown) => e instanceof TaskFailedError && e.remote.message === "out of range");

  const propagating = createApp({ readEnv: false, taskAlwaysEager: true, taskEagerPropagates: true });
  const thrower = propagating.task("e.fail", (): never => {
    throw new RangeError("out of range");
  });
  await assert.rejects(thrower.delay(), RangeError);
});
