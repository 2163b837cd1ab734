// The consuming broker's periodic chores: move due delayed messages to their queues (promote.lua),
// give back claims of dead consumers after the visibility timeout (restore-own.lua for ours,
// restore.lua, kombu's restore_visible, for kombu's shared hash by kombu's longer timeout), give back
// what dead consumers' in-flight lists hold (recover.lua), and keep our own claims fresh so nobody
// restores a task that is still running.
import type { Redis } from "ioredis";
import type { BrokerOptions } from "../broker.ts";
import { bounded } from "../../connection/redis.ts";
import { KEYS, runScript } from "./scripts.ts";

export interface MaintenanceHost {
  readonly commandClient: Redis;
  /** Unsettled delivery tags (claimed in our own pair). */
  readonly inflight: ReadonlySet<string>;
}

/** Longest sleep between promote checks: a delayed message published elsewhere waits at most this late. */
const PROMOTE_TICK_MS = 1000;
const PROMOTE_BATCH = 500;
const RESTORE_BATCH = 100;
/** How often (fleet-wide: one consumer's run counts for all) in-flight lists are given back. */
const RECOVER_EVERY_MS = 1000;
/** Registry entries of in-flight lists not armed for this long are forgotten: their consumer is gone. */
const FORGET_INFLIGHT_AFTER_MS = 3600_000;

export class Maintenance {
  private timer: NodeJS.Timeout | null = null;
  private nextPromoteAt = 0;
  private nextRestoreAt = 0;
  private nextKeepAliveAt = 0;
  private nextRecoverAt = 0;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly restoreEveryMs: number;
  private readonly keepAliveEveryMs: number;

  constructor(
    private readonly host: MaintenanceHost,
    private readonly options: BrokerOptions,
    /** The timeout for kombu's shared `unacked` hash (transport option kombuVisibilityTimeout). */
    private readonly kombuVisibilityTimeoutSeconds: number,
  ) {
    const visibilityMs = options.visibilityTimeoutSeconds * 1000;
    // Restore often enough that a dead worker's task comes back soon after its timeout (kombu: ~10 s).
    this.restoreEveryMs = Math.max(250, Math.min(10_000, Math.min(visibilityMs, kombuVisibilityTimeoutSeconds * 1000) / 2));
    // Refresh claims well inside the timeout, so a long acksLate task is never seen as abandoned.
    this.keepAliveEveryMs = Math.max(200, Math.min(60_000, visibilityMs / 3));
    this.schedule(0);
  }

  /** A message of ours is due at `dueMs`: wake up by then rather than at the next tick. */
  promoteBy(dueMs: number): void {
    if (dueMs < this.nextPromoteAt) {
      this.nextPromoteAt = dueMs;
      this.schedule(dueMs - Date.now());
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    // A chore caught by a lost or stalled connection waits for a reply that may never come; closing the
    // client drops it (run again by whoever does maintenance next).
    if (this.running && this.host.commandClient.status === "ready") {
      await bounded(this.running, Date.now() + this.options.connectionTimeoutMs, "maintenance").catch(() => undefined);
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => (this.running = null));
    }, Math.max(0, delayMs));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const client = this.host.commandClient;
    const now = Date.now();
    if (client.status !== "ready") {
      this.schedule(PROMOTE_TICK_MS);
      return;
    }
    try {
      if (now >= this.nextPromoteAt) {
        const [moved, nextDue] = (await runScript(client, "promote", [KEYS.delayed], [now, PROMOTE_BATCH])) as [number, number | string];
        const next = Number(nextDue);
        // A full batch means more may be due right now.
        this.nextPromoteAt = moved >= PROMOTE_BATCH ? now : Math.min(now + PROMOTE_TICK_MS, next >= 0 ? next : Infinity);
      }
      if (now >= this.nextKeepAliveAt) {
        this.nextKeepAliveAt = now + this.keepAliveEveryMs;
        const stamp = Date.now() / 1000;
        const members: (string | number)[] = [];
        for (const tag of this.host.inflight) members.push(stamp, tag);
        // ZADD XX: refresh only claims still present (an ack may have just removed one).
        if (members.length > 0) await client.zadd(KEYS.ownUnackedIndex, "XX", ...members);
      }
      if (now >= this.nextRecoverAt) {
        this.nextRecoverAt = now + RECOVER_EVERY_MS;
        const moved = Number(await runScript(client, "recover", [KEYS.inflightRegistry, KEYS.inflightLock], [Date.now() - FORGET_INFLIGHT_AFTER_MS, RECOVER_EVERY_MS]));
        if (moved > 0) this.options.log("warn", `redis broker: gave back ${moved} messages that consumers had taken but not claimed (a consumer died while waiting)`);
      }
      if (now >= this.nextRestoreAt) {
        this.nextRestoreAt = now + this.restoreEveryMs;
        const own = Number(await runScript(client, "restore-own", [KEYS.ownUnacked, KEYS.ownUnackedIndex], [Date.now() / 1000 - this.options.visibilityTimeoutSeconds, RESTORE_BATCH]));
        const kombuCeiling = Date.now() / 1000 - this.kombuVisibilityTimeoutSeconds;
        const kombu = Number(await runScript(client, "restore", [KEYS.unacked, KEYS.unackedIndex, KEYS.unackedMutex], [kombuCeiling, RESTORE_BATCH]));
        if (own > 0) this.options.log("warn", `redis broker: restored ${own} unacknowledged messages older than the visibility timeout (${this.options.visibilityTimeoutSeconds} s)`);
        if (kombu > 0) this.options.log("warn", `redis broker: restored ${kombu} unacknowledged messages of kombu's unacked hash older than kombuVisibilityTimeout (${this.kombuVisibilityTimeoutSeconds} s)`);
        if (own >= RESTORE_BATCH || kombu >= RESTORE_BATCH) this.nextRestoreAt = now;
      }
    } catch (error) {
      this.options.log("warn", `redis broker maintenance: ${(error as Error).message}`);
    } finally {
      const wakeAt = Math.min(this.nextPromoteAt, this.nextKeepAliveAt, this.nextRecoverAt, this.nextRestoreAt, Date.now() + PROMOTE_TICK_MS);
      this.schedule(wakeAt - Date.now());
    }
  }
}
