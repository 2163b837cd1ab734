// One AMQP connection per URL and process: parses Celery-style amqp:// and amqps:// URLs, connects with
// a timeout, reconnects with capped exponential backoff (a bounded number of attempts; none after a
// refusal that will not heal, see failure.ts) and re-runs every registered setup step (topology,
// consumers) on each new connection. Brokers and the rpc backend lease it and open their own channels.
import { connect as amqpConnect, type ChannelModel, type Options, type SocketOptions } from "amqplib";
import { ConnectionError } from "../util/errors.ts";
import { maskUrl } from "../util/url.ts";
import type { ConnectOptions } from "../util/wait.ts";
import { parseAmqpUrl } from "./amqp-url.ts";
import { amqpRefusal } from "./failure.ts";
import { SharedResources } from "../util/shared-lease.ts";

export { parseAmqpUrl, type AmqpUrl } from "./amqp-url.ts";

export interface AmqpConnectionOptions {
  /** Seconds; 0 turns heartbeats off and leaves dead-peer detection to TCP keepalive. */
  heartbeatSeconds: number;
  connectionTimeoutMs: number;
  /** Failed attempts in a row, after the first, before giving up; Infinity retries forever. */
  maxRetries: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Backoff between attempts: initialMs doubling up to maxMs. Defaults 250 and 30000. */
  backoff?: { initialMs: number; maxMs: number };
  /** Shown in the RabbitMQ management UI and `rabbitmqctl list_connections name`. */
  connectionName?: string;
}

/** Runs after every (re)connection, before anything waiting for the connection resumes. */
export type SetupStep = (model: ChannelModel) => Promise<void>;

/** Capped exponential backoff with ±20% jitter, so a fleet of workers does not reconnect in lockstep. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs / 1.2, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** A reconnecting AMQP connection. Use `leaseAmqpConnection` to share one per URL. */
export class AmqpConnection {
  private model: ChannelModel | null = null;
  private readonly steps = new Set<SetupStep>();
  private readonly waiters = new Set<{ resolve: (m: ChannelModel) => void; reject: (e: Error) => void }>();
  private connecting: Promise<void> | null = null;
  private closing = false;
  private failure: Error | null = null;
  private sleepTimer: NodeJS.Timeout | null = null;
  private wakeSleep: (() => void) | null = null;
  private lastError = "";
  private readonly failureListeners = new Set<(error: ConnectionError) => void>();
  /** Increments on each successful connection; lets callers tell a stale channel from a live one. */
  generation = 0;

  constructor(
    private readonly url: string,
    private readonly options: AmqpConnectionOptions,
  ) {}

  get connected(): boolean {
    return this.model !== null;
  }

  /**
   * Connects (retrying up to maxRetries in the background); resolves once connected and every setup
   * step has run, rejects at once on a permanent refusal, after `wait.timeoutMs` (default
   * connectionTimeoutMs; Infinity: as long as the retries last) or when `wait.signal` aborts.
   */
  async open(wait: ConnectOptions = {}): Promise<void> {
    this.closing = false;
    this.failure = null;
    if (this.model) return;
    this.connecting ??= this.connectLoop();
    this.connecting.catch(() => undefined); // the waiters below hear of a failure
    await this.ready(wait.timeoutMs, wait.signal);
  }

  /** `listener` hears when the connection is lost for good (see AmqpConnection.open). Returns a remover. */
  onFailure(listener: (error: ConnectionError) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  /** Registers a step to run now (when connected) and after every reconnection. Returns a remover. */
  async addSetup(step: SetupStep): Promise<() => void> {
    this.steps.add(step);
    if (this.model) await step(this.model);
    return () => this.steps.delete(step);
  }

  /** The live connection, waiting up to `timeoutMs` (Infinity: no limit) for a (re)connection in progress. */
  ready(timeoutMs = this.options.connectionTimeoutMs, signal?: AbortSignal): Promise<ChannelModel> {
    if (this.model) return Promise.resolve(this.model);
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new ConnectionError(`connection to ${maskUrl(this.url)} is closed`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter = {
        resolve: (m: ChannelModel) => {
          done();
          resolve(m);
        },
        reject: (e: Error) => {
          done();
          reject(e);
        },
      };
      const onAbort = (): void => waiter.reject(signal?.reason);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => waiter.reject(new ConnectionError(`no connection to ${maskUrl(this.url)} within ${timeoutMs} ms (brokerConnectionTimeout)${this.lastError ? `: ${this.lastError}` : ""}`)), timeoutMs);
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wakeSleep?.();
    const model = this.model;
    this.model = null;
    this.rejectWaiters(new ConnectionError(`connection to ${maskUrl(this.url)} was closed`));
    if (model) await model.close().catch(() => undefined);
    await this.connecting?.catch(() => undefined);
  }

  private connectArgs(): { target: Options.Connect; socket: SocketOptions; vhost: string } {
    const parsed = parseAmqpUrl(this.url);
    const heartbeat = parsed.heartbeatSeconds ?? this.options.heartbeatSeconds;
    const target: Options.Connect = {
      protocol: parsed.tls ? "amqps" : "amqp",
      hostname: parsed.hostname,
      port: parsed.port,
      username: parsed.username,
      password: parsed.password,
      // amqplib unescapes the vhost itself, so hand it the escaped form.
      vhost: encodeURIComponent(parsed.vhost),
      heartbeat,
      ...(parsed.frameMax !== undefined ? { frameMax: parsed.frameMax } : {}),
    };
    const socket: SocketOptions = {
      ...parsed.tlsOptions,
      timeout: parsed.connectionTimeoutMs ?? this.options.connectionTimeoutMs,
      noDelay: true,
      // With heartbeats off (as hosted providers advise), TCP keepalive is what notices a dead peer.
      keepAlive: true,
      keepAliveDelay: 30_000,
      clientProperties: { connection_name: this.options.connectionName ?? `celeriac pid ${process.pid}` },
    };
    return { target, socket, vhost: parsed.vhost };
  }

  private async connectLoop(): Promise<void> {
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 250, maxMs: 30_000 };
    let attempt = 0;
    try {
      // Outside the retry: an unreadable certificate file or a bad query option will not heal.
      const { target, socket, vhost } = this.connectArgs();
      while (!this.closing) {
        let model: ChannelModel | null = null;
        try {
          model = await amqpConnect(target, socket);
          this.watch(model);
          for (const step of this.steps) await step(model);
          if (this.closing) {
            await model.close().catch(() => undefined);
            return;
          }
          this.model = model;
          this.generation++;
          this.options.log("info", `connected to ${maskUrl(this.url)}${attempt > 0 ? ` after ${attempt} failed attempt(s)` : ""}`);
          for (const waiter of this.waiters) waiter.resolve(model);
          this.waiters.clear();
          return;
        } catch (error) {
          if (model) await model.close().catch(() => undefined);
          const refusal = amqpRefusal(error, maskUrl(this.url), vhost);
          if (refusal) throw refusal;
          attempt++;
          const reason = error instanceof Error ? error.message : String(error);
          this.lastError = reason;
          const max = this.options.maxRetries;
          if (attempt > max) {
            throw new ConnectionError(`cannot connect to ${maskUrl(this.url)} after ${attempt} attempt(s) (brokerConnectionMaxRetries): ${reason}`, { cause: error });
          }
          const wait = backoffDelay(attempt, initialMs, maxMs);
          this.options.log("warn", `cannot connect to ${maskUrl(this.url)} (attempt ${attempt}${Number.isFinite(max) ? ` of ${max + 1}` : ""}): ${reason}; retrying in ${wait} ms`);
          await new Promise<void>((resolve) => {
            this.wakeSleep = resolve;
            this.sleepTimer = setTimeout(resolve, wait);
          });
        }
      }
    } catch (error) {
      this.failure = error instanceof Error ? error : new ConnectionError(String(error));
      this.options.log("error", this.failure.message);
      this.rejectWaiters(this.failure);
      const lost = this.failure instanceof ConnectionError ? this.failure : new ConnectionError(this.failure.message, { cause: this.failure });
      for (const listener of this.failureListeners) listener(lost);
      throw this.failure;
    } finally {
      this.connecting = null;
    }
  }

  private watch(model: ChannelModel): void {
    // An 'error' is always followed by 'close'; listening keeps it from becoming an uncaught exception.
    model.on("error", (error: Error) => this.options.log("warn", `connection to ${maskUrl(this.url)} failed: ${error.message}`));
    model.on("blocked", (reason: string) => this.options.log("warn", `RabbitMQ blocked publishing: ${reason}`));
    model.on("unblocked", () => this.options.log("info", "RabbitMQ unblocked publishing"));
    model.on("close", () => {
      if (this.model !== model) return;
      this.model = null;
      if (this.closing) return;
      this.options.log("warn", `connection to ${maskUrl(this.url)} lost; reconnecting`);
      this.connecting ??= this.connectLoop();
      this.connecting.catch(() => undefined);
    });
  }

  private rejectWaiters(error: Error): void {
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters.clear();
  }
}

/** A share of a process-wide connection; `release()` closes it when the last holder lets go. */
export interface AmqpConnectionLease {
  readonly connection: AmqpConnection;
  release(): Promise<void>;
}

const shared = new SharedResources<AmqpConnection>((connection) => connection.close());

/**
 * Leases the process's connection for `url`, so a worker's broker and rpc backend use one TCP
 * connection (each with its own channels). Example: `const lease = leaseAmqpConnection(url, opts)`.
 */
export function leaseAmqpConnection(url: string, options: AmqpConnectionOptions): AmqpConnectionLease {
  // Keyed by URL only: the first holder's heartbeat and timeout settings apply to the shared connection.
  const { resource, release } = shared.lease(url, () => new AmqpConnection(url, options));
  return { connection: resource, release };
}
