// The consuming broker's periodic chores: move due delayed messages to their queues (promote.lua),
// give back claims of dead consumers after the visibility timeout (restore.lua, kombu's restore_visible,
// and restore-compact.lua for compact messages), and keep our own in-flight claims fresh so nobody
// restores a task that is still running.
import type { Redis } from "ioredis";
import type { BrokerOptions } from "../broker.ts";
import { KEYS, runScript } from "./scripts.ts";

export interface MaintenanceHost {
  readonly commandClient: Redis;
  /** Unsettled delivery tags; true for a compact message (claimed in our own pair). */
  readonly inflight: ReadonlyMap<string, boolean>;
}

/** Longest sleep between promote checks: a delayed message published elsewhere waits at most this late. */
const PROMOTE_TICK_MS = 1000;
const PROMOTE_BATCH = 500;
const RESTORE_BATCH = 100;

export class Maintenance {
  private timer: NodeJS.Timeout | null = null;
  private nextPromoteAt = 0;
  private nextRestoreAt = 0;
  private nextKeepAliveAt = 0;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly restoreEveryMs: number;
  private readonly keepAliveEveryMs: number;

  constructor(
    private readonly host: MaintenanceHost,
    private readonly options: BrokerOptions,
  ) {
    const visibilityMs = options.visibilityTimeoutSeconds * 1000;
    // Restore often enough that a dead worker's task comes back soon after its timeout (kombu: ~10 s).
    this.restoreEveryMs = Math.max(250, Math.min(10_000, visibilityMs / 2));
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
    // A chore caught by a lost connection waits for a reconnection that may never come; closing the
    // client drops it (run again by whoever does maintenance next).
    if (this.host.commandClient.status === "ready") await this.running;
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
        const kombu: (string | number)[] = [];
        const compact: (string | number)[] = [];
        for (const [tag, isCompact] of this.host.inflight) (isCompact ? compact : kombu).push(stamp, tag);
        // ZADD XX: refresh only claims still present (an ack may have just removed one).
        if (kombu.length > 0) await client.zadd(KEYS.unackedIndex, "XX", ...kombu);
        if (compact.length > 0) await client.zadd(KEYS.compactUnackedIndex, "XX", ...compact);
      }
      if (now >= this.nextRestoreAt) {
        this.nextRestoreAt = now + this.restoreEveryMs;
        const ceiling = Date.now() / 1000 - this.options.visibilityTimeoutSeconds;
        const kombu = Number(await runScript(client, "restore", [KEYS.unacked, KEYS.unackedIndex, KEYS.unackedMutex], [ceiling, RESTORE_BATCH]));
        const compact = Number(await runScript(client, "restore-compact", [KEYS.compactUnacked, KEYS.compactUnackedIndex], [ceiling, RESTORE_BATCH]));
        const restored = Math.max(0, kombu) + compact;
        if (restored > 0) this.options.log("warn", `redis broker: restored ${restored} unacknowledged messages older than the visibility timeout (${this.options.visibilityTimeoutSeconds} s)`);
        if (kombu >= RESTORE_BATCH || compact >= RESTORE_BATCH) this.nextRestoreAt = now;
      }
    } catch (error) {
      this.options.log("warn", `redis broker maintenance: ${(error as Error).message}`);
    } finally {
      const wakeAt = Math.min(this.nextPromoteAt, this.nextKeepAliveAt, this.nextRestoreAt, Date.now() + PROMOTE_TICK_MS);
      this.schedule(wakeAt - Date.now());
    }
  }
}
