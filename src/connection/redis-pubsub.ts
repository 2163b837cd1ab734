// One shared Redis subscriber connection per server and process, multiplexing every channel the result
// backend (celery-task-meta-<id>) and the broker's control listener (pidbox) wait on.
import type { Redis } from "ioredis";
import { type RedisConnectOptions, type RedisTarget, closeClient, createRedisClient, failureOf, serverKey, whenReady } from "./redis.ts";

export type ChannelHandler = (message: string, channel: string) => void;

/** Subscriptions refcounted per channel over one connection; `onReconnect` hears resubscriptions. */
export class SubscriberHub {
  readonly client: Redis;
  private readonly handlers = new Map<string, Set<ChannelHandler>>();
  private readonly reconnectListeners = new Set<() => void>();
  private users = 0;
  private readyOnce = false;

  constructor(
    target: RedisTarget,
    private readonly options: RedisConnectOptions,
    private readonly onLastRelease: () => void,
  ) {
    this.client = createRedisClient({ ...target, db: 0 }, "sub", options);
    this.client.on("message", (channel: string, message: string) => {
      const set = this.handlers.get(channel);
      if (!set) return;
      for (const handler of set) handler(message, channel);
    });
    // Messages published while the connection was down are lost (pub/sub keeps nothing); ioredis
    // resubscribes, and listeners re-read whatever they were waiting on.
    this.client.on("ready", () => {
      if (this.readyOnce) for (const listener of this.reconnectListeners) listener();
      this.readyOnce = true;
    });
  }

  /** Subscribe `handler` to `channel`; resolves once the server confirmed, returns the unsubscriber. */
  async subscribe(channel: string, handler: ChannelHandler): Promise<() => Promise<void>> {
    let set = this.handlers.get(channel);
    const first = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    if (first) {
      try {
        await whenReady(this.client, this.options.connectionTimeoutMs, `subscribe to ${channel}`);
        await this.client.subscribe(channel);
      } catch (error) {
        set.delete(handler);
        if (set.size === 0) this.handlers.delete(channel);
        throw error;
      }
    }
    const current = set;
    return async () => {
      if (!current.delete(handler) || current.size > 0) return;
      if (this.handlers.get(channel) === current) this.handlers.delete(channel);
      if (this.client.status === "ready") await this.client.unsubscribe(channel).catch(() => undefined);
    };
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  retain(): void {
    this.users++;
  }

  async release(): Promise<void> {
    this.users--;
    if (this.users > 0) return;
    this.onLastRelease();
    await closeClient(this.client);
  }
}

const hubs = new Map<string, SubscriberHub>();

/** Borrow the process's subscriber hub for this server; call `release()` once when done. */
export function leaseSubscriberHub(target: RedisTarget, options: RedisConnectOptions): SubscriberHub {
  const key = serverKey(target);
  let hub = hubs.get(key);
  // A hub whose connection ended for good stays with its holders; a new holder gets a fresh one.
  if (!hub || failureOf(hub.client)) {
    const created: SubscriberHub = new SubscriberHub(target, options, () => {
      if (hubs.get(key) === created) hubs.delete(key);
    });
    hub = created;
    hubs.set(key, hub);
  }
  hub.retain();
  return hub;
}
