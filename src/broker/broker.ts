// The broker contract: the few operations the producer and the worker need from a message transport.
// Implemented by broker/memory (embedded default), broker/redis and broker/amqp; every implementation
// passes src/testing/broker-conformance.ts against its real server.
import type { WireMessage } from "../protocol/message.ts";
import type { ConnectionError } from "../util/errors.ts";
import type { ConnectOptions } from "../util/wait.ts";

export type { ConnectOptions } from "../util/wait.ts";

/** Dead letters kept per queue where the broker caps them itself (memory; Redis by default). */
export const DEAD_LETTER_LIMIT = 10_000;

export interface BrokerCapabilities {
  /** publish() honours `notBefore` by parking the message in the broker until it is due. */
  nativeDelay: boolean;
  /** Messages carry a priority that changes delivery order. */
  priorities: boolean;
  /** publish() resolves only once the broker has stored the message. */
  confirms: boolean;
  /** Offers a broadcast channel for control commands (revoke). */
  control: boolean;
  /** Keeps messages rejected with a reason as dead letters, readable through `Broker.deadLetters`. */
  deadLetters: boolean;
}

export interface PublishOptions {
  /** Epoch milliseconds before which the message must not be delivered (needs nativeDelay). */
  notBefore?: number;
}

/** One received message, to be settled exactly once with ack() or reject(). */
export interface Delivery {
  readonly message: WireMessage;
  readonly queue: string;
  /** True when the broker has delivered this message before (a crash or a requeue). */
  readonly redelivered: boolean;
  /**
   * How many times this message has been delivered, this delivery included: 1 the first time, one more
   * for each requeue or crash restore the broker counted (Redis: a counter kept beside the claim; RabbitMQ
   * quorum queues: `x-delivery-count`; classic queues: a header the requeue re-publishes with; memory: a
   * field). The worker dead-letters a message delivered more than `workerMaxDeliveries` times.
   */
  readonly deliveryCount: number;
  /**
   * True once the connection or channel this delivery came on is gone (RabbitMQ): the broker has
   * already put the message back for redelivery, so a worker must not start it, and ack()/reject() do
   * nothing. Always false where claims outlive a connection (Redis keeps them in Redis; memory).
   */
  readonly stale: boolean;
  /** Done with the message: the broker forgets it. */
  ack(): Promise<void>;
  /**
   * Give the message up. `requeue: true` puts it back for another consumer. `requeue: false` with a
   * `reason` moves it, as received, to its queue's dead letters (when `capabilities.deadLetters`);
   * without a reason it is dropped (or dead-lettered by the server's own configuration). Example:
   * `delivery.reject({ requeue: false, reason: { code: "NOT_REGISTERED", message: "task \"x\" is not registered" } })`.
   */
  reject(options: RejectOptions): Promise<void>;
}

export interface RejectOptions {
  requeue: boolean;
  /** Why the message is given up: with `requeue: false`, makes it a dead letter. */
  reason?: RejectReason;
}

/** Why a message was dead-lettered: a stable error code and a human-readable message. */
export interface RejectReason {
  code: string;
  message: string;
}

/** A message kept after it was rejected with a reason. */
export interface DeadLetter {
  /** The queue it was taken from, and goes back to on redrive. */
  queue: string;
  code: string;
  reason: string;
  /** When it was dead-lettered. */
  at: Date;
  /** The message as it was received; null when it could not be decoded at all (see `reason`). */
  message: WireMessage | null;
}

/**
 * Reading and replaying a broker's dead letters (when `capabilities.deadLetters`), per source queue.
 * Example: `await broker.deadLetters?.redrive("celery", 100)` after deploying the missing task.
 */
export interface DeadLetterStore {
  /** Up to `limit` dead letters of `queue`, oldest first, left in place. */
  list(queue: string, limit: number): Promise<DeadLetter[]>;
  /** Re-publishes up to `limit` dead letters (oldest first) to their queue, as received, and removes them. Returns how many. */
  redrive(queue: string, limit: number): Promise<number>;
  /** Deletes every dead letter of `queue`; returns how many. */
  purge(queue: string): Promise<number>;
}

export interface ConsumeOptions {
  /** At most this many deliveries are unsettled at once. */
  prefetch: number;
}

export type DeliveryHandler = (delivery: Delivery) => void;

export interface Consumer {
  /** Stop receiving new deliveries; unsettled ones stay the caller's to settle. */
  cancel(): Promise<void>;
}

/** A control command broadcast to every worker, such as a revoke. */
export interface ControlMessage {
  command: string;
  arguments: Record<string, unknown>;
}

export interface Broker {
  readonly capabilities: BrokerCapabilities;
  /**
   * Connect, waiting up to `options.timeoutMs` (default connectionTimeoutMs). Rejects at once with a
   * ConnectionRefusedPermanently when the server refuses for good; a failed connect leaves nothing open.
   */
  connect(options?: ConnectOptions): Promise<void>;
  /** Make sure a queue exists (idempotent). */
  declareQueue(queue: string): Promise<void>;
  publish(queue: string, message: WireMessage, options?: PublishOptions): Promise<void>;
  /**
   * Publish many messages to one queue in as few round trips as the broker allows, in order (each is
   * delivered as if published one by one, priorities respected). Optional: callers fall back to
   * publish() in a loop. Resolves once the broker has stored every message.
   */
  publishMany?(queue: string, messages: readonly WireMessage[]): Promise<void>;
  consume(queues: readonly string[], handler: DeliveryHandler, options: ConsumeOptions): Promise<Consumer>;
  /** Remove every waiting message of a queue; returns how many were removed. */
  purge(queue: string): Promise<number>;
  /** How many messages wait in a queue (delayed ones not included). */
  length(queue: string): Promise<number>;
  /** Broadcast a control command (only when capabilities.control). */
  broadcast?(message: ControlMessage): Promise<void>;
  /** Receive control commands (only when capabilities.control). Returns an unsubscribe function. */
  onControl?(listener: (message: ControlMessage) => void): Promise<() => Promise<void>>;
  /** Dead letters (only when capabilities.deadLetters). */
  readonly deadLetters?: DeadLetterStore;
  close(): Promise<void>;
}

/** Makes a broker for a URL without connecting, registered per scheme in broker/registry.ts; a third party's may be async. */
export type BrokerFactory = (url: string, options: BrokerOptions) => Broker | Promise<Broker>;

export interface BrokerOptions {
  /** Connection attempts in a row (at start or after a loss) before giving up; Infinity retries forever. */
  connectionMaxRetries: number;
  /** Milliseconds to wait for a connection before an operation fails. */
  connectionTimeoutMs: number;
  /** Seconds between heartbeats where the transport has them; 0 disables. */
  heartbeatSeconds: number;
  /** Seconds an unacknowledged message stays claimed before it is given to another consumer. */
  visibilityTimeoutSeconds: number;
  /**
   * Broker-specific settings (Celery's broker_transport_options), validated by the broker that reads
   * them: an unknown key fails naming the nearest known one. Example: `{ maxPriority: 10 }` on AMQP.
   */
  transportOptions?: Readonly<Record<string, unknown>> | undefined;
  /** Called with a human-readable line for each connection event worth logging once. */
  log: (level: "info" | "warn" | "error", message: string) => void;
  /**
   * Called when a connection of a connected broker is lost for good: its retries spent, or a permanent
   * refusal on reconnecting (a password changed). The broker cannot recover by itself after this.
   */
  onConnectionLost?: ((error: ConnectionError) => void) | undefined;
}
