// Shared plumbing for the app-level Redis interop tests: our twin of python-common/interop_tasks.py
// (same task names, defined on a real app), and the real Python Celery (Debian's /usr/bin/python3) run
// as a client script or as a `celery worker`, pointed at the test's own Redis db.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createApp, type App, type AppOptions, type TaskContext } from "../../src/index.ts";
import { parseJson } from "../../src/protocol/json.ts";
import { redisUrl } from "../integration/redis-helpers.ts";

export const PYTHON = "/usr/bin/python3";
export const PY_DIR = fileURLToPath(new URL("./python/", import.meta.url));

/** An app on Redis db `db` (broker and backend), ignoring the environment. */
export function redisApp(db: number, options: AppOptions = {}): App {
  return createApp({ brokerUrl: redisUrl(db), resultBackend: redisUrl(db), readEnv: false, ...options });
}

/** The interop tasks on `app`; interop.record RPUSHes "node:<token>" to `key` through `recorder`. */
export function defineInteropTasks(app: App, recorder?: Redis) {
  return {
    add: app.task("interop.add", (x: number, y: number) => x + y),
    echo: app.task("interop.echo", (value: unknown) => value),
    // A RangeError is stored as Python's ValueError (result-meta.ts), so Python re-raises ValueError.
    fail: app.task("interop.fail", (message: string): never => {
      throw new RangeError(message);
    }),
    retryOnce: app.task("interop.retry_once", (ctx: TaskContext, _key: string) => {
      if (ctx.request.retries < 1) ctx.retry({ countdown: 1 });
      return "retried";
    }, { bind: true }),
    sumList: app.task("interop.sum_list", (values: number[]) => values.reduce((a, b) => a + b, 0)),
    record: app.task("interop.record", async (key: string, token: string, seconds?: number) => {
      if (seconds) await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      if (!recorder) throw new Error("interop.record needs a recorder client");
      await recorder.rpush(key, `node:${token}`);
      return token;
    }),
  };
}

export interface PythonProcess {
  child: ChildProcess;
  /** Resolves with the next JSON line printed on stdout (big integers as BigInt). */
  nextLine(): Promise<Record<string, unknown>>;
  stderr(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** Runs `args` with Debian's Python in python/, broker and backend on Redis db `db`. */
export function runPython(args: string[], db: number): PythonProcess {
  const url = redisUrl(db);
  const child = spawn(PYTHON, args, {
    cwd: PY_DIR,
    env: { ...process.env, PYTHONPATH: PY_DIR, CELERY_BROKER_URL: url, CELERY_RESULT_BACKEND: url },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    stderr: () => err,
    nextLine: () =>
      new Promise((resolve, reject) => {
        const take = (line: string): void => {
          try {
            // parseJson: integers beyond 2^53 come back exact, as BigInt.
            resolve(parseJson(line) as Record<string, unknown>);
          } catch {
            reject(new Error(`python printed a non-JSON line: ${line}\nstderr: ${err}`));
          }
        };
        const buffered = lines.shift();
        if (buffered !== undefined) return take(buffered);
        if (child.exitCode !== null) return reject(new Error(`python exited (${child.exitCode}); stderr:\n${err}`));
        const onExit = (code: number | null): void => reject(new Error(`python exited (${code}) before printing; stderr:\n${err}`));
        child.once("exit", onExit);
        waiting.push((line) => {
          child.off("exit", onExit);
          take(line);
        });
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `celery -A interop_app worker --pool=solo -Q <queue>`; resolves once it logged "ready". */
export async function startPythonWorker(queue: string, db: number, name: string): Promise<PythonProcess> {
  const worker = runPython(
    ["-m", "celery", "-A", "interop_app", "worker", "--pool=solo", "-Q", queue, "-n", `${name}@%h`, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
    db,
  );
  const deadline = Date.now() + 30_000;
  while (!/ready\./.test(worker.stderr())) {
    if (worker.child.exitCode !== null) throw new Error(`celery worker exited:\n${worker.stderr()}`);
    if (Date.now() > deadline) {
      await worker.stop();
      throw new Error(`celery worker did not start:\n${worker.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return worker;
}

/** A plain client on `db` for bookkeeping (records, LLEN, FLUSHDB). */
export function recorderClient(db: number): Redis {
  return new Redis(redisUrl(db), { connectionName: "celeriac-test-recorder" });
}
