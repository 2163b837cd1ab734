// URL helpers: read a connection URL's scheme, and mask every credential in it before it is printed
// (banners, logs, error messages).
import { ConfigError } from "./errors.ts";

/** The lower-cased scheme with its colon, e.g. "redis:". */
export function schemeOf(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:)/i.exec(url);
  if (!match?.[1]) throw new ConfigError(`"${maskUrl(url)}" is not a URL; expected a form like "redis://localhost:6379/0"`);
  return match[1].toLowerCase();
}

const MASK = "****";

/** kombu's failover lists (`redis://a;redis://b`): split only where a new URL starts, as a password may hold a `;`. */
const LIST_SEPARATOR = /;(?=[a-z][a-z0-9+.-]*:\/\/)/i;

/** The scheme and the slashes after it, when there are any (`redis://`, `redis:/`, `//`). */
const PREFIX = /^(?:[a-z][a-z0-9+.-]*:)?\/*/i;

/**
 * Query (or query-like) parameters whose values are secrets: password, pass, passwd, pwd,
 * sentinel_password, and any key holding "pass", "secret", "token", "credential", "auth" or "apikey".
 */
const SECRET_PARAM = /(^|[?&;\s])([^=&?#;/\s]*(?:pass|pwd|secret|token|credential|auth|api[_-]?key)[^=&?#;/\s]*)=([^&#\s]+)/gi;

/**
 * The URL with every credential replaced by "****", safe to print: the password of the user-info
 * (`user:****@`), secret query parameters (`?password=****`), each URL of a `;`-separated list, and a
 * malformed URL too (best effort on the raw text: everything before the last "@" after the user name,
 * or a non-numeric "port" that is likely a password missing its "@host").
 * Example: `maskUrl("redis://:s3cret@h/0?sentinel_password=x")` is `"redis://:****@h/0?sentinel_password=****"`.
 */
export function maskUrl(url: string): string {
  return url.split(LIST_SEPARATOR).map(maskOne).join(";");
}

function maskOne(url: string): string {
  const prefix = PREFIX.exec(url)?.[0] ?? "";
  let rest = url.slice(prefix.length);
  // The last "@" and not the first: an unencoded "@" or "/" in a password is common, and
  // over-masking a stray "@" in a query value loses only display.
  const at = rest.lastIndexOf("@");
  if (at !== -1) rest = maskUserInfo(rest.slice(0, at)) + rest.slice(at);
  else rest = maskBarePort(rest);
  return prefix + rest.replace(SECRET_PARAM, (_all, separator: string, key: string) => `${separator}${key}=${MASK}`);
}

/** `user:pass` → `user:****`; a user name alone is not a secret and stays. */
function maskUserInfo(userInfo: string): string {
  const colon = userInfo.indexOf(":");
  return colon === -1 ? userInfo : `${userInfo.slice(0, colon)}:${MASK}`;
}

/** `redis://user:s3cret` (the "@host" forgotten): a "port" that is not a number is masked. */
function maskBarePort(rest: string): string {
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const colon = authority.replace(/^\[[^\]]*\]/, (ipv6) => "x".repeat(ipv6.length)).indexOf(":");
  if (colon === -1 || /^\d*$/.test(authority.slice(colon + 1))) return rest;
  return `${authority.slice(0, colon)}:${MASK}${rest.slice(authority.length)}`;
}
