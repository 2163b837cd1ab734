// Tells a connection failure that will not heal from one that may: a refused login, permission, vhost
// or db, a server at its client limit, or a certificate that fails verification becomes a
// ConnectionRefusedPermanently (never retried); anything else (a refused or reset socket, a timeout, a
// server restarting) is left to the caller's bounded retries.
import { ConnectionRefusedPermanently, type RefusalReason } from "../util/errors.ts";

interface Rule {
  test: RegExp;
  reason: RefusalReason;
  hint: string;
}

/** Redis replies to the handshake (AUTH, SELECT, the ready check) that no reconnect can change. */
const REDIS_RULES: Rule[] = [
  { test: /^WRONGPASS\b|^ERR invalid (username-)?password/, reason: "auth", hint: "check the user and password in the URL" },
  { test: /^NOAUTH\b/, reason: "auth", hint: "the server requires a password: redis://:<password>@host:port/db" },
  { test: /^NOPERM\b/, reason: "permission", hint: "the user's ACL does not allow what Celeriac needs" },
  { test: /^ERR DB index is out of range/, reason: "db", hint: "the server has fewer databases (its `databases` setting) than the URL's db number" },
  { test: /^ERR max number of clients reached/, reason: "maxclients", hint: "the server is at its `maxclients` limit: raise it, or close other clients" },
  { test: /^DENIED\b/, reason: "denied", hint: "the server runs in protected mode and accepts no remote clients" },
];

const VHOST_HINT = "the vhost does not exist, the user has no permission on it, or its connection limit is reached";

/** AMQP connection.close replies during the opening handshake (amqplib puts them in the message). */
const AMQP_RULES: Rule[] = [
  { test: /ACCESS[-_]REFUSED/, reason: "auth", hint: "wrong user or password, or the user may not log in from this host" },
  { test: /NOT[-_]ALLOWED/, reason: "vhost", hint: VHOST_HINT },
];

/** Node's certificate verification codes (tls.TLSSocket.authorizationError) and TLS protocol mismatches. */
const TLS_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);

function tlsHint(code: string): string {
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER") return "the port does not speak TLS: use the server's TLS port, or a non-TLS URL";
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || code === "HOSTNAME_MISMATCH") return "connect by a name the certificate was issued for";
  return "trust the server's CA (ssl_ca_certs=<file> for Redis, cafile=<file> for AMQP), or for a lab only ssl_cert_reqs=CERT_NONE";
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

function refuse(display: string, reason: RefusalReason, text: string, hint: string, cause: unknown): ConnectionRefusedPermanently {
  return new ConnectionRefusedPermanently(reason, `cannot connect to ${display}: ${text.trim()} (${hint}; not retried)`, { cause });
}

function tlsRefusal(error: unknown, display: string): ConnectionRefusedPermanently | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !TLS_CODES.has(code)) return null;
  // OpenSSL's own text for a protocol mismatch is a file path and line; the code says it better.
  const text = code.startsWith("ERR_SSL_") ? code : `TLS certificate verification failed: ${messageOf(error)} (${code})`;
  return refuse(display, "tls", text, tlsHint(code), error);
}

function byRules(rules: readonly Rule[], error: unknown, display: string): ConnectionRefusedPermanently | null {
  const text = messageOf(error);
  const rule = rules.find((candidate) => candidate.test.test(text));
  return rule ? refuse(display, rule.reason, text, rule.hint, error) : null;
}

/**
 * The permanent refusal a Redis client error stands for, or null when a reconnect may succeed.
 * Example: `redisRefusal(new Error("WRONGPASS invalid username-password pair"), "redis://:****@h/0")?.reason === "auth"`.
 */
export function redisRefusal(error: unknown, display: string): ConnectionRefusedPermanently | null {
  return tlsRefusal(error, display) ?? byRules(REDIS_RULES, error, display);
}

/**
 * The permanent refusal an amqplib connect error stands for, or null when a reconnect may succeed.
 * Example: `amqpRefusal(error, "amqp://guest:****@h//", "/")`.
 */
export function amqpRefusal(error: unknown, display: string, vhost: string): ConnectionRefusedPermanently | null {
  const known = tlsRefusal(error, display) ?? byRules(AMQP_RULES, error, display);
  if (known) return known;
  // amqplib drops RabbitMQ's reply text when the server closes at connection.open, which RabbitMQ
  // does only to refuse the vhost (530 NOT_ALLOWED): name what we know instead.
  if (/^Expected ConnectionOpenOk; got <ConnectionClose/.test(messageOf(error))) {
    return refuse(display, "vhost", `RabbitMQ refused to open vhost "${vhost}" (530 NOT_ALLOWED)`, VHOST_HINT, error);
  }
  return null;
}
