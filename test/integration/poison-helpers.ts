// Shared by the poison-message tests on real brokers: a result backend that refuses every write (a
// private redis-server over its maxmemory, which answers each write with OOM), and the scenario every
// broker must pass: an acksLate task whose result can never be stored runs exactly workerMaxDeliveries
// times, each requeue after a backoff, and ends as a dead letter with code TOO_MANY_DELIVERIES.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { createApp, createWorker, type App, type Worker } from "../../src/index.ts";
import type { DeadLetter } from "../../src/broker/broker.ts";
import { eventually } from "../conformance/fixtures.ts";
import { freePort, startRedisServer, type RedisChild } from "./redis-server.ts";

/** A throw-away redis-server that refuses every write with OOM (maxmemory 1 byte, noeviction). */
export async function startFullRedis(): Promise<RedisChild> {
  const server = await startRedisServer(await freePort());
  const admin = new Redis({ port: server.port, host: "127.0.0.1" });
  await admin.config("SET", "maxmemory-policy", "noeviction");
  await admin.config("SET", "maxmemory", "1");
  await admin.quit();
  return server;
}

export interface UnsettleableRun {
  app: App;
  worker: Worker;
  /** When each run of the task started (epoch ms). */
  runs: number[];
  letters: DeadLetter[];
  /** worker:error messages. */
  errors: string[];
}

/**
 * Sends one acksLate task whose result the backend at `fullBackendUrl` refuses, to `queue` on
 * `brokerUrl`, with workerMaxDeliveries 3 and a 0.1 s requeue delay; returns once it is a dead letter.
 * The caller stops the worker and closes the app (both returned, also on failure through `track`).
 */
export async function runUnsettleable(options: { brokerUrl: string; fullBackendUrl: string; queue: string; transportOptions?: Record<string, unknown>; track: (app: App, worker: Worker) => void }): Promise<UnsettleableRun> {
  const app = createApp({
    brokerUrl: options.brokerUrl,
    resultBackend: options.fullBackendUrl,
    brokerTransportOptions: options.transportOptions ?? {},
    taskAcksLate: true,
    workerMaxDeliveries: 3,
    workerRequeueDelaySeconds: 0.1,
    brokerConnectionMaxRetries: 3,
    readEnv: false,
  });
  const worker = createWorker(app, { queues: [options.queue], concurrency: 2, shutdownTimeout: 2 });
  options.track(app, worker);
  const runs: number[] = [];
  const errors: string[] = [];
  app.events.on("worker:error", (e) => errors.push(`${e.message}: ${e.error instanceof Error ? e.error.message : String(e.error)}`));
  app.task("poison.unstorable", () => {
    runs.push(Date.now());
    return "a result the backend refuses";
  });
  await worker.start();
  const broker = await app.getBroker();
  await app.sendTask("poison.unstorable", [], { queue: options.queue });
  let letters: DeadLetter[] = [];
  await eventually(async () => (letters = (await broker.deadLetters?.list(options.queue, 10)) ?? []).length > 0, 20_000, "the dead letter");
  return { app, worker, runs, letters, errors };
}

/** What every broker must show after runUnsettleable: 3 runs, backed off, one TOO_MANY_DELIVERIES dead letter. */
export function assertStoppedPoison(run: UnsettleableRun): void {
  assert.equal(run.runs.length, 3, `ran exactly workerMaxDeliveries times, not ${run.runs.length}`);
  const gaps = run.runs.slice(1).map((at, i) => at - (run.runs[i] as number));
  // 0.1 s then 0.2 s: each requeue waited, doubling, instead of coming back at once.
  assert.ok((gaps[0] as number) >= 95 && (gaps[1] as number) >= 195, `requeues waited ${gaps.join(", ")} ms`);
  assert.equal(run.letters.length, 1, "one dead letter");
  const [letter] = run.letters;
  assert.equal(letter?.code, "TOO_MANY_DELIVERIES");
  assert.match(letter?.reason ?? "", /delivered 3 times \(workerMaxDeliveries 3\) and could not be settled the last time: .*OOM/);
  assert.equal(letter?.message?.headers["task"], "poison.unstorable");
  assert.equal(run.errors.filter((e) => /could not settle task poison\.unstorable/.test(e)).length, 3, "each failed settle reported");
}
