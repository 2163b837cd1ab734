// Runs the shared broker and backend (rpc://) conformance suites against the real
// RabbitMQ on loopback. Queues are unique per test and deleted afterwards, the delay ladder lives in a
// namespace unique to this run and is deleted too.
import { after } from "node:test";
import { randomUUID } from "node:crypto";
import { describeBrokerConformance } from "../../src/testing/broker-conformance.ts";
import { describeBackendConformance } from "../../src/testing/backend-conformance.ts";
import { RpcBackend } from "../../src/backend/rpc/rpc-backend.ts";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { deleteDelayTopology } from "../../src/broker/amqp/delay.ts";
import { deadLetterQueue } from "../../src/broker/amqp/dead-letters.ts";
import type { Broker, BrokerOptions } from "../../src/broker/broker.ts";

export const AMQP_URL = process.env["CELERIAC_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672//";
const delayNamespace = `celeriac.test-delay.${randomUUID().slice(0, 8)}`;

const options: BrokerOptions = {
  connectionMaxRetries: 3,
  connectionTimeoutMs: 5000,
  heartbeatSeconds: 30,
  visibilityTimeoutSeconds: 3600,
  log: () => undefined,
  // The spec checks priorities, which RabbitMQ only honours on x-max-priority queues.
  transportOptions: { maxPriority: 10, delayNamespace },
};

describeBrokerConformance("amqp", {
  create: () => new AmqpBroker(AMQP_URL, options),
  priorityOrder: "higher-first",
  persistent: true,
  cleanup: async (broker: Broker, queue: string) => {
    await (broker as AmqpBroker).deleteQueue(queue);
    await (broker as AmqpBroker).withAdminChannel((channel) => channel.deleteQueue(deadLetterQueue(queue)));
  },
});

// rpc:// delivers results only to the client that sent the task (its reply queue): no cross-client reads.
describeBackendConformance("rpc", {
  create: () =>
    new RpcBackend({ brokerUrl: AMQP_URL, replyTo: `celeriac-test-reply-${randomUUID()}`, resultExpiresSeconds: 86_400, connectionTimeoutMs: 5000, log: () => undefined }),
  sharedReads: false,
});

after(async () => {
  const broker = new AmqpBroker(AMQP_URL, options);
  await broker.connect();
  await broker.withAdminChannel((channel) => deleteDelayTopology(channel, { namespace: delayNamespace, queueType: "classic" }));
  await broker.close();
});
