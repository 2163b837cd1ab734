// Parses Redis URLs the way kombu and Celery accept them: redis://, rediss:// (TLS with redis-py's
// option names), and unix sockets; plus the identity that decides which connections may be shared.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { ConfigError } from "../util/errors.ts";
import { maskUrl } from "../util/url.ts";

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
