// The scheme → broker mapping for the AMQP family, without I/O: creating a broker connects nothing, so
// these run with no server. pyamqp:// (kombu's py-amqp transport name) is the AMQP broker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { brokerSchemes, createBroker } from "./registry.ts";
import { AmqpBroker } from "./amqp/amqp-broker.ts";
import type { BrokerOptions } from "./broker.ts";
import { ConfigError } from "../util/errors.ts";

const options = (transportOptions: Record<string, unknown> = {}): BrokerOptions => ({
  connectionMaxRetries: 0,
  connectionTimeoutMs: 1000,
  heartbeatSeconds: 60,
  visibilityTimeoutSeconds: 3600,
  transportOptions,
  log: () => undefined,
});

test("amqp://, amqps:// and pyamqp:// all make the AMQP broker", async () => {
  assert.ok(brokerSchemes().includes("pyamqp:"), "brokerSchemes().includes(\"pyamqp:\")");
  for (const url of ["amqp://guest:guest@localhost:5672//", "amqps://mq.example.com//", "pyamqp://guest@localhost//", "PYAMQP://guest@localhost//"]) {
    assert.ok((await createBroker(url, options())) instanceof AmqpBroker, url);
  }
});

test("the AMQP broker reads brokerTransportOptions at creation, before any connection", async () => {
  const broker = (await createBroker("pyamqp://guest@localhost//", options({ maxPriority: 10, connectionName: "api" }))) as AmqpBroker;
  assert.equal(broker.transport.maxPriority, 10);
  assert.equal(broker.transport.connectionName, "api");
  assert.equal(broker.capabilities.priorities, true);
  await assert.rejects(createBroker("amqp://localhost//", options({ maxPriorty: 10 })), (error: unknown) => error instanceof ConfigError && /did you mean "maxPriority"/.test(error.message));
});
