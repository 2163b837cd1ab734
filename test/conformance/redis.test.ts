// Runs the shared broker and backend conformance suites against the real Redis on loopback, in db 13
// (flushed before the run) so they never touch other tests' data; the broker suite runs twice, once per
// message format.
import { before } from "node:test";
import { describeBrokerConformance } from "../../src/testing/broker-conformance.ts";
import { describeBackendConformance } from "../../src/testing/backend-conformance.ts";
import { createRedisBackend } from "../../src/backend/redis/backend.ts";
import { createRedisBroker } from "../../src/broker/redis/broker.ts";
import { adminClient, backendOptions, brokerOptions, redisUrl } from "../integration/redis-helpers.ts";

const DB = 13;

before(async () => {
  const admin = adminClient(DB);
  await admin.flushdb();
  await admin.quit();
});

describeBrokerConformance("redis", {
  // A short visibility timeout is not needed: close() restores what a broker still holds.
  create: () => createRedisBroker(redisUrl(DB), brokerOptions()),
  priorityOrder: "lower-first",
  persistent: true,
});

// The same contract with Celeriac's compact message format (brokerTransportOptions.messageFormat).
describeBrokerConformance("redis (compact messages)", {
  create: () => createRedisBroker(redisUrl(DB), brokerOptions([], { transportOptions: { messageFormat: "compact" } })),
  priorityOrder: "lower-first",
  persistent: true,
});

describeBackendConformance("redis", {
  create: () => createRedisBackend(redisUrl(DB), backendOptions()),
});
