// A Lua script run with EVALSHA (one short command per call), falling back to EVAL when the server does
// not know it yet (first use, or after a restart or SCRIPT FLUSH). Shared by the Redis broker's scripts
// and the Redis result backend's.
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

export class RedisScript {
  readonly sha: string;

  /** `source`: the script's whole text. Example: `new RedisScript("return redis.call('GET', KEYS[1])")`. */
  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** Run with `keys` and `args`. Example: `await script.run(client, ["k"], [1])`. */
  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
