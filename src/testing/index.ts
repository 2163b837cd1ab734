// `celeriac/testing`: what a broker or result backend shipped as its own package needs to prove it
// keeps the contract: the conformance suites Celeriac's own brokers and backends pass, and the
// registry-made instances an app would use. Importing it runs nothing; the describe* calls do.
import type { Broker, BrokerOptions } from "../broker/broker.ts";
import { createBroker } from "../broker/registry.ts";
import type { BackendOptions, ResultBackend } from "../backend/backend.ts";
import { createBackend } from "../backend/registry.ts";

export { describeBrokerConformance, type BrokerSpecOptions } from "./broker-conformance.ts";
export { describeBackendConformance, type BackendSpecOptions } from "./backend-conformance.ts";
export { eventually, labelOf, uniqueQueue, wireMessage } from "./fixtures.ts";

/** BrokerOptions for tests: 3 connection retries, 5 s timeouts, no heartbeat, no logging. */
export function testBrokerOptions(overrides: Partial<BrokerOptions> = {}): BrokerOptions {
  return { connectionMaxRetries: 3, connectionTimeoutMs: 5000, heartbeatSeconds: 0, visibilityTimeoutSeconds: 3600, log: () => undefined, ...overrides };
}

/** BackendOptions for tests: results kept an hour, 5 s timeouts, no logging. */
export function testBackendOptions(overrides: Partial<BackendOptions> = {}): BackendOptions {
  return { brokerUrl: "memory://", replyTo: `celeriac-test-${process.pid}`, resultExpiresSeconds: 3600, connectionTimeoutMs: 5000, log: () => undefined, ...overrides };
}

/**
 * The unconnected broker an app would create for `url`, through the registry (built-in or registered
 * with registerBroker). Example: `describeBrokerConformance("mine", { create: () => createBrokerFor("mytransport://local"), priorityOrder: "lower-first", persistent: false })`.
 */
export function createBrokerFor(url: string, overrides: Partial<BrokerOptions> = {}): Promise<Broker> {
  return createBroker(url, testBrokerOptions(overrides));
}

/** The unconnected result backend an app would create for `url`, through the registry. */
export function createBackendFor(url: string, overrides: Partial<BackendOptions> = {}): Promise<ResultBackend> {
  return createBackend(url, testBackendOptions(overrides));
}
