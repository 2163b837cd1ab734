// brokerTransportOptions for the AMQP broker: defaults, accepted values, and errors that name the key,
// the expected form and, for a misspelt key, the nearest known one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_TRANSPORT_OPTIONS, parseTransportOptions } from "./transport-options.ts";
import { ConfigError } from "../../util/errors.ts";

const fails = (raw: Record<string, unknown>, pattern: RegExp): void => {
  assert.throws(() => parseTransportOptions(raw), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
};

test("no options (or {}) gives Celery's defaults: classic queues without x-arguments", () => {
  assert.deepEqual(parseTransportOptions(undefined), DEFAULT_TRANSPORT_OPTIONS);
  assert.deepEqual(parseTransportOptions({}), {
    maxPriority: null, queueType: "classic", deliveryLimit: null, deadLetterExchange: null, deadLetterQueue: null,
    delayNamespace: "celeriac.delay", connectionName: null,
  });
  assert.ok(Object.isFrozen(parseTransportOptions({})), "Object.isFrozen(parseTransportOptions({}))");
});

test("every key is read over the defaults; undefined counts as not set", () => {
  const options = parseTransportOptions({
    queueType: "quorum", deliveryLimit: 5, deadLetterExchange: "dlx", deadLetterQueue: "dlq", delayNamespace: "app.delay", connectionName: "billing-worker", maxPriority: undefined,
  });
  assert.deepEqual(options, {
    maxPriority: null, queueType: "quorum", deliveryLimit: 5, deadLetterExchange: "dlx", deadLetterQueue: "dlq", delayNamespace: "app.delay", connectionName: "billing-worker",
  });
  assert.equal(parseTransportOptions({ maxPriority: 10 }).maxPriority, 10);
  assert.equal(parseTransportOptions({ maxPriority: null }).maxPriority, null);
});

test("an unknown key fails naming the nearest known key, including Celery's snake_case spelling", () => {
  fails({ maxPriorty: 10 }, /unknown key "maxPriorty".*did you mean "maxPriority"/);
  fails({ max_priority: 10 }, /did you mean "maxPriority"/);
  fails({ queue_type: "quorum" }, /did you mean "queueType"/);
  fails({ deadLetterExchang: "dlx" }, /did you mean "deadLetterExchange"/);
  // Nothing close: no guess, but the known keys are listed.
  fails({ visibility_timeout: 10 }, /unknown key "visibility_timeout" for the AMQP broker; known keys: maxPriority, queueType/);
});

test("a wrong type or range fails naming the key and the expected form", () => {
  fails({ maxPriority: "10" }, /brokerTransportOptions\.maxPriority is "10"; expected an integer from 1 to 255/);
  fails({ maxPriority: 0 }, /maxPriority is 0; expected an integer from 1 to 255/);
  fails({ maxPriority: 256 }, /maxPriority is 256/);
  fails({ maxPriority: 2.5 }, /maxPriority is 2.5/);
  fails({ queueType: "stream" }, /queueType is "stream"; expected "classic" or "quorum"/);
  fails({ queueType: "quorum", deliveryLimit: -1 }, /deliveryLimit is -1; expected a non-negative integer or null/);
  fails({ deadLetterExchange: "" }, /deadLetterExchange is ""; expected an exchange name or null/);
  fails({ delayNamespace: null }, /delayNamespace is null; expected a non-empty name prefix/);
  fails({ connectionName: 42 }, /connectionName is 42; expected a non-empty string or null/);
});

test("combinations RabbitMQ would refuse fail at configuration time", () => {
  fails({ queueType: "quorum", maxPriority: 10 }, /maxPriority cannot be combined with queueType "quorum"/);
  fails({ deliveryLimit: 3 }, /deliveryLimit needs queueType "quorum"/);
  fails({ deadLetterQueue: "dlq" }, /deadLetterQueue needs deadLetterExchange/);
});
