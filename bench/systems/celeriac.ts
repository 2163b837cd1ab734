// Celeriac's agent: the bench.add task on the harness's broker (and backend when results are on), driven
// through the public API only: delay(), applyMany(), AsyncResult.get() and createWorker(). The Redis
// harness runs it with the broker's messageFormat, the RabbitMQ one (bench/amqp/agent.ts) with a connection name.
import type * as Celeriac from "../../src/index.ts";
import type { App } from "../../src/index.ts";
import { LIBRARY_ENV } from "../library.ts";
import { Progress, emit, inParallel, sequentialLatencies } from "../agent-kit.ts";
import { TASK_NAME, type AgentParams, type ProduceParams, type RoundtripParams, type WorkerParams } from "../protocol.ts";

// The compiled library the harness built (bench/library.ts), as users run it; src/ when started by hand.
const { createApp, createWorker } = (await import(process.env[LIBRARY_ENV] ?? "../../src/index.ts")) as typeof Celeriac;

/** The broker's transport options for this agent (messageFormat on Redis, connectionName on RabbitMQ). */
type TransportOptions = Record<string, unknown>;

function makeApp(params: AgentParams, transport: TransportOptions, backend: string | null, ignoreResult: boolean, progress?: Progress) {
  const app = createApp({
    readEnv: false,
    brokerUrl: params.broker,
    resultBackend: backend,
    taskDefaultQueue: params.queue,
    taskIgnoreResult: ignoreResult,
    brokerTransportOptions: transport,
  });
  const add = app.task(TASK_NAME, (x: number, y: number) => {
    progress?.tick();
    return x + y;
  });
  return { app, add };
}

async function worker(params: WorkerParams, transport: TransportOptions): Promise<void> {
  const progress = new Progress();
  const { app } = makeApp(params, transport, params.backend, params.backend === null, progress);
  const w = createWorker(app, {
    queues: [params.queue],
    concurrency: params.concurrency,
    ...(params.prefetchMultiplier ? { prefetchMultiplier: params.prefetchMultiplier } : {}),
    shutdownTimeout: 1,
  });
  await w.start();
  emit({ event: "ready", pid: process.pid });
}

async function produce(params: ProduceParams, transport: TransportOptions): Promise<void> {
  const { app, add } = makeApp(params, transport, null, !params.results);
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

async function roundtrip(params: RoundtripParams, transport: TransportOptions): Promise<void> {
  const { app, add } = makeApp(params, transport, params.backend, false);
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

/** Play one role with the given broker transport options (any broker URL celeriac supports). */
export async function runCeleriacAgent(params: AgentParams, transport: TransportOptions): Promise<void> {
  if (params.role === "worker") return worker(params, transport);
  if (params.role === "produce") return produce(params, transport);
  return roundtrip(params, transport);
}

/** The Redis harness's entry point (bench/agent.ts): the broker's messageFormat, "celery" by default. */
export async function runAgent(params: AgentParams): Promise<void> {
  return runCeleriacAgent(params, { messageFormat: params.messageFormat ?? "celery" });
}
