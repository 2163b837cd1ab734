// Redis connections for the Redis broker and result backend: parses redis://, rediss://, unix:// URLs
// the way kombu and Celery accept them, and lends out per-process shared ioredis clients.
//
// Connection budget (per process, per Redis server): one command connection per db (shared by every
// broker and backend on that server and db), one blocking connection per consuming broker (BLMOVE and
// the consumer's fetches), and one subscriber connection per server (result pub/sub and control broadcasts
// multiplexed; pub/sub ignores the db). A worker whose broker and backend share a server and db holds
// at most 3; a producer holds 1, plus the subscriber while it waits on results.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { Redis, type RedisOptions } from "ioredis";
import { ConfigError, ConnectionError } from "../util/errors.ts";
import { maskUrl } from "../util/url.ts";
import { SharedResources } from "../util/shared-lease.ts";

export interface RedisTarget {
  host?: string;
  port?: number;
  /** Unix socket path (unix://, redis+socket://, socket://). */
  path?: string;
  username?: string;
  password?: string;
  db: number;
  /**
   * rediss://: TLS. `rejectUnauthorized` is false only for `ssl_cert_reqs=CERT_NONE`/`none`; `ca`, `cert`
   * and `key` come from the files named by `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile` (redis-py's names).
   */
  tls?: RedisTls;
  /** The TLS settings as given (shared connections are only shared between identical ones). */
  tlsId?: string;
  /** The URL with its password masked, for logs. */
  display: string;
}

export interface RedisConnectOptions {
  /** Reconnect attempts before giving up; Infinity retries forever. */
  connectionMaxRetries: number;
  /** Milliseconds an operation waits for a (re)connection before it fails. */
  connectionTimeoutMs: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Backoff base and cap in ms (defaults 100 and 5000). */
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
}

const SOCKET_SCHEMES = new Set(["unix:", "socket:", "redis+socket:"]);

function parseDb(raw: string | null | undefined, url: string): number {
  if (raw === null || raw === undefined || raw === "" || raw === "/") return 0;
  const text = raw.startsWith("/") ? raw.slice(1) : raw;
  if (!/^\d+$/.test(text)) throw new ConfigError(`"${maskUrl(url)}": the Redis database must be a number between 0 and 15, not "${text}"`);
  return Number(text);
}

/**
 * Reads a Redis URL. Example: `parseRedisUrl("redis://user:pass@host:6380/2")`.
 * Forms: `redis://[[user]:pass@]host[:port][/db]`, `rediss://...` (TLS: `?ssl_cert_reqs=CERT_NONE` to
 * skip verification, `ssl_ca_certs=<CA file>` to trust a private CA, `ssl_certfile`/`ssl_keyfile` for a
 * client certificate), and sockets `unix:///path?db=N`, `redis+socket:///path?virtual_host=N`
 * (kombu's spelling), `socket:///path`. The db defaults to 0 and the port to 6379.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(url)?.[1]?.toLowerCase();
  const display = maskUrl(url);
  if (scheme && SOCKET_SCHEMES.has(scheme)) {
    const match = /^[^:]+:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?[^/]*(\/[^?]*)(?:\?(.*))?$/.exec(url);
    if (!match?.[3]) throw new ConfigError(`"${display}": expected a socket URL like "unix:///var/run/redis.sock?db=0"`);
    const query = new URLSearchParams(match[4] ?? "");
    return {
      path: decodeURIComponent(match[3]),
      ...(match[1] ? { username: decodeURIComponent(match[1]) } : {}),
      ...(match[2] ? { password: decodeURIComponent(match[2]) } : {}),
      db: parseDb(query.get("db") ?? query.get("virtual_host"), url),
      display,
    };
  }
  if (scheme !== "redis:" && scheme !== "rediss:") {
    throw new ConfigError(`"${display}" is not a Redis URL; expected redis://, rediss://, unix:// or redis+socket://`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ConfigError(`"${display}" is not a valid Redis URL: ${(error as Error).message}`);
  }
  const query = parsed.searchParams;
  const target: RedisTarget = {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1",
    port: parsed.port ? Number(parsed.port) : 6379,
    db: parseDb(query.get("db") ?? query.get("virtual_host") ?? parsed.pathname, url),
    display,
  };
  if (parsed.username) target.username = decodeURIComponent(parsed.username);
  const password = parsed.password ? decodeURIComponent(parsed.password) : query.get("password");
  if (password) target.password = password;
  if (scheme === "rediss:") {
    target.tls = parseTls(query, target.host as string, display);
    target.tlsId = JSON.stringify([query.get("ssl_cert_reqs"), ...Object.keys(TLS_FILES).map((option) => query.get(option))]);
  }
  return target;
}

export interface RedisTls {
  rejectUnauthorized: boolean;
  servername?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** The TLS query options of a rediss:// URL, as redis-py and Celery spell them. */
const TLS_FILES = { ssl_ca_certs: "ca", ssl_certfile: "cert", ssl_keyfile: "key" } as const;

function parseTls(query: URLSearchParams, host: string, display: string): RedisTls {
  const reqs = (query.get("ssl_cert_reqs") ?? "").toLowerCase();
  if (reqs !== "" && !["cert_none", "none", "cert_optional", "optional", "cert_required", "required"].includes(reqs)) {
    throw new ConfigError(`"${display}": ssl_cert_reqs must be CERT_REQUIRED (the default), CERT_OPTIONAL or CERT_NONE, not "${query.get("ssl_cert_reqs")}"`);
  }
  // In a client, Python's CERT_OPTIONAL verifies like CERT_REQUIRED; only CERT_NONE skips verification.
  const tls: RedisTls = { rejectUnauthorized: !(reqs === "cert_none" || reqs === "none") };
  // An IP address is checked against the certificate's IP SANs; SNI must not carry one (RFC 6066).
  if (!isIP(host)) tls.servername = host;
  for (const [option, field] of Object.entries(TLS_FILES) as [keyof typeof TLS_FILES, "ca" | "cert" | "key"][]) {
    const path = query.get(option);
    if (!path) continue;
    try {
      tls[field] = readFileSync(path);
    } catch (error) {
      throw new ConfigError(`"${display}": cannot read ${option} "${path}": ${(error as Error).message}`);
    }
  }
  return tls;
}

/** Identity of a server (pub/sub is server-wide) and of a server + db (commands are db-bound). */
export function serverKey(target: RedisTarget): string {
  return JSON.stringify([target.host, target.port, target.path, target.username, target.password, target.tlsId ?? null]);
}

function dbKey(target: RedisTarget): string {
  return `${serverKey(target)}/${target.db}`;
}

/** Exponential backoff with a cap and jitter: 100, 200, 400 ... 5000 ms by default. */
export function backoffMs(attempt: number, baseMs = 100, capMs = 5000): number {
  const raw = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + Math.random() * 0.2));
}

/**
 * A new ioredis client for `target`, named `celeriac:<role>:<pid>` in CLIENT LIST. It reconnects with
 * exponential backoff, logs each attempt once, and gives up after `connectionMaxRetries` attempts.
 * Commands wait (offline queue) for the reconnection; callers bound that wait with whenReady().
 */
export function createRedisClient(target: RedisTarget, role: string, options: RedisConnectOptions, tuning: Pick<RedisOptions, "enableAutoPipelining" | "autoPipeliningIgnoredCommands"> = {}): Redis {
  let lastError = "";
  const redisOptions: RedisOptions = {
    ...tuning,
    db: target.db,
    connectionName: `celeriac:${role}:${process.pid}`,
    protocol: 2,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectTimeout: options.connectionTimeoutMs,
    disableClientInfo: true,
    retryStrategy: (times: number) => {
      if (times > options.connectionMaxRetries) {
        options.log("error", `redis ${role} ${target.display}: giving up after ${times - 1} reconnect attempts (${lastError})`);
        return null;
      }
      const delay = backoffMs(times, options.reconnectBaseMs, options.reconnectCapMs);
      options.log("warn", `redis ${role} ${target.display}: connection lost (${lastError || "closed"}); reconnect attempt ${times} in ${delay} ms`);
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
  // whenReady() adds one short-lived listener per waiting operation (a burst of publishes while down).
  client.setMaxListeners(0);
  // ioredis emits "error" for every failed attempt; remember it for the one log line per attempt.
  client.on("error", (error: Error) => {
    lastError = error.message;
  });
  let connectedOnce = false;
  client.on("ready", () => {
    if (connectedOnce) options.log("info", `redis ${role} ${target.display}: reconnected`);
    connectedOnce = true;
  });
  return client;
}

/**
 * Resolves when `client` is connected, or rejects with a ConnectionError after `timeoutMs`.
 * Example: `await whenReady(client, 5000, "publish")`.
 */
export function whenReady(client: Redis, timeoutMs: number, what: string): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  if (client.status === "end") return Promise.reject(new ConnectionError(`${what}: the Redis connection is closed`));
  if (client.status === "wait") void client.connect().catch(() => undefined);
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      clearTimeout(timer);
      client.off("end", onEnd);
      resolve();
    };
    const onEnd = (): void => {
      clearTimeout(timer);
      client.off("ready", onReady);
      reject(new ConnectionError(`${what}: the Redis connection was closed`));
    };
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      client.off("end", onEnd);
      reject(new ConnectionError(`${what}: Redis unreachable for ${timeoutMs} ms (brokerConnectionTimeout)`));
    }, timeoutMs);
    client.once("ready", onReady);
    client.once("end", onEnd);
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

const sharedClients = new SharedResources<Redis>((client) => closeClient(client));

function lease(key: string, make: () => Redis): RedisLease {
  const { resource, release } = sharedClients.lease(key, make);
  return { client: resource, release };
}

/**
 * The process's command connection for this server and db. Auto-pipelined: the commands issued in one
 * tick (publishes, acks) go out in one socket write. Lua scripts, MULTI, CLIENT, SCRIPT and the like
 * are never auto-pipelined (ioredis sends them directly), and explicit pipelines stay as they are.
 */
export function leaseCommandClient(target: RedisTarget, options: RedisConnectOptions): RedisLease {
  // Scripts (fetch, store, restore, promote) are batches already: they go out at once, where waiting
  // for the auto-pipeline's setImmediate would hold a batch of results back while the next one runs.
  return lease(`cmd:${dbKey(target)}`, () => createRedisClient(target, "cmd", options, { enableAutoPipelining: true, autoPipeliningIgnoredCommands: ["evalsha", "eval"] }));
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
