// Shared plumbing for the app-level Redis interop tests: our twin of python-common/interop_tasks.py
// (same task names, defined on a real app), and the real Python Celery (Debian's /usr/bin/python3) run
// as a client script or as a `celery worker`, pointed at the test's own Redis db.
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createApp, type App, type AppOptions, type TaskContext } from "../../src/index.ts";
import { redisUrl } from "../integration/redis-helpers.ts";
import { celeryWorkerArgs, spawnPython, untilCeleryReady, type PythonProcess } from "./python-process.ts";

export type { PythonProcess } from "./python-process.ts";

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

/** Runs `args` with Debian's Python in python/, broker and backend on Redis db `db`. */
export function runPython(args: string[], db: number): PythonProcess {
  return spawnPython(args, PY_DIR, { CELERY_BROKER_URL: redisUrl(db), CELERY_RESULT_BACKEND: redisUrl(db) });
}

/** `celery -A interop_app worker --pool=solo -Q <queue>`; resolves once it logged "ready". */
export function startPythonWorker(queue: string, db: number, name: string): Promise<PythonProcess> {
  return untilCeleryReady(runPython(celeryWorkerArgs(queue, name), db));
}

/** A plain client on `db` for bookkeeping (records, LLEN, FLUSHDB). */
export function recorderClient(db: number): Redis {
  return new Redis(redisUrl(db), { connectionName: "celeriac-test-recorder" });
}
