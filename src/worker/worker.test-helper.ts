// Test-only helpers for the worker tests on the embedded broker: an app and worker stopped after each
// test, event recording, and polling for a condition. Not part of the package.
import { afterEach } from "node:test";
import { createApp, type App, type AppOptions } from "../app/app.ts";
import type { CeleriacEvents } from "../app/events.ts";
import { createWorker, type Worker, type WorkerOptions } from "./worker.ts";

const running: { app: App; worker: Worker }[] = [];
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An app (environment ignored) and its worker, both closed after the test. */
export function setup(config: AppOptions = {}, workerOptions: WorkerOptions = {}) {
  const app = createApp({ readEnv: false, ...config });
  const worker = createWorker(app, { shutdownTimeout: 2, ...workerOptions });
  running.push({ app, worker });
  return { app, worker };
}

/** Another worker on an existing app, stopped after the test. */
export function addWorker(app: App, workerOptions: WorkerOptions): Worker {
  const worker = createWorker(app, { shutdownTimeout: 2, ...workerOptions });
  running.push({ app, worker });
  return worker;
}

/** Every `event` the app emits from now on. */
export function record<E extends keyof CeleriacEvents>(app: App, event: E): CeleriacEvents[E][] {
  const seen: CeleriacEvents[E][] = [];
  app.events.on(event, (e) => seen.push(e));
  return seen;
}

export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

afterEach(async () => {
  for (const { app, worker } of running.splice(0)) {
    await worker.stop();
    await app.close();
  }
});
