// The app: configuration, the task registry, and lazy connections to the broker and result backend.
// Creating an app opens no connection (it only reads the key files message signing names); the first
// send, result read or worker start connects.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Broker, BrokerOptions } from "../broker/broker.ts";
import { createBroker } from "../broker/registry.ts";
import type { BackendOptions, ResultBackend } from "../backend/backend.ts";
import { createBackend, repliesToSender } from "../backend/registry.ts";
import { MemoryBackend } from "../backend/memory/memory-backend.ts";
import { CeleriacError, ConnectionError } from "../util/errors.ts";
import { maskUrl } from "../util/url.ts";
import type { ConnectOptions } from "../util/wait.ts";
import { didYouMean } from "../util/suggest.ts";
import { signature } from "../protocol/signature.ts";
import type { TaskMessage } from "../protocol/message.ts";
import { configFromEnv, resolveConfig, type Config } from "./config.ts";
import { TypedEvents } from "./events.ts";
import { NotRegistered } from "./errors.ts";
import { runEagerly } from "./eager.ts";
import { buildMessage, publishMessage, publishMessages, queueFor, type Call } from "./producer.ts";
import { AsyncResult, type ResultSource } from "./result.ts";
import type { AnyTask, BoundTaskFunction, CallOptions, Task, TaskContext, TaskFunction } from "./task.ts";
import { resolveTaskOptions, type TaskOptions } from "./task-options.ts";
import { loadSecurity, type MessageSecurity } from "./security.ts";
import { WorkerHooks, type WorkerHook, type WorkerHookOptions, type WorkerInfo, type WorkerStopInfo } from "./worker-hooks.ts";

export interface AppOptions extends Partial<Config> {
  /** Read CELERIAC_BROKER_URL and friends from the environment. Default true. */
  readEnv?: boolean;
}

/** Calls applyMany builds, encodes and publishes at once. */
const APPLY_MANY_SLICE = 4096;

type Logger = (level: "info" | "warn" | "error", message: string) => void;

/**
 * A Celeriac app. Example:
 * ```ts
 * const app = createApp({ brokerUrl: "redis://localhost:6379/0" });
 * export const add = app.task("tasks.add", (x: number, y: number) => x + y);
 * const sum = await (await add.delay(2, 3)).get({ timeout: 10 });
 * ```
 */
export class App {
  private current: Readonly<Config>;
  readonly events = new TypedEvents();
  /** This client's id, sent as `reply_to` (Celery's app.thread_oid); rpc results come back here. */
  readonly oid = randomUUID();
  readonly hostname = `celeriac@${hostname()}`;
  /** Message signing: what this app signs with and the certificates its workers trust; null when off. */
  /** Signing and verification, when the `security` config is set (re-read by reconfigure). */
  security: MessageSecurity | null;
  private readonly tasks = new Map<string, AnyTask>();
  private broker: Promise<Broker> | null = null;
  private backend: Promise<ResultBackend | null> | null = null;
  private eagerStore: MemoryBackend | null = null;
  /** The config as given (code and environment), before defaults: withConfig re-derives defaults from it. */
  private given: Partial<Config>;
  /** What each worker of this app runs as it starts and stops (onWorkerStart, onWorkerStop). */
  readonly workerHooks = new WorkerHooks();
  /** Aborted by close(): a connect still waiting for its server gives up. */
  private connects = new AbortController();
  /** Closes begun by forget(), awaited by close(). */
  private closing: Promise<void>[] = [];
  /** Where connection events are reported; the CLI points it at its logger. */
  log: Logger = () => {};

  constructor(options: AppOptions = {}) {
    const { readEnv = true, ...config } = options;
    this.given = { ...config, ...(readEnv ? configFromEnv() : {}) };
    this.current = resolveConfig(this.given);
    // The one I/O at creation: key and certificate files are read and checked now, not at the first send.
    this.security = this.current.security ? loadSecurity(this.current.security) : null;
  }

  /** The validated, frozen configuration. */
  get config(): Readonly<Config> {
    return this.current;
  }

  /**
   * A copy of this app's tasks and worker hooks (not its event listeners) with some config replaced. A
   * default derived from another key follows the override: a new brokerUrl on an app that set no
   * resultBackend leaves results disabled rather than in a memory:// store no one can read.
   * Example: `const staging = app.withConfig({ brokerUrl: "redis://staging:6379/0" })`.
   */
  withConfig(overrides: Partial<Config>): App {
    const copy = new App({ ...this.given, ...overrides, readEnv: false });
    for (const task of this.tasks.values()) copy.tasks.set(task.name, task);
    copy.workerHooks.addAll(this.workerHooks);
    copy.log = this.log;
    return copy;
  }

  /**
   * Replace some config of this very app, before it connects (how `celeriac worker` applies --broker and
   * --backend to the app a task module exports: the module's listeners and hooks stay the ones that
   * run). Defaults follow as with withConfig; throws APP_CONNECTED once a broker or backend is in use
   * (no overrides: nothing to do, never throws).
   * Example: `app.reconfigure({ brokerUrl: "redis://localhost:6379/0", resultBackend: null })`.
   */
  reconfigure(overrides: Partial<Config>): this {
    if (Object.keys(overrides).length === 0) return this;
    if (this.broker || this.backend || this.eagerStore) throw new CeleriacError("APP_CONNECTED", "the app has connected already, so its config can no longer change: reconfigure it before its first send or worker start, or use withConfig() for a copy");
    const given = { ...this.given, ...overrides };
    this.current = resolveConfig(given);
    this.given = given;
    this.security = this.current.security ? loadSecurity(this.current.security) : null;
    return this;
  }

  /** Run `fn` as each worker starts, before it connects (see WorkerHooks.onStart). Example: `app.onWorkerStart(() => pool.connect())`. */
  onWorkerStart(fn: WorkerHook<WorkerInfo>, options?: WorkerHookOptions): () => void {
    return this.workerHooks.onStart(fn, options);
  }

  /** Run `fn` as each worker stops, its tasks ended (see WorkerHooks.onStop). Example: `app.onWorkerStop(() => pool.end())`. */
  onWorkerStop(fn: WorkerHook<WorkerStopInfo>, options?: WorkerHookOptions): () => void {
    return this.workerHooks.onStop(fn, options);
  }

  /**
   * Define a task. The function's parameter and return types become the task's call and result types.
   * With `{ bind: true }` the function receives the TaskContext first.
   */
  task<A extends unknown[], R>(name: string, fn: BoundTaskFunction<A, R>, options: TaskOptions & { bind: true }): Task<A, Awaited<R>>;
  task<A extends unknown[], R>(name: string, fn: TaskFunction<A, R>, options?: TaskOptions & { bind?: false }): Task<A, Awaited<R>>;
  task(name: string, fn: (...args: never[]) => unknown, options: TaskOptions = {}): Task<unknown[], unknown> {
    if (this.tasks.has(name)) throw new CeleriacError("DUPLICATE_TASK", `task "${name}" is already defined`);
    const resolved = Object.freeze(resolveTaskOptions(name, options, fn));
    const invoke = fn as unknown as (...args: unknown[]) => unknown;
    const task: Task<unknown[], unknown> = {
      name,
      options: resolved,
      delay: (...args) => this.send({ name, args, options: {}, taskOptions: resolved }, task),
      applyAsync: (args, callOptions = {}) => this.send({ name, args: args ?? [], options: callOptions, taskOptions: resolved }, task),
      applyMany: (argsList, callOptions = {}) => this.sendMany(argsList.map((args) => ({ name, args, options: callOptions, taskOptions: resolved })), task),
      s: (...args) => signature(name, args),
      si: (...args) => ({ ...signature(name, args), immutable: true }),
      run: (ctx: TaskContext, args: unknown[]) => (resolved.bind ? invoke(ctx, ...args) : invoke(...args)),
      isAsync: fn.constructor.name === "AsyncFunction",
    };
    this.tasks.set(name, task as unknown as AnyTask);
    return task;
  }

  /** The task registered under `name`; throws NotRegistered naming the closest one. */
  getTask(name: string): AnyTask {
    const task = this.tasks.get(name);
    if (!task) throw new NotRegistered(name, didYouMean(name, [...this.tasks.keys()]));
    return task;
  }

  hasTask(name: string): boolean {
    return this.tasks.has(name);
  }

  taskNames(): string[] {
    return [...this.tasks.keys()].sort();
  }

  /**
   * Send a task by name, for tasks defined elsewhere (another service, or Python).
   * Example: `await app.sendTask("proj.tasks.add", [2, 3], { queue: "math" })`.
   */
  async sendTask<R = unknown>(name: string, args: readonly unknown[] = [], options: CallOptions = {}): Promise<AsyncResult<R>> {
    const task = this.tasks.get(name);
    return this.send({ name, args, options, taskOptions: task?.options }, task) as Promise<AsyncResult<R>>;
  }

  /** A handle on a task sent earlier, by id. */
  asyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, () => this.resultSource());
  }

  /** Ask every worker to discard a task that has not started yet. */
  async revoke(taskId: string): Promise<void> {
    const broker = await this.getBroker();
    if (!broker.broadcast) throw new CeleriacError("NOT_SUPPORTED", `the broker at ${maskUrl(this.config.brokerUrl)} cannot broadcast revokes`);
    await broker.broadcast({ command: "revoke", arguments: { task_id: taskId } });
  }

  /**
   * The connected broker (connects on first use, waiting as `wait` says: by default up to
   * brokerConnectionTimeout). A failed connect leaves nothing open; the next call tries again.
   */
  getBroker(wait: ConnectOptions = {}): Promise<Broker> {
    this.broker ??= (async () => {
      const broker = await createBroker(this.config.brokerUrl, this.brokerOptions());
      await broker.connect(this.connectWait(wait));
      return broker;
    })();
    this.broker.catch(() => (this.broker = null));
    return this.broker;
  }

  /** The connected result backend, or null when resultBackend is null. `wait` as for getBroker(). */
  getBackend(wait: ConnectOptions = {}): Promise<ResultBackend | null> {
    this.backend ??= (async () => {
      if (this.config.resultBackend === null) return null;
      const backend = await createBackend(this.config.resultBackend, this.backendOptions());
      await backend.connect(this.connectWait(wait));
      return backend;
    })();
    this.backend.catch(() => (this.backend = null));
    return this.backend;
  }

  /** Close the broker and backend connections, giving up any connect still waiting for its server. */
  async close(): Promise<void> {
    this.connects.abort(new ConnectionError("the app was closed while connecting"));
    this.connects = new AbortController();
    this.forget("broker");
    this.forget("backend");
    const closing = this.closing;
    this.closing = [];
    await Promise.all(closing);
  }

  /** Drops the broker or backend and closes it; the next use connects again. */
  private forget(which: "broker" | "backend"): void {
    const held: Promise<Broker | ResultBackend | null> | null = this[which];
    this[which] = null;
    if (held) this.closing.push(held.then((client) => client?.close()).catch(() => {}));
  }

  /** `wait`, also given up when the app is closed. */
  private connectWait(wait: ConnectOptions): ConnectOptions {
    const signals = wait.signal ? [this.connects.signal, wait.signal] : [this.connects.signal];
    return { ...wait, signal: AbortSignal.any(signals) };
  }

  brokerOptions(): BrokerOptions {
    let lost = false;
    return {
      connectionMaxRetries: this.config.brokerConnectionMaxRetries,
      connectionTimeoutMs: this.config.brokerConnectionTimeout * 1000,
      heartbeatSeconds: this.config.brokerHeartbeat,
      visibilityTimeoutSeconds: this.config.brokerVisibilityTimeout,
      transportOptions: this.config.brokerTransportOptions,
      log: (level, message) => this.log(level, message),
      onConnectionLost: (error) => {
        // Each of the broker's connections may report it: once is enough.
        if (lost) return;
        lost = true;
        // Gone for good: the next send starts afresh (a worker stops on the event). rpc:// results
        // ride the same connection.
        this.forget("broker");
        if (repliesToSender(this.config.resultBackend)) this.forget("backend");
        this.events.emit("connection:lost", { url: maskUrl(this.config.brokerUrl), error });
      },
    };
  }

  private backendOptions(): BackendOptions {
    return {
      brokerUrl: this.config.brokerUrl,
      replyTo: this.oid,
      resultExpiresSeconds: this.config.resultExpires,
      connectionTimeoutMs: this.config.brokerConnectionTimeout * 1000,
      connectionMaxRetries: this.config.brokerConnectionMaxRetries,
      log: (level, message) => this.log(level, message),
    };
  }

  private async send(call: Call, task: AnyTask | undefined): Promise<AsyncResult<unknown>> {
    const message = buildMessage(call, this.config, this.oid);
    const queue = queueFor(call, this.config);
    if (this.config.taskAlwaysEager && task) {
      this.eagerStore ??= new MemoryBackend(this.config.resultExpires);
      await runEagerly(task, message, { store: this.eagerStore, config: this.config, hostname: this.hostname, queue });
      return new AsyncResult(message.id, async () => this.eagerSource());
    }
    // Broker first: on AMQP an rpc:// backend shares its connection, whose heartbeat, retries and name
    // come from whoever opens it, and those are the broker's settings (brokerHeartbeat, brokerTransportOptions).
    const broker = await this.getBroker();
    if (repliesToSender(this.config.resultBackend) && !message.ignoreResult) await this.getBackend();
    // Only a backend already in use (a caller that waits on results): a producer that never waits
    // opens nothing for it.
    if (this.backend && !message.ignoreResult) (await this.backend)?.expect?.(message.id);
    await publishMessage(broker, queue, message, this.security?.signer);
    this.events.emit("task:sent", { id: message.id, name: message.task, queue, eta: message.eta });
    return new AsyncResult(message.id, () => this.resultSource());
  }

  private async sendMany(calls: readonly Call[], task: AnyTask | undefined): Promise<AsyncResult<unknown>[]> {
    if (calls.length > 1 && calls.some((call) => call.options.taskId !== undefined)) {
      throw new CeleriacError("INVALID_OPTION", "applyMany: taskId cannot be given for more than one call (task ids must differ)");
    }
    if (this.config.taskAlwaysEager && task) {
      const results: AsyncResult<unknown>[] = [];
      for (const call of calls) results.push(await this.send(call, task));
      return results;
    }
    const broker = await this.getBroker();
    if (repliesToSender(this.config.resultBackend) && calls.some((call) => !(call.options.ignoreResult ?? call.taskOptions?.ignoreResult ?? this.config.taskIgnoreResult))) {
      await this.getBackend();
    }
    // Built, encoded and published a slice at a time: only the ids outlive their slice, so memory is
    // bounded by the slice, not by the list (300,000 calls peaked at 1.2 GB when built all at once).
    const results: AsyncResult<unknown>[] = [];
    for (let start = 0; start < calls.length; start += APPLY_MANY_SLICE) {
      const byQueue = new Map<string, TaskMessage[]>();
      for (const call of calls.slice(start, start + APPLY_MANY_SLICE)) {
        const message = buildMessage(call, this.config, this.oid);
        const queue = queueFor(call, this.config);
        const batch = byQueue.get(queue);
        if (batch) batch.push(message);
        else byQueue.set(queue, [message]);
        results.push(new AsyncResult(message.id, () => this.resultSource()));
      }
      for (const [queue, batch] of byQueue) {
        await publishMessages(broker, queue, batch, this.security?.signer);
        for (const message of batch) this.events.emit("task:sent", { id: message.id, name: message.task, queue, eta: message.eta });
      }
    }
    return results;
  }

  private async resultSource(): Promise<ResultSource | null> {
    const backend = await this.getBackend();
    if (!backend) return null;
    return {
      get: (id) => backend.get(id),
      waitForReady: (id, options) => backend.waitForReady(id, options),
      forget: (id) => backend.forget(id),
      revoke: (id) => this.revoke(id),
    };
  }

  private eagerSource(): ResultSource {
    const store = this.eagerStore as MemoryBackend;
    return {
      get: (id) => store.get(id),
      waitForReady: (id, options) => store.waitForReady(id, options),
      forget: (id) => store.forget(id),
      revoke: async () => {},
    };
  }
}

/** Create an app. Example: `const app = createApp({ brokerUrl: "redis://localhost:6379/0" })`. */
export function createApp(options: AppOptions = {}): App {
  return new App(options);
}
