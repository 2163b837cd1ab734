// Picks the broker implementation for a URL scheme. Implementations load lazily, so an app on
// `memory://` never loads a Redis or AMQP client, and importing Celeriac opens nothing.
import type { Broker, BrokerFactory, BrokerOptions } from "./broker.ts";
import { ConfigError } from "../util/errors.ts";
import { schemeOf } from "../util/url.ts";

type Loader = () => Promise<BrokerFactory>;

const loaders: Record<string, Loader> = {
  "memory:": async () => (await import("./memory/memory-broker.ts")).createMemoryBroker,
  "amqp:": async () => (await import("./amqp/amqp-broker.ts")).createAmqpBroker,
  "amqps:": async () => (await import("./amqp/amqp-broker.ts")).createAmqpBroker,
  // kombu's name for its py-amqp transport; Celery's docs write `pyamqp://guest@localhost//`.
  "pyamqp:": async () => (await import("./amqp/amqp-broker.ts")).createAmqpBroker,
  "redis:": async () => (await import("./redis/broker.ts")).createRedisBroker,
  "rediss:": async () => (await import("./redis/broker.ts")).createRedisBroker,
  "unix:": async () => (await import("./redis/broker.ts")).createRedisBroker,
  "redis+socket:": async () => (await import("./redis/broker.ts")).createRedisBroker,
};

/** URL schemes with a broker implementation, e.g. "redis:". */
export function brokerSchemes(): string[] {
  return Object.keys(loaders);
}

/** Creates the broker for `url`. Example: `await createBroker("redis://localhost:6379/0", options)`. */
export async function createBroker(url: string, options: BrokerOptions): Promise<Broker> {
  const scheme = schemeOf(url);
  const load = loaders[scheme];
  if (!load) {
    throw new ConfigError(`brokerUrl: no broker for "${scheme}//" URLs; expected one of ${brokerSchemes().map((s) => `${s}//`).join(", ")}`);
  }
  return (await load())(url, options);
}
