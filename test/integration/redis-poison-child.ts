// A worker for redis-poison.test.ts, run as a child process: acksLate, a 1 s visibility timeout,
// workerMaxDeliveries 3, and a task that records its start and then kills its own process (SIGKILL),
// as a task that crashes its worker every time would (native crash, out of memory).
import { Redis } from "ioredis";
import { createApp, createWorker, type App } from "../../src/index.ts";

export const CRASH_STARTS = "poison:starts";

/** The app both sides use: the test sends through it, the child works with it. */
export function crashApp(url: string, recorder: Redis | null): App {
  const app = createApp({ brokerUrl: url, resultBackend: url, taskAcksLate: true, brokerVisibilityTimeout: 1, workerMaxDeliveries: 3, readEnv: false });
  app.task("poison.crash", async () => {
    await recorder?.rpush(CRASH_STARTS, String(process.pid));
    process.kill(process.pid, "SIGKILL");
  });
  return app;
}

// Run as a script (`redis-poison-child.ts <url>`): start and say so on stdout.
if (process.argv[2]) {
  const url = process.argv[2];
  const worker = createWorker(crashApp(url, new Redis(url)), { concurrency: 1, prefetchMultiplier: 1 });
  await worker.start();
  console.log("ready");
}
