// `npm run bench -- --broker amqp`: Celeriac and Celery on the machine's RabbitMQ, interleaved run by
// run (enqueue, fill-then-drain, rpc:// round trip, connections and channels per worker); prints a
// Markdown table of medians and writes --json FILE. Every queue is uniquely named and deleted after use.
import { writeFileSync } from "node:fs";
import { arch, cpus, loadavg, platform, release, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { startAgent } from "../children.ts";
import { round } from "../commandstats.ts";
import { median } from "../report.ts";
import type { Sizes } from "../scenarios.ts";
import { PYTHON, celeryUnavailable, makeDrivers, versions } from "../systems/index.ts";
import type { AmqpAgentParams } from "./agent.ts";
import { RabbitAdmin, queuesWithPrefix } from "./rabbit.ts";
import { AMQP_SCENARIOS as SCENARIOS, AMQP_SYSTEMS as SYSTEMS, amqpTable, type AmqpRow, type AmqpScenario, type AmqpSystem } from "./report.ts";
import { Bench, log, sleep, type Block, type Driver } from "./scenarios.ts";

export const DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//";
const benchDir = fileURLToPath(new URL("..", import.meta.url));

const BLOCKS: Record<Block, AmqpScenario[]> = {
  enqueue: ["enqueue"],
  drain: ["enqueue_bulk", "drain", "connections"],
  roundtrip: ["roundtrip", "connections"],
};

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

/** The AMQP benchmark; resolves with the process exit code. */
export async function runAmqp(options: AmqpBenchOptions): Promise<number> {
  const started = Date.now();
  const loadStart = loadavg().map((l) => round(l, 2));
  const skipped: { system: string; reason: string }[] = [];
  const requested = options.systems ? options.systems.split(",").map((s) => s.trim()) : [...SYSTEMS, "bullmq"];
  if (requested.includes("bullmq")) skipped.push({ system: "bullmq", reason: "BullMQ has no AMQP transport (it runs on Redis only)" });
  const systems = pick(options.systems, SYSTEMS).filter((system) => {
    const reason = system === "celery" ? celeryUnavailable("amqp") : null;
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
      versions: versions(systems.includes("celery"), "amqp", { rabbitmq: admin.serverVersion }),
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
