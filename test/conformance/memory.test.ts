import { describeBrokerConformance } from "../../src/testing/broker-conformance.ts";
import { describeBackendConformance } from "../../src/testing/backend-conformance.ts";
import { MemoryBroker } from "../../src/broker/memory/memory-broker.ts";
import { MemoryBackend } from "../../src/backend/memory/memory-backend.ts";

// One broker object is the whole store in memory, so "another broker" is the same object.
const shared = new MemoryBroker();
describeBrokerConformance("memory", {
  create: () => shared,
  priorityOrder: "lower-first",
  persistent: false,
});

describeBackendConformance("memory", { create: () => new MemoryBackend(3600) });
