// Reading a broker's transport options (the app's `brokerTransportOptions`): each key checked against
// the broker's own table, unknown keys refused with the nearest known one. Every broker uses this.
import { ConfigError } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";

/** Per key: the check a value must pass, and the expected form an error message names. */
export type OptionChecks<T> = { [K in keyof T]: { ok: (value: unknown) => boolean; expected: string } };

const show = (value: unknown): string => (value === undefined ? "undefined" : JSON.stringify(value) ?? String(value));

/**
 * The defaults overlaid with `raw`, every key validated. Example:
 * `parseOptions({ maxPriority: 10 }, DEFAULTS, CHECKS, "AMQP")`; an unknown key throws ConfigError naming the nearest.
 */
export function parseOptions<T extends object>(raw: Readonly<Record<string, unknown>> | undefined, defaults: Readonly<T>, checks: OptionChecks<T>, broker: string): T {
  const known = Object.keys(defaults);
  const options: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (!known.includes(key)) {
      throw new ConfigError(`brokerTransportOptions: unknown key "${key}" for the ${broker} broker${didYouMean(key, known)}; known keys: ${known.join(", ")}`);
    }
    // undefined means "not set", as elsewhere in the config (an optional field left out).
    if (value === undefined) continue;
    const check = checks[key as keyof T];
    if (!check.ok(value)) throw new ConfigError(`brokerTransportOptions.${key} is ${show(value)}; expected ${check.expected}`);
    options[key] = value;
  }
  return options as T;
}
