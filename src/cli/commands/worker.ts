// `celeriac worker`: load the user's app (the very object the task module exports, so its listeners
// and hooks are the ones that run), start a worker with a banner, log every task, and shut down
// gracefully on SIGTERM/SIGINT at any stage, waiting for its broker included (a second signal stops at
// once, a third exits at once). Exit codes: 0 stopped on request, 1 running tasks ended at once (a
// second signal, or the shutdown timeout passed) or stopped by itself after a flood of stray errors
// (worker/stray-errors.ts), 2 (through main) a failure: a broker refusing for good, retries spent at
// start or after a loss, bad configuration. main then ends the process, whatever the task module holds.
import { createLogger, logTaskEvents, type LogFormat, type LogLevel } from "../../monitor/task-log.ts";
import { maskUrl } from "../../util/url.ts";
import { createWorker, type Worker } from "../../worker/worker.ts";
import type { App } from "../../app/app.ts";
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

/** How long app.close() may take once the worker has stopped; the process ends either way. */
const CLOSE_TIMEOUT_MS = 10_000;

export async function runWorker(options: WorkerCommandOptions): Promise<number> {
  const app = (await loadApp(options.app)).reconfigure(connectionOverrides(options));
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

  // Installed before start(): a worker still waiting for its broker stops on the first signal too.
  let exitCode = 0;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      logger.info(`${signal} received: finishing running tasks (send it again to stop at once)`);
      void worker.stop(signal);
    } else if (signals === 2) {
      logger.warn(`${signal} received again: stopping at once (a third one exits now)`);
      void worker.terminate(`${signal} received again`);
    } else {
      // The user will wait no longer for the stop to finish (stop hooks, closing): nothing more is.
      logger.warn(`${signal} received a third time: exiting now`);
      logger.flush?.();
      process.exit(1);
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // A worker that stopped itself because the process is unsafe (a flood of stray errors) exits 1, so
  // that a supervisor starts a fresh one.
  app.events.on("worker:stray-error", (e) => {
    if (!e.stopping) return;
    exitCode = 1;
    void worker.stop("too many stray errors");
  });
  try {
    // A start given up because of a signal is a requested stop (exit 0), not a failure.
    const started = await worker.start().then(
      () => true,
      (error: unknown) => {
        if (signals === 0) throw error;
        return false;
      },
    );
    if (started) process.stderr.write(banner(worker, app));
    await worker.untilStopped();
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([app.close(), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    logger.flush?.();
  }
  // Stopped by itself: its broker connection is gone for good (main prints it and exits 2).
  if (worker.failure) throw worker.failure;
  return worker.forced ? 1 : exitCode;
}

function banner(worker: Worker, app: App): string {
  const lines = [
    `celeriac worker ${worker.hostname} ready`,
    `  broker:      ${maskUrl(app.config.brokerUrl)}`,
    `  backend:     ${app.config.resultBackend ? maskUrl(app.config.resultBackend) : "(none)"}`,
    `  queues:      ${worker.queues.join(", ")}`,
    `  concurrency: ${worker.concurrency} (async pool), prefetch ${worker.prefetch}`,
    `  tasks:       ${app.taskNames().join(", ") || "(none)"}`,
  ];
  if (app.security) lines.push(`  signing:     signs as ${JSON.stringify(app.security.signer.signerId)}, trusts ${app.security.verifier.trusted.size} certificate(s)`);
  return `${lines.join("\n")}\n`;
}
