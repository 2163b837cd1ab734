// A client's share of the process's AMQP connection (the broker's, the rpc backend's): the leased
// connection, opened, and the client's own confirm publisher, released together.
import { leaseAmqpConnection, type AmqpConnection, type AmqpConnectionOptions } from "./amqp.ts";
import { ConfirmPublisher } from "./amqp-publisher.ts";
import type { ConnectOptions } from "../util/wait.ts";

export interface AmqpSession {
  readonly connection: AmqpConnection;
  /** Publishes on this client's own confirm channel, so one client's confirms never wait on another's. */
  readonly publisher: ConfirmPublisher;
  /** Closes the publisher and gives the lease back (the connection closes with its last holder). */
  close(): Promise<void>;
}

/**
 * Leases and opens the connection for `url`; when opening fails the lease is released, so a failed
 * connect() leaves no half-held connection behind (nor a reconnect loop: the connection closes with its
 * last holder). `wait` bounds the wait (see AmqpConnection.open). Example: `const s = await openAmqpSession(url, opts)`.
 */
export async function openAmqpSession(url: string, options: AmqpConnectionOptions, wait: ConnectOptions = {}): Promise<AmqpSession> {
  const lease = leaseAmqpConnection(url, options);
  try {
    await lease.connection.open(wait);
  } catch (error) {
    await lease.release();
    throw error;
  }
  const publisher = new ConfirmPublisher(lease.connection, options.connectionTimeoutMs, options.log);
  return {
    connection: lease.connection,
    publisher,
    close: async () => {
      await publisher.close();
      await lease.release();
    },
  };
}
