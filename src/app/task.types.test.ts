// Compile-time tests of the public API's types: `npm run typecheck` fails if a @ts-expect-error line
// stops being an error, so these prove that bad calls do not compile. The runtime part checks inference.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import type { AsyncResult } from "./result.ts";

test("task argument and result types are inferred from the function", async () => {
  const app = createApp({ readEnv: false, taskAlwaysEager: true });
  const add = app.task("types.add", (x: number, y: number) => x + y);
  const greet = app.task("types.greet", async (ctx, name: string) => `hello ${name} from ${ctx.request.id.length > 0 ? "a task" : "?"}`, { bind: true });

  // @ts-expect-error a string where a number is expected
  void (() => add.delay("a", 2));
  // @ts-expect-error too few arguments
  void (() => add.delay(1));
  // @ts-expect-error the bound context is not an argument callers pass
  void (() => greet.delay({} as never, "x"));
  // @ts-expect-error applyAsync takes the arguments as a tuple of the right types
  void (() => add.applyAsync(["1", 2]));
  // @ts-expect-error unknown call option
  void (() => add.applyAsync([1, 2], { countdwn: 5 }));

  const sum: AsyncResult<number> = await add.delay(2, 3);
  const total: number = await sum.get();
  const text: string = await (await greet.delay("ada")).get();
  assert.equal(total, 5);
  assert.equal(text, "hello ada from a task");
});

test("an unknown task option fails at definition, naming the nearest one", () => {
  const app = createApp({ readEnv: false });
  assert.throws(() => app.task("types.bad", () => 1, { maxRetry: 3 } as never), /task "types.bad": unknown option "maxRetry" \(did you mean "maxRetries"\?\)/);
  assert.throws(() => app.task("types.bad2", () => 1, { rateLimit: "10/day" }), /rate limit "10\/day" is not of the form/);
  assert.throws(() => app.task("types.bad3", () => 1, { serializer: "pickle" as never }), /must be "json" or "msgpack"/);
});
