// Redis connections for the Redis broker and result backend: lends out per-process shared ioredis
// clients that reconnect with bounded backoff and stop at once on a refusal that will not heal.
//
// Connection budget (per process, per Redis server): one command connection per db (shared by every
// broker and backend on that server and db), one blocking connection per consuming broker (BLMOVE and
// the consumer's fetches), and one subscriber connection per server (result pub/sub and control broadcasts
// multiplexed; pub/sub ignores the db). A worker whose broker and backend share a server and db holds
// at most 3; a producer holds 1, plus the subscriber while it waits on results.
import { Redis, type RedisOptions } from "ioredis";
import { ConnectionError } from "../util/errors.ts";
import { SharedResources } from "../util/shared-lease.ts";
import { redisRefusal } from "./failure.ts";
import { type RedisTarget, serverKey } from "./redis-url.ts";

export { parseRedisUrl, serverKey, type RedisTarget, type RedisTls } from "./redis-url.ts";

export interface RedisConnectOptions {
  /** Connection attempts in a row before giving up (at start or after a loss); Infinity retries forever. */
  connectionMaxRetries: number;
  /** Milliseconds an operation waits for a (re)connection before it fails. */
  connectionTimeoutMs: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Backoff base and cap in ms (defaults 100 and 5000). */
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
}

function dbKey(target: RedisTarget): string {
  return `${serverKey(target)}/${target.db}`;
}

/** Exponential backoff with a cap and jitter: 100, 200, 400 ... 5000 ms by default. */
export function backoffMs(attempt: number, baseMs = 100, capMs = 5000): number {
  const raw = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + Math.random() * 0.2));
}

/** What a client has been through: its last error, and the failure that ended it for good. */
interface ClientState {
  lastError: string;
  failure: ConnectionError | null;
  /** The largest retry budget among its holders: a result backend (no limit) keeps a shared client alive. */
  maxRetries: number;
}

const states = new WeakMap<Redis, ClientState>();

/** Why `client` stopped for good (a permanent refusal, or its retries spent), or null. */
export function failureOf(client: Redis): ConnectionError | null {
  return states.get(client)?.failure ?? null;
}

/**
 * A new ioredis client for `target`, named `celeriac:<role>:<pid>` in CLIENT LIST. It reconnects with
 * exponential backoff, logs each attempt once, and gives up after `connectionMaxRetries` attempts; a
 * refusal that will not heal (failure.ts: credentials, db, maxclients, certificate) ends it at once.
 * Commands wait (offline queue) for the reconnection; callers bound that wait with whenReady().
 */
export function createRedisClient(target: RedisTarget, role: string, options: RedisConnectOptions, tuning: Pick<RedisOptions, "enableAutoPipelining" | "autoPipeliningIgnoredCommands"> = {}): Redis {
  const state: ClientState = { lastError: "", failure: null, maxRetries: options.connectionMaxRetries };
  const name = `celeriac:${role}:${process.pid}`;
  let connectedOnce = false;
  const redisOptions: RedisOptions = {
    ...tuning,
    db: target.db,
    protocol: 2,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectTimeout: options.connectionTimeoutMs,
    // How long disconnect() waits for the socket to close before destroying it. ioredis arms this timer
    // even for a socket that is already gone (a client between reconnect attempts), where nothing clears
    // it: its default (2 s) kept a stopped process alive that long.
    disconnectTimeout: 100,
    disableClientInfo: true,
    retryStrategy: (times: number) => {
      const max = state.maxRetries;
      if (state.failure) return null;
      if (times > max) {
        state.failure = new ConnectionError(`redis ${role} ${target.display}: unreachable, gave up after ${times} connection attempts (brokerConnectionMaxRetries): ${state.lastError || "closed"}`);
        options.log("error", state.failure.message);
        return null;
      }
      const delay = backoffMs(times, options.reconnectBaseMs, options.reconnectCapMs);
      const what = connectedOnce ? "connection lost" : "cannot connect";
      options.log("warn", `redis ${role} ${target.display}: ${what} (${state.lastError || "closed"}); reconnect attempt ${times}${Number.isFinite(max) ? ` of ${max}` : ""} in ${delay} ms`);
      return delay;
    },
  };
  if (target.path) redisOptions.path = target.path;
  else {
    redisOptions.host = target.host as string;
    redisOptions.port = target.port as number;
  }
  if (target.username) redisOptions.username = target.username;
  if (target.password) redisOptions.password = target.password;
  if (target.tls) redisOptions.tls = target.tls;
  const client = new Redis(redisOptions);
  states.set(client, state);
  // whenReady() adds one short-lived listener per waiting operation (a burst of publishes while down).
  client.setMaxListeners(0);
  // ioredis emits "error" for every failed attempt; remember it for the one log line per attempt.
  client.on("error", (error: Error) => {
    state.lastError = error.message;
    if (state.failure) return;
    const refusal = redisRefusal(error, target.display);
    if (!refusal) return;
    state.failure = refusal;
    options.log("error", `redis ${role}: ${refusal.message}`);
    // Ends the client: no reconnect, and no "ready" on a connection whose SELECT failed (ioredis would
    // carry on in db 0).
    client.disconnect();
  });
  client.on("ready", () => {
    if (state.failure) return;
    if (connectedOnce) options.log("info", `redis ${role} ${target.display}: reconnected`);
    else {
      // Named after the handshake, not in it: ioredis ignores a failed CLIENT SETNAME, and when it is the
      // first command of the handshake the server's "max number of clients reached" goes unseen.
      // Reconnections name it in the handshake (a subscriber resubscribes before "ready").
      client.options.connectionName = name;
      void client.client("SETNAME", name).catch(() => undefined);
    }
    connectedOnce = true;
  });
  return client;
}

/**
 * Calls `listener` once `client` has stopped for good (a permanent refusal or its retries spent), not
 * when it is closed on purpose. Returns the remover. Example: `const off = watchFailure(client, stop)`.
 */
export function watchFailure(client: Redis, listener: (failure: ConnectionError) => void): () => void {
  const onEnd = (): void => {
    const failure = failureOf(client);
    if (failure) listener(failure);
  };
  client.on("end", onEnd);
  return () => client.off("end", onEnd);
}

/**
 * Resolves when `client` is connected; rejects at once with the failure that ended it (a permanent
 * refusal, its retries spent), after `timeoutMs` (Infinity: no time limit, only the retry budget), or
 * with the signal's reason when it aborts. Example: `await whenReady(client, 5000, "publish")`.
 */
export function whenReady(client: Redis, timeoutMs: number, what: string, signal?: AbortSignal): Promise<void> {
  const state = states.get(client);
  if (state?.failure) return Promise.reject(state.failure);
  if (client.status === "ready") return Promise.resolve();
  if (client.status === "end") return Promise.reject(new ConnectionError(`${what}: the Redis connection is closed`));
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (client.status === "wait") void client.connect().catch(() => undefined);
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = (error: unknown): void => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("end", onEnd);
      signal?.removeEventListener("abort", onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onReady = (): void => settle(state?.failure ?? null);
    const onEnd = (): void => settle(state?.failure ?? new ConnectionError(`${what}: the Redis connection was closed`));
    const onAbort = (): void => settle(signal?.reason);
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        const last = state?.lastError ? `: ${state.lastError}` : "";
        settle(new ConnectionError(`${what}: Redis unreachable for ${timeoutMs} ms (brokerConnectionTimeout)${last}`));
      }, timeoutMs);
    }
    client.on("ready", onReady);
    client.on("end", onEnd);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `operation` (a command already handed to a client), bounded: rejects with a ConnectionError when no
 * reply came by `deadline` (epoch ms), typically because the connection dropped after the command was
 * sent. ioredis re-sends unanswered commands after reconnecting, so the command may still take effect.
 * Example: `await bounded(pipeline.exec(), Date.now() + 5000, "publish")`.
 */
export function bounded<T>(operation: Promise<T>, deadline: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new ConnectionError(`${what}: no reply from Redis within brokerConnectionTimeout (connection lost?); it may still be applied after a reconnect`));
    }, Math.max(0, deadline - Date.now()));
    operation.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** A borrowed shared client; release() once, and the last release closes it. */
export interface RedisLease {
  readonly client: Redis;
  release(): Promise<void>;
}

// A client that ended for good is not lent again: a new holder gets a fresh one.
const sharedClients = new SharedResources<Redis>((client) => closeClient(client), (client) => failureOf(client) === null);

function lease(key: string, make: () => Redis, maxRetries: number, onFailure?: (failure: ConnectionError) => void): RedisLease {
  const { resource, release } = sharedClients.lease(key, make);
  const state = states.get(resource);
  if (state) state.maxRetries = Math.max(state.maxRetries, maxRetries);
  // Watched per holder, not per client: each holder of a shared client hears of its failure.
  const unwatch = onFailure ? watchFailure(resource, onFailure) : undefined;
  return {
    client: resource,
    release: async () => {
      unwatch?.();
      await release();
    },
  };
}

/**
 * The process's command connection for this server and db. Auto-pipelined: the commands issued in one
 * tick (publishes, acks) go out in one socket write. Lua scripts, MULTI, CLIENT, SCRIPT and the like
 * are never auto-pipelined (ioredis sends them directly), and explicit pipelines stay as they are.
 * `onFailure` hears when the client stops for good (see watchFailure), until this lease is released. A
 * shared client gives up only once the largest `connectionMaxRetries` of its holders is spent.
 */
export function leaseCommandClient(target: RedisTarget, options: RedisConnectOptions, onFailure?: (failure: ConnectionError) => void): RedisLease {
  // Scripts (fetch, store, restore, promote) are batches already: they go out at once, where waiting
  // for the auto-pipeline's setImmediate would hold a batch of results back while the next one runs.
  return lease(`cmd:${dbKey(target)}`, () => createRedisClient(target, "cmd", options, { enableAutoPipelining: true, autoPipeliningIgnoredCommands: ["evalsha", "eval"] }), options.connectionMaxRetries, onFailure);
}

/**
 * Waits for a leased client to connect, as whenReady() does; a failed wait gives the lease back, so no
 * client is left reconnecting (and keeping the process alive) behind a failed connect.
 * Example: `await readyOrRelease(lease, 5000, "connect to redis://h/0")`.
 */
export async function readyOrRelease(lease: RedisLease, timeoutMs: number, what: string, signal?: AbortSignal): Promise<void> {
  try {
    await whenReady(lease.client, timeoutMs, what, signal);
  } catch (error) {
    await lease.release();
    throw error;
  }
}

/** QUIT politely, or drop the socket when the server is unreachable. */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === "end") return;
  if (client.status !== "ready") {
    client.disconnect();
    return;
  }
  await Promise.race([client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  client.disconnect();
}
