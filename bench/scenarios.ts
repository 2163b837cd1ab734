// One run of each scenario for one system. Producers and workers are separate agent processes; a drain
// fills a staged queue first, starts the worker process(es), waits until every one is ready and idle,
// then releases the queue and times release -> last task completed. Redis is flushed before each.
import type { Agent } from "./children.ts";
import type { ProduceParams, WorkerParams } from "./protocol.ts";
import { diffStats, maxWhile, type Admin, type CommandStat } from "./redis-server.ts";
import type { SystemDriver } from "./systems/index.ts";

export type Scenario = "enqueue" | "enqueue_bulk" | "drain" | "drain_2proc" | "drain_results" | "roundtrip" | "memory" | "connections" | "redis_cpu";
export type Unit = "tasks/s" | "ms_p50" | "ms_p95" | "ms_p99" | "bytes/task" | "connections" | "us/task";

/** One figure from one run; `detail` tells apart figures of one scenario and unit (e.g. worker/producer). */
export interface Measurement {
  scenario: Scenario;
  unit: Unit;
  value: number;
  detail?: string;
}

/** Commandstats deltas of one phase, turned into µs/task once the script-nested share is known. */
export interface StatsSample {
  phase: "enqueue_bulk" | "drain" | "drain_results";
  stats: Map<string, CommandStat>;
  tasks: number;
}

export interface Sizes {
  enqueue: number;
  drain: number;
  roundtrip: number;
  warmup: number;
  /** Awaited sends in flight at once in the enqueue scenario. */
  producerConcurrency: number;
  chunk: number;
}

export interface Ctx {
  admin: Admin;
  url: string;
  /** Extra node arguments for celeriac's drain workers (--cpu-prof). */
  profileArgs: readonly string[];
  /** Called when a phase starts (the MONITOR calibration files commands under it). */
  onPhase?: (phase: string) => void;
}

const QUEUE = "bench";
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function producer(ctx: Ctx, sys: SystemDriver, overrides: Partial<ProduceParams>, nodeArgs: readonly string[] = []): Agent {
  const params: ProduceParams = { role: "produce", broker: ctx.url, queue: QUEUE, mode: "single", n: 0, concurrency: 1, chunk: 1000, results: false, ...overrides };
  return sys.start(`${sys.name} producer`, params, nodeArgs);
}

function worker(ctx: Ctx, sys: SystemDriver, results: boolean, index: number, nodeArgs: readonly string[] = []): Agent {
  const params: WorkerParams = { role: "worker", broker: ctx.url, queue: QUEUE, backend: results ? ctx.url : null, ...sys.worker };
  return sys.start(`${sys.name} worker ${index}`, params, nodeArgs);
}

/** Awaited single sends, `producerConcurrency` in flight; samples the producer's connections meanwhile. */
export async function enqueue(ctx: Ctx, sys: SystemDriver, sizes: Sizes): Promise<Measurement[]> {
  await ctx.admin.flushAll();
  const agent = producer(ctx, sys, { mode: "single", n: sizes.enqueue, concurrency: sizes.producerConcurrency }, sys.name === "celeriac" ? ctx.profileArgs : []);
  const done = agent.waitFor("done", 120_000 + sizes.enqueue * 5);
  const connections = await maxWhile(() => ctx.admin.clientCount(), done);
  const { elapsedMs = NaN } = await done;
  await agent.stop();
  return [
    { scenario: "enqueue", unit: "tasks/s", value: (sizes.enqueue / elapsedMs) * 1000 },
    { scenario: "connections", unit: "connections", value: connections, detail: "producer" },
  ];
}

export interface DrainOptions {
  procs: 1 | 2;
  results: boolean;
}

/** Fill (bulk, timed) then drain with `procs` worker processes; returns figures and commandstats samples. */
export async function fillAndDrain(ctx: Ctx, sys: SystemDriver, sizes: Sizes, options: DrainOptions): Promise<{ measurements: Measurement[]; samples: StatsSample[] }> {
  const n = sizes.drain;
  const { admin } = ctx;
  await admin.flushAll();
  ctx.onPhase?.("enqueue_bulk");
  const memoryBefore = await admin.usedMemory();
  const fillBefore = await admin.snapshot();
  const fill = producer(ctx, sys, { mode: "bulk", n, chunk: sizes.chunk, results: options.results, queue: sys.stagingQueue(QUEUE), pause: sys.pauseWhileFilling });
  const { elapsedMs: fillMs = NaN } = await fill.waitFor("done", 120_000 + n * 2);
  await fill.stop();
  const fillAfter = await admin.snapshot();
  const memoryAfter = await admin.usedMemory();

  const release = await sys.prepareRelease(admin, ctx.url, QUEUE);
  const nodeArgs = sys.name === "celeriac" ? ctx.profileArgs : [];
  const workers = Array.from({ length: options.procs }, (_, i) => worker(ctx, sys, options.results, i + 1, nodeArgs));
  try {
    await Promise.all(workers.map((w) => w.waitFor("ready", 60_000)));
    await sleep(250); // every worker idle in its blocking wait
    ctx.onPhase?.(options.results ? "drain_results" : "drain");
    const before = await admin.snapshot();
    const releasedAt = Date.now();
    await release();
    const total = (): number => workers.reduce((sum, w) => sum + (w.latest("progress")?.done ?? 0), 0);
    const finished = pollUntil(workers, () => total() >= n, 300_000, `${n} tasks done`);
    const connections = options.procs === 1 ? await maxWhile(() => admin.clientCount(), finished, 50) : 0;
    await finished;
    const lastAt = Math.max(...workers.map((w) => w.latest("progress")?.last ?? 0));
    const firstAt = Math.min(...workers.map((w) => w.events.find((e) => e.event === "progress" && e.first !== null)).map((e) => (e?.event === "progress" ? (e.first ?? Infinity) : Infinity)));
    if (firstAt < releasedAt) throw new Error(`${sys.name}: a task ran ${releasedAt - firstAt} ms before the queue was released`);
    if (process.env["BENCH_DEBUG"]) console.error(`${sys.name} drain: first task ${firstAt - releasedAt} ms after release, last ${lastAt - releasedAt} ms`);
    if (total() !== n) throw new Error(`${sys.name}: ${total()} tasks ran for ${n} sent`);
    await sleep(300); // trailing acks and result writes land in the stats
    const after = await admin.snapshot();
    const drainSeconds = (lastAt - releasedAt) / 1000;
    const scenario = options.procs === 2 ? "drain_2proc" : options.results ? "drain_results" : "drain";
    const measurements: Measurement[] = [{ scenario, unit: "tasks/s", value: n / drainSeconds }];
    const samples: StatsSample[] = [];
    if (options.procs === 1) {
      const phase = options.results ? "drain_results" : "drain";
      measurements.push({ scenario: "connections", unit: "connections", value: connections, detail: options.results ? "worker_results" : "worker" });
      measurements.push({ scenario: "redis_cpu", unit: "us/task", value: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / n, detail: `${phase}_process` });
      samples.push({ phase, stats: diffStats(before.stats, after.stats), tasks: n });
    }
    if (options.procs === 1 && !options.results) {
      measurements.push({ scenario: "enqueue_bulk", unit: "tasks/s", value: (n / fillMs) * 1000 });
      measurements.push({ scenario: "memory", unit: "bytes/task", value: (memoryAfter - memoryBefore) / n });
      samples.push({ phase: "enqueue_bulk", stats: diffStats(fillBefore.stats, fillAfter.stats), tasks: n });
    }
    return { measurements, samples };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** Poll `check` every 10 ms; fail when an agent reports an error or exits, or after `timeoutMs`. */
async function pollUntil(agents: readonly Agent[], check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    for (const agent of agents) agent.assertAlive(what);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Sequential calls from a client process to a worker process (results on), each awaited to its result. */
export async function roundtrip(ctx: Ctx, sys: SystemDriver, sizes: Sizes): Promise<Measurement[]> {
  await ctx.admin.flushAll();
  const w = worker(ctx, sys, true, 1);
  let client: Agent | null = null;
  try {
    await w.waitFor("ready", 60_000);
    client = sys.start(`${sys.name} client`, { role: "roundtrip", broker: ctx.url, backend: ctx.url, queue: QUEUE, n: sizes.roundtrip, warmup: sizes.warmup });
    const { latenciesMs = [] } = await client.waitFor("done", 60_000 + (sizes.roundtrip + sizes.warmup) * 100);
    const sorted = [...latenciesMs].sort((a, b) => a - b);
    return (["ms_p50", "ms_p95", "ms_p99"] as const).map((unit) => ({ scenario: "roundtrip", unit, value: percentile(sorted, Number(unit.slice(4))) }));
  } finally {
    await Promise.all([w.stop(), client?.stop()]);
  }
}

/** Wire compatibility: Celery's worker consumes what celeriac's applyMany enqueued (default format). */
export async function compatCheck(ctx: Ctx, celeriac: SystemDriver, celery: SystemDriver, n: number): Promise<{ name: string; ok: boolean; detail: string }> {
  const name = "celery worker consumes celeriac applyMany messages";
  await ctx.admin.flushAll();
  const fill = producer(ctx, celeriac, { mode: "bulk", n, chunk: Math.min(n, 1000) });
  await fill.waitFor("done", 60_000);
  await fill.stop();
  const w = worker(ctx, celery, false, 1);
  try {
    await w.until(`${n} tasks done`, 60_000, () => ((w.latest("progress")?.done ?? 0) >= n ? true : undefined));
    return { name, ok: true, detail: `${n}/${n} ran on Celery` };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message.split("\n")[0] ?? "failed" };
  } finally {
    await w.stop();
  }
}
