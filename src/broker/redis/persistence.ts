// The check a consuming Redis broker runs once at worker start: a server that neither appends to an
// AOF nor saves RDB snapshots loses every queued task (and every claim) when it restarts, which no
// acknowledgement scheme on our side can prevent, so say so once, loudly.
import type { Redis } from "ioredis";

/**
 * Logs a warning when the server has `appendonly no` and no `save` rules. Quiet when CONFIG is disabled,
 * renamed or refused (managed Redis often does that): no answer is not a finding. Never throws.
 * Example: `await warnIfNotPersistent(client, "redis://localhost:6379/0", log)`.
 */
export async function warnIfNotPersistent(client: Redis, display: string, log: (level: "warn", message: string) => void): Promise<void> {
  let appendonly: string | undefined;
  let save: string | undefined;
  try {
    [appendonly, save] = await Promise.all([configValue(client, "appendonly"), configValue(client, "save")]);
  } catch {
    return;
  }
  if (appendonly !== "no" || save !== "") return;
  log(
    "warn",
    `redis broker ${display}: the server keeps no persistence (appendonly no, no save rules): a Redis restart loses every queued and running task. ` +
      `Enable AOF (appendonly yes) or RDB snapshots (save) unless that is intended.`,
  );
}

async function configValue(client: Redis, name: string): Promise<string | undefined> {
  // CONFIG GET answers [name, value], or [] for a name it does not know.
  const reply = (await client.call("CONFIG", "GET", name)) as string[];
  return reply[1];
}
