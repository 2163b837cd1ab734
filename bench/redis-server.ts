// The Redis the benchmark runs against: a private redis-server child on a free loopback port (nothing
// saved to disk), or a URL given with --redis; plus the harness's admin connection, which reads INFO
// (memory, commandstats, cpu), counts clients, flushes between runs and releases staged queues.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { startAgent, type Agent } from "./children.ts";

/** Connection name of every harness connection: never counted as a system's. */
export const HARNESS_NAME = "bench-harness";

export interface RedisHandle {
  url: string;
  /** Stop the private server (no-op for a given URL). */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Start `redis-server` on a free private port; resolves once it answers PING (within 10 s). */
export async function startPrivateRedis(): Promise<RedisHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "celeriac-bench-"));
  const server: Agent = startAgent("redis-server", "redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"]);
  const url = `redis://127.0.0.1:${port}/0`;
  const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectionName: HARNESS_NAME });
  probe.on("error", () => undefined); // refused until the server listens: retried below
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (error) {
      probe.disconnect();
      if (Date.now() > deadline) {
        await server.stop(0);
        throw new Error(`redis-server did not answer on port ${port}: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  probe.disconnect();
  return {
    url,
    stop: async () => {
      await server.stop(2000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CommandStat {
  calls: number;
  usec: number;
}

/** INFO commandstats parsed: command name (lower case, subcommands as "config|get") -> calls and usec. */
export function parseCommandStats(info: string): Map<string, CommandStat> {
  const stats = new Map<string, CommandStat>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    stats.set(match[1] as string, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return stats;
}

/** after − before, per command (commands only in `after` count from zero). */
export function diffStats(before: Map<string, CommandStat>, after: Map<string, CommandStat>): Map<string, CommandStat> {
  const out = new Map<string, CommandStat>();
  for (const [name, stat] of after) {
    const prior = before.get(name) ?? { calls: 0, usec: 0 };
    if (stat.calls > prior.calls) out.set(name, { calls: stat.calls - prior.calls, usec: stat.usec - prior.usec });
  }
  return out;
}

export interface Snapshot {
  stats: Map<string, CommandStat>;
  /** Main-thread CPU seconds (user + sys) of the Redis process. */
  cpuSeconds: number;
}

export class Admin {
  readonly client: Redis;

  constructor(url: string) {
    this.client = new Redis(url, { connectionName: HARNESS_NAME, maxRetriesPerRequest: 2 });
  }

  async flushAll(): Promise<void> {
    await this.client.flushall();
    await this.client.script("FLUSH");
  }

  async usedMemory(): Promise<number> {
    return Number(/^used_memory:(\d+)/m.exec(await this.client.info("memory"))?.[1] ?? NaN);
  }

  async snapshot(): Promise<Snapshot> {
    const [stats, cpu] = await Promise.all([this.client.info("commandstats"), this.client.info("cpu")]);
    const read = (key: string): number => Number(new RegExp(`^${key}:([\\d.]+)`, "m").exec(cpu)?.[1] ?? 0);
    return { stats: parseCommandStats(stats), cpuSeconds: read("used_cpu_user_main_thread") + read("used_cpu_sys_main_thread") };
  }

  /** Connections open now that are not the harness's own. */
  async clientCount(): Promise<number> {
    const list = (await this.client.client("LIST")) as string;
    return list.split("\n").filter((line) => line.includes("id=") && !line.includes(`name=${HARNESS_NAME}`)).length;
  }

  async serverVersion(): Promise<string> {
    return /^redis_version:(\S+)/m.exec(await this.client.info("server"))?.[1] ?? "unknown";
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}

/** Sample `sample` every `everyMs` until `until` settles; resolves with the largest value seen. */
export async function maxWhile(sample: () => Promise<number>, until: Promise<unknown>, everyMs = 25): Promise<number> {
  let max = 0;
  let done = false;
  void until.finally(() => (done = true)).catch(() => undefined);
  for (let i = 0; !done && i < 100_000; i++) {
    max = Math.max(max, await sample().catch(() => 0));
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return max;
}
