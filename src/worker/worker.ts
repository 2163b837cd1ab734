// The worker: connects the app's broker and backend, consumes its queues with a prefetch window of
// concurrency × multiplier, and hands each delivery to the pipeline. stop() is the graceful shutdown:
// take no more work, give back every message not started, let running tasks finish within the timeout
// (then end them at once, as terminate() does: shutdown.ts). The app's worker hooks run around it all.
import { setMaxListeners } from "node:events";
import type { App } from "../app/app.ts";
import { RunningTasks } from "../app/running-tasks.ts";
import type { Consumer, Delivery, RejectOptions } from "../broker/broker.ts";
import { EtaScheduler } from "./eta.ts";
import { handleDelivery, type PipelineParts } from "./pipeline.ts";
import { LossAccounting, type LossGroup, type LostOutcome } from "./lost-deliveries.ts";
import { AsyncPool } from "./pool/async-pool.ts";
import { RateLimiter } from "./rate-limit.ts";
import { RevokedSet } from "./revoked.ts";
import type { WorkerCounters } from "./settle.ts";
import { Drain } from "./shutdown.ts";
import { checkStrayErrorLimit, DEFAULT_STRAY_ERROR_LIMIT, guardAgainstStrayErrors, type StrayErrorLimit } from "./stray-errors.ts";
import { CeleriacError } from "../util/errors.ts";

export interface WorkerOptions {
  /** Queues to consume. Default: the app's taskDefaultQueue. */
  queues?: string[];
  /** Tasks run at once. Default: the app's workerConcurrency. */
  concurrency?: number;
  /** Default: the app's workerPrefetchMultiplier. */
  prefetchMultiplier?: number;
  /** Default `celeriac@<host>`. */
  hostname?: string;
  /** Seconds to wait for running tasks on stop before ending them at once. Default: the app's workerShutdownTimeout. */
  shutdownTimeout?: number;
  /**
   * Catch errors that escape tasks (unhandled rejections, throws in timers) in process-wide handlers
   * instead of letting Node exit the process; see worker/stray-errors.ts. Default true; false leaves
   * them to Node (or to your own handlers).
   */
  isolateTasks?: boolean;
  /** Stop gracefully when more than `count` errors escape outside any running task within `seconds`. Default 10 in 60 s. */
  strayErrorLimit?: StrayErrorLimit;
}

/** What a worker has counted since it was created: its own deliveries, and errors that escaped its tasks. */
export type WorkerStats = WorkerCounters & { strayErrors: number };

export type WorkerState = "idle" | "starting" | "running" | "stopping" | "stopped";

/**
 * A worker for an app. Example:
 * ```ts
 * const worker = createWorker(app, { queues: ["celery"], concurrency: 20 });
 * await worker.start();
 * process.on("SIGTERM", () => worker.stop());
 * ```
 */
export class Worker {
  readonly queues: string[];
  readonly concurrency: number;
  readonly prefetch: number;
  readonly hostname: string;
  readonly stats: WorkerStats = { received: 0, succeeded: 0, failed: 0, retried: 0, rejected: 0, revoked: 0, strayErrors: 0 };
  private state: WorkerState = "idle";
  private consumer: Consumer | null = null;
  private stopControl: (() => Promise<void>) | null = null;
  private readonly stopping = new AbortController();
  private readonly forceStop = new AbortController();
  private readonly running = new RunningTasks();
  private readonly drain = new Drain({ running: this.running, forceStop: this.forceStop, returnUnsettled: () => this.returnUnsettled() });
  /** The start hooks have begun and the stop hooks have not: they run as the worker stops. */
  private hooksToStop = false;
  private readonly ledger: Ledger = {
    unsettled: new Set<GuardedDelivery>(),
    onReject: (requeue) => {
      if (requeue && this.state === "stopping") this.returnedToQueue++;
    },
    onLost: (delivery, outcome) => this.losses.record(delivery, outcome),
  };
  private readonly losses = new LossAccounting(this.ledger.unsettled, (counts) => this.app.events.emit("worker:deliveries-lost", { hostname: this.hostname, ...counts }));
  private watchedAck: Promise<void> | null = null;
  private readonly revoked = new RevokedSet();
  private returnedToQueue = 0;
  private stopped: Promise<number> | null = null;
  private stopIsolating: (() => void) | null = null;
  private readonly strayErrorLimit: StrayErrorLimit;
  /** Aborted by stop(): a start still waiting for its broker gives up at once. */
  private readonly startAbort = new AbortController();
  private starting: Promise<void> | null = null;
  private stopWatchingBroker: (() => void) | null = null;
  private lostWith: Error | null = null;
  private markStopped: (returned: number) => void = () => {};
  private readonly finished = new Promise<number>((resolve) => (this.markStopped = resolve));

  constructor(
    readonly app: App,
    private readonly options: WorkerOptions = {},
  ) {
    this.queues = options.queues?.length ? options.queues : [app.config.taskDefaultQueue];
    this.concurrency = options.concurrency ?? app.config.workerConcurrency;
    this.prefetch = this.concurrency * (options.prefetchMultiplier ?? app.config.workerPrefetchMultiplier);
    this.hostname = options.hostname ?? app.hostname;
    this.strayErrorLimit = checkStrayErrorLimit(options.strayErrorLimit ?? DEFAULT_STRAY_ERROR_LIMIT);
    // Every waiting and running task listens to these two signals; there is no leak to warn about.
    setMaxListeners(0, this.stopping.signal, this.forceStop.signal);
  }

  get status(): WorkerState {
    return this.state;
  }

  /** Why the worker stopped by itself (its broker connection lost for good), or null. */
  get failure(): Error | null {
    return this.lostWith;
  }

  /** Its running tasks were ended at once: by terminate(), or because the shutdown timeout passed. */
  get forced(): boolean {
    return this.drain.forced;
  }

  /**
   * Connect and start consuming. Resolves once consuming. With brokerConnectionRetryOnStartup (the
   * default) an unreachable broker is waited for as long as brokerConnectionMaxRetries lasts; a refusal
   * that will not heal rejects at once. stop() meanwhile makes it reject with code WORKER_STOPPED. The
   * app's start hooks run first (a failing one rejects with WorkerHookError); a start that fails after
   * them runs the stop hooks.
   */
  async start(): Promise<void> {
    if (this.state !== "idle") throw new Error(`worker cannot start from state "${this.state}"`);
    this.state = "starting";
    this.starting = this.connectAndConsume();
    try {
      await this.starting;
    } catch (error) {
      if (this.state === "starting") {
        this.state = "stopped";
        await this.runStopHooks(`start failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      throw error;
    }
    this.state = "running";
    this.app.events.emit("worker:ready", { hostname: this.hostname, queues: this.queues, concurrency: this.concurrency });
  }

  /** Resolves once the worker has stopped, by stop() or by itself (see `failure`), with stop()'s count. */
  untilStopped(): Promise<number> {
    return this.finished;
  }

  private async connectAndConsume(): Promise<void> {
    const signal = this.startAbort.signal;
    this.hooksToStop = true;
    await this.app.workerHooks.runStart({ hostname: this.hostname, queues: this.queues });
    signal.throwIfAborted();
    const wait = { signal, ...(this.app.config.brokerConnectionRetryOnStartup ? { timeoutMs: Infinity } : {}) };
    const broker = await this.app.getBroker(wait);
    const backend = await this.app.getBackend(wait);
    signal.throwIfAborted();
    for (const queue of this.queues) await broker.declareQueue(queue);
    if (broker.onControl) {
      this.stopControl = await broker.onControl((message) => {
        const id = message.arguments["task_id"];
        if (message.command === "revoke") for (const taskId of Array.isArray(id) ? id : [id]) if (typeof taskId === "string") this.revoked.add(taskId);
      });
    }
    const parts: PipelineParts = {
      app: this.app,
      settleContext: { app: this.app, broker, backend, hostname: this.hostname, stats: this.stats },
      pool: new AsyncPool(this.concurrency, this.stopping.signal),
      eta: new EtaScheduler(broker, { holdMs: this.app.config.workerEtaHoldSeconds * 1000, maxHeld: Math.max(1, Math.floor(this.prefetch / 2)) }),
      rateLimiter: new RateLimiter(),
      revoked: this.revoked,
      stopping: this.stopping.signal,
      forceStop: this.forceStop.signal,
      running: this.running,
      ackEarly: (delivery) => this.ackEarly(delivery),
      dropStale: (delivery) => {
        if (delivery instanceof GuardedDelivery) delivery.drop();
      },
    };
    if (this.options.isolateTasks !== false) {
      this.stopIsolating = guardAgainstStrayErrors({ app: this.app, hostname: this.hostname, runner: parts.running, stats: this.stats, limit: this.strayErrorLimit, stop: (reason) => void this.stop(reason) });
    }
    this.consumer = await broker.consume(this.queues, (delivery) => this.drain.track(handleDelivery(parts, new GuardedDelivery(delivery, this.ledger))), { prefetch: this.prefetch });
    this.stopWatchingBroker = this.app.events.on("connection:lost", ({ error }) => this.lose(error));
    signal.throwIfAborted();
  }

  /** The broker connection is gone for good: nothing more can be received or acknowledged. */
  private lose(error: Error): void {
    if (this.lostWith || this.state !== "running") return;
    this.lostWith = error;
    this.app.events.emit("worker:error", { message: `stopping: the broker connection is lost for good (${error.message})`, error });
    void this.stop("broker connection lost");
  }

  /**
   * Stop gracefully: no new work; messages not started go back to the queue; running tasks get
   * `shutdownTimeout` seconds, then they are ended at once as by terminate(). The app's stop hooks run
   * last. Resolves with how many messages were returned to the queue.
   */
  stop(reason = "requested"): Promise<number> {
    this.stopped ??= this.doStop(reason);
    return this.stopped;
  }

  /**
   * Stop at once (a second signal): each running task is ended with a WorkerLostError (its signal
   * fires; what its function does later is ignored). Its acksLate message goes back to the queue with
   * nothing stored; an early-acked one is lost and stored as FAILURE. Resolves as stop() does.
   */
  terminate(reason = "terminated"): Promise<number> {
    this.drain.force(reason);
    return this.stop(reason);
  }

  private async doStop(reason: string): Promise<number> {
    this.state = "stopping";
    this.app.events.emit("worker:stopping", { hostname: this.hostname, reason });
    this.startAbort.abort(new CeleriacError("WORKER_STOPPED", `the worker was stopped (${reason}) before it started consuming`));
    await this.starting?.catch(() => {});
    this.stopWatchingBroker?.();
    await this.consumer?.cancel().catch(() => {});
    this.stopping.abort(new Error(`worker stopping: ${reason}`));
    await this.drain.run((this.options.shutdownTimeout ?? this.app.config.workerShutdownTimeout) * 1000);
    await this.runStopHooks(reason);
    await this.stopControl?.().catch(() => {});
    this.stopIsolating?.();
    this.state = "stopped";
    this.app.events.emit("worker:stopped", { hostname: this.hostname, returnedToQueue: this.returnedToQueue });
    this.markStopped(this.returnedToQueue);
    return this.returnedToQueue;
  }

  private async runStopHooks(reason: string): Promise<void> {
    if (!this.hooksToStop) return;
    this.hooksToStop = false;
    const info = { hostname: this.hostname, queues: this.queues, reason, forced: this.forced };
    await this.app.workerHooks.runStop(info, (error) => this.app.events.emit("worker:error", { message: error.message, error }));
  }

  private async returnUnsettled(): Promise<void> {
    await Promise.all([...this.ledger.unsettled].map((d) => d.reject({ requeue: true }).catch(() => {})));
  }

  private ackEarly(delivery: Delivery): void {
    const acking = delivery.ack();
    // Brokers batch acks and hand every ack of a batch the same promise: watch each batch once.
    if (acking === this.watchedAck) return;
    this.watchedAck = acking;
    acking.catch((error: unknown) => {
      const id = String(delivery.message.headers["id"] ?? "?");
      this.app.events.emit("worker:error", { message: `could not acknowledge task ${id} (and any acknowledged in the same batch)`, error });
    });
  }
}

/** The worker's record of deliveries not settled yet, which a forced stop returns to the queue. */
interface Ledger {
  readonly unsettled: Set<GuardedDelivery>;
  /** A delivery is being rejected (returned to the queue when `requeue`). */
  onReject(requeue: boolean): void;
  /** A stale delivery (its connection was lost) leaves the ledger. */
  onLost(delivery: GuardedDelivery, outcome: LostOutcome): void;
}

const SETTLED_ALREADY = Promise.resolve();

/** A delivery settled at most once, whoever gets there first (the pipeline, or a forced stop). */
class GuardedDelivery implements Delivery {
  readonly message: Delivery["message"];
  readonly queue: string;
  readonly redelivered: boolean;
  readonly deliveryCount: number;
  /** The loss this delivery was caught in, once seen (lost-deliveries.ts). */
  loss: LossGroup | null = null;
  private settled = false;

  constructor(
    private readonly inner: Delivery,
    private readonly ledger: Ledger,
  ) {
    this.message = inner.message;
    this.queue = inner.queue;
    this.redelivered = inner.redelivered;
    this.deliveryCount = inner.deliveryCount;
    ledger.unsettled.add(this);
  }

  get stale(): boolean {
    return this.inner.stale;
  }

  ack(): Promise<void> {
    if (this.settled) return SETTLED_ALREADY;
    this.settled = true;
    this.leave("unacknowledged");
    return this.inner.ack();
  }

  reject(options: RejectOptions): Promise<void> {
    if (this.settled) return SETTLED_ALREADY;
    this.settled = true;
    this.leave("unacknowledged");
    this.ledger.onReject(options.requeue);
    return this.inner.reject(options);
  }

  /** A stale delivery not started: forgotten, neither acked nor rejected (the broker has it back). */
  drop(): void {
    if (this.settled) return;
    this.settled = true;
    this.leave("dropped");
  }

  private leave(ifStale: LostOutcome): void {
    if (this.inner.stale) this.ledger.onLost(this, ifStale);
    this.ledger.unsettled.delete(this);
  }
}

/** Create a worker for an app; call start() to consume. */
export function createWorker(app: App, options?: WorkerOptions): Worker {
  return new Worker(app, options);
}
