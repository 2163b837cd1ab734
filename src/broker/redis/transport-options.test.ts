// brokerTransportOptions for the Redis broker: kombu's timeout for kombu's shared claims is its own
// setting, checked like the rest, beside our own (shorter) brokerVisibilityTimeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRedisTransportOptions } from "./transport-options.ts";
import { ConfigError } from "../../util/errors.ts";

test("kombu's claims default to kombu's hour (ours follow brokerVisibilityTimeout, 300 s)", () => {
  assert.deepEqual(parseRedisTransportOptions(undefined), { messageFormat: "celery", kombuVisibilityTimeout: 3600, deadLetterLimit: 10_000 });
  assert.equal(parseRedisTransportOptions({ kombuVisibilityTimeout: 7200 }).kombuVisibilityTimeout, 7200);
});

test("kombuVisibilityTimeout must be a positive number of seconds; a misspelling names it", () => {
  for (const bad of [0, -1, "3600", Infinity, null]) {
    assert.throws(() => parseRedisTransportOptions({ kombuVisibilityTimeout: bad }), (error: unknown) => error instanceof ConfigError && /kombuVisibilityTimeout is .*; expected a number of seconds above 0/.test(error.message));
  }
  assert.throws(() => parseRedisTransportOptions({ kombuVisibilityTimout: 60 }), /did you mean "kombuVisibilityTimeout"/);
});
