// URL helpers: read a connection URL's scheme, and mask its credentials before it is logged.
import { ConfigError } from "./errors.ts";

/** The lower-cased scheme with its colon, e.g. "redis:". */
export function schemeOf(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:)/i.exec(url);
  if (!match?.[1]) throw new ConfigError(`"${url}" is not a URL; expected a form like "redis://localhost:6379/0"`);
  return match[1].toLowerCase();
}

/**
 * The URL with its password (in the authority, or a `password=` query option as redis-py accepts it)
 * replaced by "****", safe to print. Example: `maskUrl("redis://:s3cret@h/0")`.
 */
export function maskUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_all, scheme: string, auth: string) => {
      const colon = auth.indexOf(":");
      return colon === -1 ? `${scheme}${auth}@` : `${scheme}${auth.slice(0, colon)}:****@`;
    })
    .replace(/([?&]password=)[^&#]*/gi, "$1****");
}
