// Shared plumbing for the AMQP interop tests: run the real Python Celery (Debian's python3-celery via
// /usr/bin/python3, never a virtualenv's python) and build brokers with Celery's default topology.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { randomUUID } from "node:crypto";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { deleteDelayTopology } from "../../src/broker/amqp/delay.ts";
import type { AmqpTransportOptions } from "../../src/broker/amqp/transport-options.ts";
import type { BrokerOptions } from "../../src/broker/broker.ts";
import type { App } from "../../src/app/app.ts";
import type { Worker } from "../../src/worker/worker.ts";

export const AMQP_URL = process.env["CELERIAC_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672//";
export const PYTHON = "/usr/bin/python3";
export const PY_DIR = fileURLToPath(new URL("./python-amqp/", import.meta.url));

/** BrokerOptions as the app builds them, with `transport` passed as brokerTransportOptions. */
export function brokerOptions(transport: Partial<AmqpTransportOptions> = {}, logs: string[] = []): BrokerOptions {
  return {
    connectionMaxRetries: Infinity,
    connectionTimeoutMs: 10_000,
    heartbeatSeconds: 30,
    visibilityTimeoutSeconds: 3600,
    log: (level, message) => logs.push(`${level}: ${message}`),
    transportOptions: transport,
  };
}

/** This test process's own delay ladder, so parallel test files never share or delete each other's. */
export const TEST_DELAY_NAMESPACE = `celeriac.test-delay.${randomUUID().slice(0, 8)}`;

/** A broker with Celery's default queue flags (no x-arguments), so Python and we declare alike. */
export function celeryCompatibleBroker(transport: Partial<AmqpTransportOptions> = {}): AmqpBroker {
  return new AmqpBroker(AMQP_URL, brokerOptions({ delayNamespace: TEST_DELAY_NAMESPACE, ...transport }));
}

/** After app-level tests: stops the workers, closes the apps, then deletes the queues with a broker of its own. */
export async function closeAppsAndQueues(workers: readonly Worker[], apps: readonly App[], queues: readonly string[]): Promise<void> {
  for (const worker of workers) await worker.stop();
  for (const app of apps) await app.close();
  const admin = celeryCompatibleBroker();
  await admin.connect();
  for (const queue of queues) await admin.deleteQueue(queue).catch(() => undefined);
  await admin.close();
}

/** Deletes TEST_DELAY_NAMESPACE's ladder (after the tests of a file that parked messages). */
export async function deleteTestLadder(broker: AmqpBroker): Promise<void> {
  await broker.withAdminChannel((channel) => deleteDelayTopology(channel, { namespace: TEST_DELAY_NAMESPACE, queueType: "classic" }));
}

export interface PythonProcess {
  child: ChildProcess;
  /** Resolves with the next JSON line the process prints. */
  nextLine(): Promise<Record<string, unknown>>;
  stderr(): string;
}

/** Runs a Python script from python-amqp/ with the broker URL and rpc:// in its environment. */
export function runPython(args: string[], env: Record<string, string> = {}): PythonProcess {
  const child = spawn(PYTHON, args, {
    cwd: PY_DIR,
    env: { ...process.env, PYTHONPATH: PY_DIR, CELERY_BROKER_URL: AMQP_URL, CELERY_RESULT_BACKEND: "rpc://", ...env },
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
  return {
    child,
    stderr: () => err,
    nextLine: () =>
      new Promise((resolve, reject) => {
        const take = (line: string): void => {
          try {
            resolve(JSON.parse(line) as Record<string, unknown>);
          } catch {
            reject(new Error(`python printed a non-JSON line: ${line}\nstderr: ${err}`));
          }
        };
        const buffered = lines.shift();
        if (buffered !== undefined) return take(buffered);
        const onExit = (code: number | null): void => reject(new Error(`python exited (${code}) before printing; stderr:\n${err}`));
        child.once("exit", onExit);
        waiting.push((line) => {
          child.off("exit", onExit);
          take(line);
        });
      }),
  };
}

/** Starts `celery -A interop_app worker --pool=solo` on `queue`; resolves once it is consuming. */
export async function startPythonWorker(queue: string, name: string): Promise<PythonProcess> {
  const worker = runPython(
    ["-m", "celery", "-A", "interop_app", "worker", "--pool=solo", "-Q", queue, "-n", `${name}@%h`, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
    { INTEROP_QUEUE: queue },
  );
  const deadline = Date.now() + 30_000;
  while (!/ready\./.test(worker.stderr())) {
    if (worker.child.exitCode !== null) throw new Error(`celery worker exited:\n${worker.stderr()}`);
    if (Date.now() > deadline) throw new Error(`celery worker did not start:\n${worker.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return worker;
}

export async function stopPython(process_: PythonProcess): Promise<void> {
  if (process_.child.exitCode !== null) return;
  const exited = new Promise((resolve) => process_.child.once("exit", resolve));
  process_.child.kill("SIGTERM");
  const timer = setTimeout(() => process_.child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
