// Shared helpers for the Redis tests: a dedicated db on the loopback Redis, broker/backend options that
// record log lines, and CLIENT LIST counting by connection name.
import { after, before } from "node:test";
import { Redis } from "ioredis";
import type { BrokerOptions } from "../../src/broker/broker.ts";
import type { BackendOptions } from "../../src/backend/backend.ts";

export const REDIS_HOST = "127.0.0.1";
// CELERIAC_TEST_REDIS_PORT points the suite at another server (a private one, when others share 6379).
export const REDIS_PORT = Number(process.env["CELERIAC_TEST_REDIS_PORT"] ?? 6379);

export function redisUrl(db: number): string {
  return `redis://${REDIS_HOST}:${REDIS_PORT}/${db}`;
}

export interface LogLine {
  level: string;
  message: string;
}

export function brokerOptions(logs: LogLine[] = [], overrides: Partial<BrokerOptions> = {}): BrokerOptions {
  return {
    connectionMaxRetries: Infinity,
    connectionTimeoutMs: 5000,
    heartbeatSeconds: 0,
    visibilityTimeoutSeconds: 3600,
    log: (level, message) => logs.push({ level, message }),
    ...overrides,
  };
}

export function backendOptions(logs: LogLine[] = [], overrides: Partial<BackendOptions> = {}): BackendOptions {
  return {
    brokerUrl: redisUrl(0),
    replyTo: "test-reply-to",
    resultExpiresSeconds: 3600,
    connectionTimeoutMs: 5000,
    log: (level, message) => logs.push({ level, message }),
    ...overrides,
  };
}

/** A plain admin client on `db` (not counted: named celeriac-test-admin). */
export function adminClient(db: number): Redis {
  return new Redis({ host: REDIS_HOST, port: REDIS_PORT, db, connectionName: "celeriac-test-admin", protocol: 2 });
}

/** Connections of this process opened by Celeriac, by role (cmd, blocking, sub). */
export async function ourConnections(admin: Redis): Promise<Record<string, number>> {
  const list = (await admin.client("LIST")) as string;
  const counts: Record<string, number> = {};
  for (const line of list.split("\n")) {
    const name = /\bname=celeriac:(\w+):(\d+)\b/.exec(line);
    if (!name || Number(name[2]) !== process.pid) continue;
    counts[name[1] as string] = (counts[name[1] as string] ?? 0) + 1;
  }
  return counts;
}

export function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** Flushes `admin`'s db before the file's tests and, after them, closes `open` and flushes it again. */
export function freshDbAround(admin: Redis, open: readonly { close(): Promise<void> }[]): void {
  before(async () => {
    await admin.flushdb();
  });
  after(async () => {
    for (const closable of open) await closable.close();
    await admin.flushdb();
    await admin.quit();
  });
}
