// Celeriac's agent: the bench.add task on a Redis broker (and backend when results are on), driven
// through the public API only: delay(), applyMany(), AsyncResult.get() and createWorker().
import { createApp, type App } from "../../src/app/app.ts";
import { createWorker } from "../../src/worker/worker.ts";
import { Progress, emit, inParallel, sequentialLatencies } from "../agent-kit.ts";
import { TASK_NAME, type AgentParams, type ProduceParams, type RoundtripParams, type WorkerParams } from "../protocol.ts";

function makeApp(params: AgentParams, backend: string | null, ignoreResult: boolean, progress?: Progress) {
  const app = createApp({
    readEnv: false,
    brokerUrl: params.broker,
    resultBackend: backend,
    taskDefaultQueue: params.queue,
    taskIgnoreResult: ignoreResult,
    brokerTransportOptions: { messageFormat: params.messageFormat ?? "celery" },
  });
  const add = app.task(TASK_NAME, (x: number, y: number) => {
    progress?.tick();
    return x + y;
  });
  return { app, add };
}

async function worker(params: WorkerParams): Promise<void> {
  const progress = new Progress();
  const { app } = makeApp(params, params.backend, params.backend === null, progress);
  const w = createWorker(app, {
    queues: [params.queue],
    concurrency: params.concurrency,
    ...(params.prefetchMultiplier ? { prefetchMultiplier: params.prefetchMultiplier } : {}),
    shutdownTimeout: 1,
  });
  await w.start();
  emit({ event: "ready", pid: process.pid });
}

async function produce(params: ProduceParams): Promise<void> {
  const { app, add } = makeApp(params, null, !params.results);
  await connect(app, params.queue);
  const started = performance.now();
  if (params.mode === "bulk") {
    for (let start = 0; start < params.n; start += params.chunk) {
      const count = Math.min(params.chunk, params.n - start);
      await add.applyMany(Array.from({ length: count }, (_, k): [number, number] => [start + k, start + k]));
    }
  } else {
    await inParallel(params.n, params.concurrency, (i) => add.delay(i, i));
  }
  emit({ event: "done", elapsedMs: performance.now() - started });
  await app.close();
}

async function roundtrip(params: RoundtripParams): Promise<void> {
  const { app, add } = makeApp(params, params.backend, false);
  await connect(app, params.queue);
  await app.getBackend();
  const latenciesMs = await sequentialLatencies(params.n, params.warmup, async (i) => {
    const value = await (await add.delay(i, i)).get({ timeout: 30 });
    if (value !== i + i) throw new Error(`wrong result ${value} for add(${i}, ${i})`);
  });
  emit({ event: "done", latenciesMs });
  await app.close();
}

/** Connect and declare before timing, as every system's producer does. */
async function connect(app: App, queue: string): Promise<void> {
  const broker = await app.getBroker();
  await broker.declareQueue(queue);
}

export async function runAgent(params: AgentParams): Promise<void> {
  if (params.role === "worker") return worker(params);
  if (params.role === "produce") return produce(params);
  return roundtrip(params);
}
