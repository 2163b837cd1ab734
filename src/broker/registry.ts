// Picks the broker implementation for a URL scheme. Built-in implementations load lazily, so an app on
// `memory://` never loads a Redis or AMQP client, and importing Celeriac opens nothing; a third-party
// transport joins with registerBroker (docs/plugins.md).
import type { Broker, BrokerFactory, BrokerOptions } from "./broker.ts";
import { SchemeRegistry } from "../util/scheme-registry.ts";

const registry = new SchemeRegistry<BrokerFactory>("broker", "brokerUrl", {
  "memory:": async () => (await import("./memory/memory-broker.ts")).createMemoryBroker,
  "amqp:": async () => (await import("./amqp/amqp-broker.ts")).createAmqpBroker,
  "amqps:": async () => (await import("./amqp/amqp-broker.ts")).createAmqpBroker,
  // kombu's name for its py-amqp transport; Celery's docs write `pyamqp://guest@localhost//`.
  "pyamqp:": async () => (await import("./amqp/amqp-broker.ts")).createAmqpBroker,
  "redis:": async () => (await import("./redis/broker.ts")).createRedisBroker,
  "rediss:": async () => (await import("./redis/broker.ts")).createRedisBroker,
  "unix:": async () => (await import("./redis/broker.ts")).createRedisBroker,
  "redis+socket:": async () => (await import("./redis/broker.ts")).createRedisBroker,
});

/**
 * Makes `brokerUrl`s with `scheme` use `factory`, for a transport shipped as its own package. The
 * factory gets the URL and the app's BrokerOptions and must not connect (connect() does). A built-in
 * or already registered scheme is a ConfigError. Returns a function that removes the registration.
 *
 * @example registerBroker("mytransport", (url, options) => new MyTransportBroker(url, options))
 */
export function registerBroker(scheme: string, factory: BrokerFactory): () => void {
  return registry.register(scheme, factory);
}

/** URL schemes with a broker implementation, e.g. "redis:". */
export function brokerSchemes(): string[] {
  return registry.schemes();
}

/** Creates the broker for `url`. Example: `await createBroker("redis://localhost:6379/0", options)`. */
export async function createBroker(url: string, options: BrokerOptions): Promise<Broker> {
  return (await registry.factoryFor(url))(url, options);
}
