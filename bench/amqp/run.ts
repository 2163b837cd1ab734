// `npm run bench -- --broker amqp`: Celeriac and Celery on the machine's RabbitMQ, interleaved run by
// run (enqueue, fill-then-drain, rpc:// round trip, connections and channels per worker); prints a
// Markdown table of medians and writes --json FILE. Every queue is uniquely named and deleted after use.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, loadavg, platform, release, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { startAgent, type Agent } from "../children.ts";
import { round } from "../commandstats.ts";
import type { AgentParams, ProduceParams, WorkerParams } from "../protocol.ts";
import { median } from "../report.ts";
import { percentile, type Sizes } from "../scenarios.ts";
import { PYTHON, makeDrivers } from "../systems/index.ts";
import type { AmqpAgentParams } from "./agent.ts";
import { RabbitAdmin, connectionsOf, queuesWithPrefix } from "./rabbit.ts";

export const DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//";
const benchDir = fileURLToPath(new URL("..", import.meta.url));
const repoDir = fileURLToPath(new URL("../..", import.meta.url));

type AmqpSystem = "celeriac" | "celery";
type AmqpScenario = "enqueue" | "enqueue_bulk" | "drain" | "roundtrip" | "connections";
type AmqpUnit = "tasks/s" | "ms_p50" | "ms_p95" | "ms_p99" | "connections" | "channels";
const SYSTEMS: AmqpSystem[] = ["celeriac", "celery"];
const SCENARIOS: AmqpScenario[] = ["enqueue", "enqueue_bulk", "drain", "roundtrip", "connections"];
type Block = "enqueue" | "drain" | "roundtrip";
const BLOCKS: Record<Block, AmqpScenario[]> = {
  enqueue: ["enqueue"],
  drain: ["enqueue_bulk", "drain", "connections"],
  roundtrip: ["roundtrip", "connections"],
};

/** One row of the JSON: bench/report.ts's ResultRow schema plus `broker`, and "channels" as a unit. */
export interface AmqpRow {
  broker: "amqp";
  system: AmqpSystem;
  scenario: AmqpScenario;
  value: number;
  unit: AmqpUnit;
  runs: number[];
  detail?: string;
}

interface Measurement {
  scenario: AmqpScenario;
  unit: AmqpUnit;
  value: number;
  detail?: string;
}

export interface AmqpBenchOptions {
  url: string;
  quick: boolean;
  runs: number;
  /** Comma-separated, as given to --systems / --scenarios (undefined: all). */
  systems?: string;
  scenarios?: string;
  json?: string;
  command: string;
}

const SIZES: Record<"full" | "quick", Record<AmqpSystem, Sizes>> = {
  // The same sizes for both (their rates do not depend on N here); applyMany on AMQP runs ~1k/s, so
  // the 30,000-task fill takes ~30 s of each celeriac run.
  full: {
    celeriac: { enqueue: 10_000, drain: 30_000, roundtrip: 2000, warmup: 100, producerConcurrency: 50, chunk: 1000 },
    celery: { enqueue: 10_000, drain: 30_000, roundtrip: 2000, warmup: 100, producerConcurrency: 1, chunk: 1000 },
  },
  quick: {
    celeriac: { enqueue: 300, drain: 1000, roundtrip: 50, warmup: 10, producerConcurrency: 50, chunk: 500 },
    celery: { enqueue: 200, drain: 500, roundtrip: 50, warmup: 10, producerConcurrency: 1, chunk: 500 },
  },
};

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How the harness starts one agent of a system, and the worker settings of the Redis benchmark. */
interface Driver {
  name: AmqpSystem;
  start(label: string, params: AgentParams, connectionName: string): Agent;
  worker: { concurrency: number; pool?: string; prefetchMultiplier?: number };
  /** rpc:// for both: results travel over the broker connection. */
  backend: string;
}

const REDIS_DRIVERS = makeDrivers({ celeriacFormat: "celery" });
const DRIVERS: Record<AmqpSystem, Driver> = {
  celeriac: {
    name: "celeriac",
    start: (label, params, connectionName) => {
      const full: AmqpAgentParams = { ...params, connectionName };
      return startAgent(label, process.execPath, ["--import", "tsx", `${benchDir}amqp/agent.ts`, JSON.stringify(full)]);
    },
    worker: REDIS_DRIVERS.celeriac.worker,
    backend: "rpc://",
  },
  celery: {
    name: "celery",
    // The Redis benchmark's agent, unchanged: Celery picks py-amqp for an amqp:// broker URL.
    start: (label, params) => startAgent(label, PYTHON, [`${benchDir}python/celery_agent.py`, JSON.stringify(params)]),
    // The Redis run's solo pool, but prefetch 64 (multiplier 64 x 1): with 1 or 4 Celery 5.2's solo worker
    // stalls on a pre-filled RabbitMQ queue (tasks delivered, never run; bench/README.md, "RabbitMQ").
    worker: { ...REDIS_DRIVERS.celery.worker, prefetchMultiplier: 64 },
    backend: "rpc://",
  },
};

function pick<T extends string>(raw: string | undefined, known: readonly T[]): T[] {
  if (!raw) return [...known];
  return raw.split(",").map((s) => s.trim()).filter((s): s is T => (known as readonly string[]).includes(s));
}

function brokerPort(url: string): number {
  const parsed = new URL(url.replace(/^pyamqp:/, "amqp:"));
  return Number(parsed.port || (parsed.protocol === "amqps:" ? 5671 : 5672));
}

/** Why Celery cannot run on AMQP here (null when it can). */
function celeryUnavailable(): string | null {
  try {
    execFileSync(PYTHON, ["-c", "import celery, amqp"], { stdio: "ignore", timeout: 20_000 });
    return null;
  } catch {
    return `${PYTHON} cannot import celery and amqp (install Debian's python3-celery and python3-amqp)`;
  }
}

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

function versions(withCelery: boolean, rabbitmq: string): Record<string, string> {
  const out: Record<string, string> = {
    node: process.version,
    celeriac: packageVersion(`${repoDir}package.json`),
    amqplib: packageVersion(`${repoDir}node_modules/amqplib/package.json`),
    rabbitmq,
  };
  if (withCelery) {
    try {
      const script = "import json, sys, celery, kombu, amqp; print(json.dumps({'python': sys.version.split()[0], 'celery': celery.__version__, 'kombu': kombu.__version__, 'py-amqp': amqp.__version__}))";
      Object.assign(out, JSON.parse(execFileSync(PYTHON, ["-c", script], { encoding: "utf8", timeout: 20_000 })) as Record<string, string>);
    } catch {
      out["celery"] = "unavailable";
    }
  }
  return out;
}

class Bench {
  private seq = 0;
  constructor(
    private readonly admin: RabbitAdmin,
    private readonly url: string,
    readonly prefix: string,
  ) {}

  /** A fresh queue name for one measurement, and the names to delete after it (Celery's warm-up queue too). */
  private queue(system: AmqpSystem, block: Block): { queue: string; created: string[] } {
    const queue = `${this.prefix}.${++this.seq}.${block}.${system}`;
    return { queue, created: [queue, `${queue}.warmup`] };
  }

  /** Messages in `queue` once it holds `n` (publishes without confirms may still be in flight), or after 5 s. */
  private async settledDepth(queue: string, n: number): Promise<number> {
    const deadline = Date.now() + 5000;
    let depth = await this.admin.depth(queue);
    while (depth < n && Date.now() < deadline) {
      await sleep(50);
      depth = await this.admin.depth(queue);
    }
    return depth;
  }

  private async cleanup(created: readonly string[]): Promise<void> {
    const failed = await this.admin.remove(created);
    if (failed.length) log(`could not delete: ${failed.join("; ")}`);
  }

  private producer(sys: Driver, queue: string, overrides: Partial<ProduceParams>): Agent {
    const params: ProduceParams = { role: "produce", broker: this.url, queue, mode: "single", n: 0, concurrency: 1, chunk: 1000, results: false, ...overrides };
    return sys.start(`${sys.name} producer`, params, `${this.prefix}-${sys.name}-producer`);
  }

  private worker(sys: Driver, queue: string, results: boolean, connectionName: string): Agent {
    const params: WorkerParams = { role: "worker", broker: this.url, queue, backend: results ? sys.backend : null, ...sys.worker };
    return sys.start(`${sys.name} worker`, params, connectionName);
  }

  private async connections(sys: Driver, agent: Agent, connectionName: string, detail: string): Promise<Measurement[]> {
    const seen = await connectionsOf(agent.pid, brokerPort(this.url), sys.name === "celeriac" ? connectionName : undefined);
    if (process.env["BENCH_DEBUG"]) log(`${sys.name} ${detail}: ${JSON.stringify(seen)}`);
    return [
      { scenario: "connections", unit: "connections", value: seen.connections, detail },
      { scenario: "connections", unit: "channels", value: seen.channels, detail },
    ];
  }

  /** Awaited single sends (celeriac: 50 in flight, each confirmed; Celery: sequential, as on Redis). */
  async enqueue(sys: Driver, sizes: Sizes): Promise<Measurement[]> {
    const { queue, created } = this.queue(sys.name, "enqueue");
    const agent = this.producer(sys, queue, { mode: "single", n: sizes.enqueue, concurrency: sizes.producerConcurrency });
    try {
      const { elapsedMs = NaN } = await agent.waitFor("done", 120_000 + sizes.enqueue * 5);
      const queued = await this.settledDepth(queue, sizes.enqueue);
      if (queued !== sizes.enqueue) throw new Error(`${sys.name}: ${queued} messages queued for ${sizes.enqueue} sent`);
      return [{ scenario: "enqueue", unit: "tasks/s", value: (sizes.enqueue / elapsedMs) * 1000 }];
    } finally {
      await agent.stop();
      await this.cleanup(created);
    }
  }

  /**
   * Fill the queue (timed: enqueue_bulk), then start one worker process on it (results off) and time
   * its first to its last completed task; producer and worker never overlap.
   */
  async drain(sys: Driver, sizes: Sizes, measureConnections: boolean): Promise<Measurement[]> {
    const n = sizes.drain;
    const { queue, created } = this.queue(sys.name, "drain");
    let w: Agent | null = null;
    try {
      const fill = this.producer(sys, queue, { mode: "bulk", n, chunk: sizes.chunk });
      const { elapsedMs: fillMs = NaN } = await fill.waitFor("done", 120_000 + n * 2).finally(() => fill.stop());
      const queued = await this.settledDepth(queue, n);
      if (queued !== n) throw new Error(`${sys.name}: ${queued} messages queued for ${n} sent`);
      const name = `${this.prefix}-${sys.name}-worker-${this.seq}`;
      const worker = this.worker(sys, queue, false, name);
      w = worker;
      await worker.until(`${n} tasks done`, 300_000, () => ((worker.latest("progress")?.done ?? 0) >= n ? true : undefined));
      const last = worker.latest("progress");
      const firstAt = last?.first ?? NaN;
      const lastAt = last?.last ?? NaN;
      if (last?.done !== n) throw new Error(`${sys.name}: ${last?.done ?? 0} tasks ran for ${n} sent`);
      if (process.env["BENCH_DEBUG"]) log(`${sys.name} drain: first → last ${lastAt - firstAt} ms`);
      const out: Measurement[] = [
        { scenario: "enqueue_bulk", unit: "tasks/s", value: (n / fillMs) * 1000 },
        { scenario: "drain", unit: "tasks/s", value: (n / (lastAt - firstAt)) * 1000 },
      ];
      if (measureConnections) out.push(...(await this.connections(sys, worker, name, "worker")));
      return out;
    } finally {
      await w?.stop();
      await this.cleanup(created);
    }
  }

  /** Sequential calls awaited to their rpc:// result; then the worker's connections with results on. */
  async roundtrip(sys: Driver, sizes: Sizes, measureConnections: boolean): Promise<Measurement[]> {
    const { queue, created } = this.queue(sys.name, "roundtrip");
    const name = `${this.prefix}-${sys.name}-worker-${this.seq}`;
    const w = this.worker(sys, queue, true, name);
    let client: Agent | null = null;
    try {
      await w.waitFor("ready", 60_000);
      client = sys.start(`${sys.name} client`, { role: "roundtrip", broker: this.url, backend: sys.backend, queue, n: sizes.roundtrip, warmup: sizes.warmup }, `${this.prefix}-${sys.name}-client`);
      const { latenciesMs = [] } = await client.waitFor("done", 60_000 + (sizes.roundtrip + sizes.warmup) * 100);
      const sorted = [...latenciesMs].sort((a, b) => a - b);
      const out: Measurement[] = (["ms_p50", "ms_p95", "ms_p99"] as const).map((unit) => ({ scenario: "roundtrip", unit, value: percentile(sorted, Number(unit.slice(4))) }));
      if (measureConnections) out.push(...(await this.connections(sys, w, name, "worker_results")));
      return out;
    } finally {
      await Promise.all([w.stop(), client?.stop()]);
      await this.cleanup(created);
    }
  }
}

const ROW_ORDER: [AmqpScenario, AmqpUnit, string?][] = [
  ["enqueue", "tasks/s"],
  ["enqueue_bulk", "tasks/s"],
  ["drain", "tasks/s"],
  ["roundtrip", "ms_p50"],
  ["roundtrip", "ms_p95"],
  ["roundtrip", "ms_p99"],
  ["connections", "connections", "worker"],
  ["connections", "channels", "worker"],
  ["connections", "connections", "worker_results"],
  ["connections", "channels", "worker_results"],
];

function format(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** The medians as a Markdown table; "vs celery" > 1 is better for celeriac whichever way the unit points. */
export function amqpTable(results: readonly AmqpRow[]): string {
  const lines = ["| scenario | unit | celeriac | celery | vs celery |", "|---|---|--:|--:|--:|"];
  for (const [scenario, unit, detail] of ROW_ORDER) {
    const [ours, theirs] = SYSTEMS.map((system) => results.find((r) => r.system === system && r.scenario === scenario && r.unit === unit && r.detail === detail)?.value);
    if (ours === undefined && theirs === undefined) continue;
    const ratio = ours && theirs && ours > 0 && theirs > 0 ? `${(unit === "tasks/s" ? ours / theirs : theirs / ours).toFixed(2)}x` : "–";
    lines.push(`| ${detail ? `${scenario} (${detail})` : scenario} | ${unit} | ${format(ours)} | ${format(theirs)} | ${ratio} |`);
  }
  return lines.join("\n");
}

/** The AMQP benchmark; resolves with the process exit code. */
export async function runAmqp(options: AmqpBenchOptions): Promise<number> {
  const started = Date.now();
  const loadStart = loadavg().map((l) => round(l, 2));
  const skipped: { system: string; reason: string }[] = [];
  const requested = options.systems ? options.systems.split(",").map((s) => s.trim()) : [...SYSTEMS, "bullmq"];
  if (requested.includes("bullmq")) skipped.push({ system: "bullmq", reason: "BullMQ has no AMQP transport (it runs on Redis only)" });
  const systems = pick(options.systems, SYSTEMS).filter((system) => {
    const reason = system === "celery" ? celeryUnavailable() : null;
    if (reason) skipped.push({ system, reason });
    return reason === null;
  });
  for (const s of skipped) log(`${s.system} skipped: ${s.reason}`);
  const scenarios = pick(options.scenarios, SCENARIOS);
  const blocks = (Object.keys(BLOCKS) as Block[]).filter((block) => BLOCKS[block].some((s) => scenarios.includes(s)));
  const sizes = SIZES[options.quick ? "quick" : "full"];
  const admin = await RabbitAdmin.connect(options.url);
  const prefix = `celeriac-bench-amqp-${process.pid}-${Date.now().toString(36)}`;
  const bench = new Bench(admin, options.url, prefix);
  log(`using ${options.url.replace(/:[^:@/]*@/, ":****@")} (RabbitMQ ${admin.serverVersion}); queues ${prefix}.*, deleted after use`);
  try {
    const byKey = new Map<string, AmqpRow>();
    for (let run = 0; run < options.runs; run++) {
      const order = systems.map((_, i) => systems[(i + run) % systems.length] as AmqpSystem);
      for (const block of blocks) {
        for (const system of order) {
          const sys = DRIVERS[system];
          const withConnections = scenarios.includes("connections");
          const measurements =
            block === "enqueue" ? await bench.enqueue(sys, sizes[system]) : block === "drain" ? await bench.drain(sys, sizes[system], withConnections) : await bench.roundtrip(sys, sizes[system], withConnections);
          for (const m of measurements) {
            const key = [system, m.scenario, m.unit, m.detail ?? ""].join("|");
            const row = byKey.get(key) ?? { broker: "amqp", system, scenario: m.scenario, unit: m.unit, value: NaN, runs: [], ...(m.detail ? { detail: m.detail } : {}) };
            row.runs.push(round(m.value, 3));
            byKey.set(key, row);
          }
          const headline = measurements.filter((m) => m.unit === "tasks/s" || m.unit === "ms_p50" || m.unit === "ms_p99");
          log(`run ${run + 1}/${options.runs} ${block.padEnd(9)} ${system.padEnd(8)} ${headline.map((m) => `${m.scenario} ${Math.round(m.value * 100) / 100} ${m.unit}`).join(", ")}`);
        }
      }
    }
    const results = [...byKey.values()].filter((row) => scenarios.includes(row.scenario)).map((row) => ({ ...row, value: round(median(row.runs), 3) }));
    const report = {
      broker: "amqp",
      machine: { cores: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? "unknown", memoryGiB: Math.round(totalmem() / 2 ** 30), platform: platform(), release: release(), arch: arch() },
      versions: versions(systems.includes("celery"), admin.serverVersion),
      command: options.command.replace(/(amqps?:\/\/[^:@/]*):[^@/]*@/g, "$1:****@"),
      date: new Date().toISOString(),
      settings: {
        runs: options.runs,
        quick: options.quick,
        loadAverage: { start: loadStart, end: loadavg().map((l) => round(l, 2)) },
        sizes,
        workers: Object.fromEntries(systems.map((s) => [s, DRIVERS[s].worker])),
        results: "rpc:// (roundtrip only; enqueue and drain store none)",
        drain: "queue filled first, then one worker process started; first → last completed task",
        amqp: "shared RabbitMQ, unique queue names, deleted after each measurement",
      },
      results,
      checks: [] as { name: string; ok: boolean; detail: string }[],
      skipped,
      breakdown: {},
    };
    console.log(`\n${amqpTable(results)}\n`);
    console.log(`machine: ${report.machine.cores} cores, ${report.machine.cpuModel}; ${Object.entries(report.versions).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    console.log(`command: ${report.command}; medians of ${options.runs} run(s); ${Math.round((Date.now() - started) / 1000)} s`);
    if (options.json) writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
    return 0;
  } finally {
    await sleep(200); // auto-delete queues of stopped agents go away with their connections
    const left = await queuesWithPrefix(prefix).catch(() => [] as string[]);
    if (left.length) log(`deleting leftover queues: ${left.join(", ")} (${(await admin.remove(left)).length} failed)`);
    await admin.close();
  }
}
