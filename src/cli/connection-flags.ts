// The --broker and --backend flags that every command takes, turned into config overrides in one place
// so `worker`, `call` and `result` read them the same way.
import type { Config } from "../app/config.ts";

export interface ConnectionFlags {
  broker?: string | undefined;
  backend?: string | undefined;
}

/**
 * Config overrides for the flags given; `--backend none` disables results (resultBackend null).
 * Example: `connectionOverrides({ broker: "redis://localhost:6379/0", backend: "none" })`.
 */
export function connectionOverrides(flags: ConnectionFlags): Partial<Config> {
  const overrides: Partial<Config> = {};
  if (flags.broker) overrides.brokerUrl = flags.broker;
  if (flags.backend) overrides.resultBackend = flags.backend === "none" ? null : flags.backend;
  return overrides;
}
