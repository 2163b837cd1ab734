// Shared plumbing for the AMQP interop tests: run the real Python Celery (Debian's python3-celery via
// /usr/bin/python3, never a virtualenv's python) and build brokers with Celery's default topology.
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { deleteDelayTopology } from "../../src/broker/amqp/delay.ts";
import type { AmqpTransportOptions } from "../../src/broker/amqp/transport-options.ts";
import type { BrokerOptions } from "../../src/broker/broker.ts";
import type { App } from "../../src/app/app.ts";
import type { Worker } from "../../src/worker/worker.ts";
import { celeryWorkerArgs, spawnPython, untilCeleryReady, type PythonProcess } from "./python-process.ts";

export type { PythonProcess } from "./python-process.ts";

export const AMQP_URL = process.env["CELERIAC_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672//";
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

/** Runs a Python script from python-amqp/ with the broker URL and rpc:// in its environment. */
export function runPython(args: string[], env: Record<string, string> = {}): PythonProcess {
  return spawnPython(args, PY_DIR, { CELERY_BROKER_URL: AMQP_URL, CELERY_RESULT_BACKEND: "rpc://", ...env });
}

/** Starts `celery -A interop_app worker --pool=solo` on `queue`; resolves once it is consuming. */
export function startPythonWorker(queue: string, name: string): Promise<PythonProcess> {
  return untilCeleryReady(runPython(celeryWorkerArgs(queue, name), { INTEROP_QUEUE: queue }));
}
