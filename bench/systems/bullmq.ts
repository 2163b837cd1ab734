// BullMQ's agent, the peer we measure against: the same add(i, i) job as a named job with [i, i] data,
// added with add()/addBulk(), run by a Worker, awaited with waitUntilFinished() on QueueEvents.
import { Queue, QueueEvents, Worker, type ConnectionOptions } from "bullmq";
import { Progress, emit, inParallel, sequentialLatencies } from "../agent-kit.ts";
import { TASK_NAME, type AgentParams, type ProduceParams, type RoundtripParams, type WorkerParams } from "../protocol.ts";

/** ioredis options for a redis://host:port/db URL (what BullMQ takes as `connection`). */
export function bullConnection(url: string, name?: string): ConnectionOptions {
  const parsed = new URL(url);
  const db = Number(parsed.pathname.slice(1) || "0");
  return { host: parsed.hostname, port: Number(parsed.port || 6379), db, maxRetriesPerRequest: null, ...(name ? { connectionName: name } : {}) };
}

async function worker(params: WorkerParams): Promise<void> {
  const progress = new Progress();
  const w = new Worker<[number, number], number>(
    params.queue,
    async (job) => {
      progress.tick();
      return job.data[0] + job.data[1];
    },
    {
      connection: bullConnection(params.broker),
      concurrency: params.concurrency,
      // Results off: the leanest setting, the job is deleted once done. Results on: BullMQ's default,
      // the finished job (with its return value) is kept.
      ...(params.backend === null ? { removeOnComplete: { count: 0 } } : {}),
    },
  );
  w.on("error", (error) => emit({ event: "error", message: error.message }));
  await w.waitUntilReady();
  emit({ event: "ready", pid: process.pid });
}

async function produce(params: ProduceParams): Promise<void> {
  const queue = new Queue(params.queue, { connection: bullConnection(params.broker) });
  await queue.waitUntilReady();
  if (params.pause) await queue.pause();
  const started = performance.now();
  if (params.mode === "bulk") {
    for (let start = 0; start < params.n; start += params.chunk) {
      const count = Math.min(params.chunk, params.n - start);
      await queue.addBulk(Array.from({ length: count }, (_, k) => ({ name: TASK_NAME, data: [start + k, start + k] })));
    }
  } else {
    await inParallel(params.n, params.concurrency, (i) => queue.add(TASK_NAME, [i, i]));
  }
  emit({ event: "done", elapsedMs: performance.now() - started });
  await queue.close();
}

async function roundtrip(params: RoundtripParams): Promise<void> {
  const queue = new Queue(params.queue, { connection: bullConnection(params.broker) });
  const events = new QueueEvents(params.queue, { connection: bullConnection(params.broker) });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const latenciesMs = await sequentialLatencies(params.n, params.warmup, async (i) => {
    const job = await queue.add(TASK_NAME, [i, i]);
    const value: unknown = await job.waitUntilFinished(events, 30_000);
    if (value !== i + i) throw new Error(`wrong result ${String(value)} for add(${i}, ${i})`);
  });
  emit({ event: "done", latenciesMs });
  await Promise.all([queue.close(), events.close()]);
}

/** The harness's release for a drain: resume the queue the producer paused (workers are waiting). */
export async function resumeQueue(broker: string, queueName: string, connectionName: string): Promise<() => Promise<void>> {
  const queue = new Queue(queueName, { connection: bullConnection(broker, connectionName) });
  await queue.waitUntilReady();
  return async () => {
    await queue.resume();
    await queue.close();
  };
}

export async function runAgent(params: AgentParams): Promise<void> {
  if (params.role === "worker") return worker(params);
  if (params.role === "produce") return produce(params);
  return roundtrip(params);
}
