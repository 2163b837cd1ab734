// Celeriac's agent process on RabbitMQ (`npm run bench -- --broker amqp`): the same bench.add task and
// roles as bench/systems/celeriac.ts, on an amqp:// broker with rpc:// results and a named connection.
// Run: node --import tsx bench/amqp/agent.ts JSON (the harness does; it speaks JSON lines back).
import { createApp, type App } from "../../src/app/app.ts";
import { createWorker } from "../../src/worker/worker.ts";
import { Progress, emit, exitOnStop, inParallel, sequentialLatencies } from "../agent-kit.ts";
import { TASK_NAME, type AgentParams, type ProduceParams, type RoundtripParams, type WorkerParams } from "../protocol.ts";

/** The harness's parameters plus the name RabbitMQ shows for this process's connection. */
export type AmqpAgentParams = AgentParams & { connectionName: string };

function makeApp(params: AmqpAgentParams, backend: string | null, ignoreResult: boolean, progress?: Progress) {
  const app = createApp({
    readEnv: false,
    brokerUrl: params.broker,
    resultBackend: backend,
    taskDefaultQueue: params.queue,
    taskIgnoreResult: ignoreResult,
    brokerTransportOptions: { connectionName: params.connectionName },
  });
  const add = app.task(TASK_NAME, (x: number, y: number) => {
    progress?.tick();
    return x + y;
  });
  return { app, add };
}

async function worker(params: WorkerParams & { connectionName: string }): Promise<void> {
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

async function produce(params: ProduceParams & { connectionName: string }): Promise<void> {
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

async function roundtrip(params: RoundtripParams & { connectionName: string }): Promise<void> {
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

async function main(): Promise<void> {
  const params = JSON.parse(process.argv[2] ?? "{}") as AmqpAgentParams;
  exitOnStop();
  if (params.role === "worker") return worker(params);
  if (params.role === "produce") await produce(params);
  else await roundtrip(params);
  process.exit(0);
}

main().catch((error: unknown) => {
  emit({ event: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
