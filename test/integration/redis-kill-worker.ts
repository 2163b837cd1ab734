// A worker for redis-kill.test.ts, run as a child process (the one killed with SIGKILL) or in the test
// itself (the one that picks the task up): acksLate, a 2 s visibility timeout, and a task that records
// each start and each completion in Redis and blocks forever on its first start.
import { Redis } from "ioredis";
import { createApp, createWorker, type App, type Worker } from "../../src/index.ts";
import { redisUrl } from "./redis-helpers.ts";

export const KILL_DB = 6;
export const STARTS = "kill:starts";
export const COMPLETIONS = "kill:completions";

export function killApp(recorder: Redis): App {
  const app = createApp({ brokerUrl: redisUrl(KILL_DB), resultBackend: redisUrl(KILL_DB), taskAcksLate: true, brokerVisibilityTimeout: 2, readEnv: false });
  app.task("kill.block", async (token: string) => {
    const starts = await recorder.rpush(STARTS, `${process.pid}:${token}`);
    // The first run hangs like a task stuck mid-work until its process is killed.
    if (starts === 1) await new Promise(() => undefined);
    await recorder.rpush(COMPLETIONS, `${process.pid}:${token}`);
    return `done:${token}`;
  });
  return app;
}

export async function startKillWorker(recorder: Redis): Promise<{ app: App; worker: Worker }> {
  const app = killApp(recorder);
  const worker = createWorker(app, { concurrency: 1, prefetchMultiplier: 1 });
  await worker.start();
  return { app, worker };
}

// Run as a script: start and say so on stdout; the parent kills this process.
if (process.argv[2] === "child") {
  await startKillWorker(new Redis(redisUrl(KILL_DB)));
  console.log("ready");
}
