// Parses Celery-style amqp://, amqps:// and pyamqp:// broker URLs as kombu reads them: credentials
// (missing ones default to guest), vhost (where `amqp://host//` means "/"), TLS files and per-URL
// heartbeat and timeout overrides.
import { readFileSync } from "node:fs";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import { ConfigError } from "../util/errors.ts";
import { maskUrl } from "../util/url.ts";

/** A parsed broker URL. */
export interface AmqpUrl {
  tls: boolean;
  hostname: string;
  port: number;
  username: string;
  password: string;
  /** Decoded vhost: `amqp://h//` and `amqp://h/` both mean "/", as in kombu. */
  vhost: string;
  /** URL query overrides (`?heartbeat=10&connection_timeout=5000`). */
  heartbeatSeconds?: number;
  connectionTimeoutMs?: number;
  frameMax?: number;
  tlsOptions: TlsOptions;
}

/** A certificate or key file named in the URL; unreadable, it is a configuration error (never retried). */
const readTlsFile = (url: string, key: string, path: string): Buffer => {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${maskUrl(url)}: cannot read ${key} "${path}": ${(error as Error).message}`);
  }
};

const num = (url: string, key: string, value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${maskUrl(url)}: query option ${key}=${value} is not a non-negative number`);
  return n;
};

/**
 * Parses an amqp://, amqps:// or pyamqp:// URL the way kombu does. Example:
 * `parseAmqpUrl("amqps://user:pw@mq.example.com/prod?heartbeat=30&cafile=/etc/ca.pem")`.
 * Defaults: user guest, password guest (also when only a user is given, as kombu fills in each missing
 * value), port 5672 (5671 for amqps), vhost "/". pyamqp:// (kombu's name for its py-amqp transport,
 * as in Celery's `pyamqp://guest@localhost//`) is amqp://.
 */
export function parseAmqpUrl(url: string): AmqpUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`"${maskUrl(url)}" is not a valid AMQP URL; expected e.g. amqp://guest:guest@localhost:5672//`);
  }
  const tls = parsed.protocol === "amqps:";
  if (!tls && parsed.protocol !== "amqp:" && parsed.protocol !== "pyamqp:") {
    throw new ConfigError(`"${maskUrl(url)}": expected an amqp://, amqps:// or pyamqp:// URL`);
  }
  // kombu strips exactly one leading slash: "//" -> "/", "/" or "" -> "/" (the default), "/%2F" -> "/".
  const rawVhost = parsed.pathname.startsWith("/") ? parsed.pathname.slice(1) : parsed.pathname;
  const vhost = rawVhost === "" ? "/" : decodeURIComponent(rawVhost);
  const result: AmqpUrl = {
    tls,
    hostname: parsed.hostname.replace(/^\[|\]$/g, "") || "localhost",
    port: parsed.port ? Number(parsed.port) : tls ? 5671 : 5672,
    username: parsed.username ? decodeURIComponent(parsed.username) : "guest",
    // kombu replaces a missing or empty password with the transport default, so `pyamqp://guest@h//` logs in as guest/guest.
    password: parsed.password ? decodeURIComponent(parsed.password) : "guest",
    vhost,
    tlsOptions: {},
  };
  for (const [key, value] of parsed.searchParams) {
    switch (key) {
      case "heartbeat":
        result.heartbeatSeconds = num(url, key, value);
        break;
      case "connection_timeout":
      case "connect_timeout":
        // kombu's connect_timeout is in seconds; ours (connection_timeout) in milliseconds.
        result.connectionTimeoutMs = key === "connect_timeout" ? num(url, key, value) * 1000 : num(url, key, value);
        break;
      case "frame_max":
      case "frameMax":
        result.frameMax = num(url, key, value);
        break;
      case "cafile":
      case "ssl_ca_certs":
        result.tlsOptions.ca = readTlsFile(url, key, value);
        break;
      case "certfile":
      case "ssl_certfile":
        result.tlsOptions.cert = readTlsFile(url, key, value);
        break;
      case "keyfile":
      case "ssl_keyfile":
        result.tlsOptions.key = readTlsFile(url, key, value);
        break;
      case "ssl_cert_reqs":
      case "verify":
        result.tlsOptions.rejectUnauthorized = !/^(CERT_NONE|false|0|no)$/i.test(value);
        break;
      case "servername":
      case "server_hostname":
        result.tlsOptions.servername = value;
        break;
      default:
        throw new ConfigError(`${maskUrl(url)}: unknown query option "${key}"; known: heartbeat, connection_timeout, frame_max, cafile, certfile, keyfile, ssl_cert_reqs, servername`);
    }
  }
  return result;
}
