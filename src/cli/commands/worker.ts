// `celeriac worker`: load the user's app, start a worker with a banner, log every task, and shut down
// gracefully on SIGTERM/SIGINT (a second signal stops at once).
import { createLogger, logTaskEvents, type LogFormat, type LogLevel } from "../../monitor/task-log.ts";
import { maskUrl } from "../../util/url.ts";
import { createWorker } from "../../worker/worker.ts";
import { connectionOverrides } from "../connection-flags.ts";
import { loadApp } from "../load-app.ts";

export interface WorkerCommandOptions {
  app: string;
  queues?: string[];
  concurrency?: number;
  prefetchMultiplier?: number;
  hostname?: string;
  loglevel: LogLevel;
  logFormat: LogFormat;
  broker?: string;
  backend?: string;
  shutdownTimeout?: number;
}

export async function runWorker(options: WorkerCommandOptions): Promise<number> {
  const app = (await loadApp(options.app)).withConfig(connectionOverrides(options));
  const logger = createLogger({ format: options.logFormat, level: options.loglevel });
  app.log = (level, message) => logger[level](message);
  logTaskEvents(app, logger);
  const worker = createWorker(app, {
    ...(options.queues ? { queues: options.queues } : {}),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.prefetchMultiplier ? { prefetchMultiplier: options.prefetchMultiplier } : {}),
    ...(options.hostname ? { hostname: options.hostname } : {}),
    ...(options.shutdownTimeout !== undefined ? { shutdownTimeout: options.shutdownTimeout } : {}),
  });

  const done = new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        logger.info(`${signal} received: finishing running tasks (send it again to stop at once)`);
        void worker.stop(signal).then(() => resolve(0));
      } else {
        logger.warn(`${signal} received again: stopping at once`);
        void worker.terminate().then(() => resolve(1));
      }
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });

  // A worker that stopped itself because the process is unsafe (a flood of stray errors) exits 1, so
  // that a supervisor starts a fresh one.
  const stoppedItself = new Promise<number>((resolve) => {
    app.events.on("worker:stray-error", (e) => {
      if (e.stopping) void worker.stop().then(() => resolve(1));
    });
  });

  await worker.start();
  const banner = [
    `celeriac worker ${worker.hostname} ready`,
    `  broker:      ${maskUrl(app.config.brokerUrl)}`,
    `  backend:     ${app.config.resultBackend ? maskUrl(app.config.resultBackend) : "(none)"}`,
    `  queues:      ${worker.queues.join(", ")}`,
    `  concurrency: ${worker.concurrency} (async pool), prefetch ${worker.prefetch}`,
    `  tasks:       ${app.taskNames().join(", ") || "(none)"}`,
  ];
  process.stderr.write(`${banner.join("\n")}\n`);
  const code = await Promise.race([done, stoppedItself]);
  await app.close();
  logger.flush?.();
  return code;
}
