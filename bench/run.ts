// `npm run bench`: celeriac, BullMQ and Celery side by side on one Redis (a private redis-server, or
// --redis URL, which is FLUSHALLed), systems interleaved run by run; prints a Markdown table of
// medians, and writes --json FILE and --chart FILE (SVG). See bench/README.md for each scenario.
import { writeFileSync } from "node:fs";
import { cpus, arch, loadavg, platform, release, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { buildLibrary } from "./library.ts";
import { killChildrenOnExit } from "./children.ts";
import { breakdown, calibrate, round, usecPerTask, type NestedShares } from "./commandstats.ts";
import type { SystemName } from "./protocol.ts";
import { Admin, startPrivateRedis, type RedisHandle } from "./redis-server.ts";
import { median, svgChart, table, type Report, type ResultRow } from "./report.ts";
import { compatCheck, enqueue, fillAndDrain, roundtrip, type Ctx, type Measurement, type Scenario, type Sizes, type StatsSample } from "./scenarios.ts";
import { celeryUnavailable, makeDrivers, versions } from "./systems/index.ts";

const ALL_SYSTEMS: SystemName[] = ["celeriac", "bullmq", "celery"];
const ALL_SCENARIOS: Scenario[] = ["enqueue", "enqueue_bulk", "drain", "drain_2proc", "drain_results", "roundtrip", "memory", "connections", "redis_cpu"];
type Block = "enqueue" | "drain" | "drain_2proc" | "drain_results" | "roundtrip";
/** Which scenarios each measuring block yields. */
const BLOCKS: Record<Block, Scenario[]> = {
  enqueue: ["enqueue", "connections"],
  drain: ["enqueue_bulk", "drain", "memory", "connections", "redis_cpu"],
  drain_2proc: ["drain_2proc"],
  drain_results: ["drain_results", "connections", "redis_cpu"],
  roundtrip: ["roundtrip"],
};

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    chart: { type: "string" },
    redis: { type: "string" },
    systems: { type: "string" },
    scenarios: { type: "string" },
    runs: { type: "string" },
    profile: { type: "string" },
    "celeriac-format": { type: "string", default: "celery" },
    broker: { type: "string", default: "redis" },
    amqp: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (flags.help) {
  console.log(`usage: npm run bench -- [--quick] [--runs N] [--json FILE] [--chart FILE.svg] [--redis URL (FLUSHALLed!)]
       [--systems ${ALL_SYSTEMS.join(",")}] [--scenarios ${ALL_SCENARIOS.join(",")}] [--profile DIR (celeriac drain workers and enqueue producer under --cpu-prof)]
       [--celeriac-format celery|compact (the Redis broker's messageFormat; default celery, which Python reads)]
       [--broker redis|amqp] [--amqp URL (default amqp://guest:guest@127.0.0.1:5672//; see bench/README.md, "RabbitMQ")]`);
  process.exit(0);
}

function list<T extends string>(raw: string | undefined, known: readonly T[], what: string): T[] {
  if (!raw) return [...known];
  const picked = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of picked) if (!known.includes(name as T)) throw new Error(`unknown ${what} "${name}"; known: ${known.join(", ")}`);
  return picked as T[];
}

const quick = flags.quick === true;
const celeriacFormat = flags["celeriac-format"];
if (celeriacFormat !== "celery" && celeriacFormat !== "compact") throw new Error(`--celeriac-format must be "celery" or "compact", not "${celeriacFormat}"`);
const DRIVERS = makeDrivers({ celeriacFormat });
const runs = flags.runs ? Math.max(1, Math.min(20, Number(flags.runs))) : quick ? 1 : 3;
const scenarios = list(flags.scenarios, ALL_SCENARIOS, "scenario");
const wanted = list(flags.systems, ALL_SYSTEMS, "system");
const SIZES: Record<"full" | "quick", Record<"node" | "celery" | "calibration", Sizes>> = {
  full: {
    node: { enqueue: 20_000, drain: 100_000, roundtrip: 2000, warmup: 100, producerConcurrency: 50, chunk: 1000 },
    // Celery is ~50x slower: fewer tasks keep the run under 15 minutes; its rates do not depend on N.
    celery: { enqueue: 5000, drain: 20_000, roundtrip: 2000, warmup: 100, producerConcurrency: 1, chunk: 1000 },
    calibration: { enqueue: 0, drain: 1000, roundtrip: 0, warmup: 0, producerConcurrency: 1, chunk: 1000 },
  },
  quick: {
    node: { enqueue: 300, drain: 1000, roundtrip: 50, warmup: 10, producerConcurrency: 50, chunk: 500 },
    celery: { enqueue: 200, drain: 500, roundtrip: 50, warmup: 10, producerConcurrency: 1, chunk: 500 },
    calibration: { enqueue: 0, drain: 100, roundtrip: 0, warmup: 0, producerConcurrency: 1, chunk: 100 },
  },
};
const sizes = SIZES[quick ? "quick" : "full"];
const sizesFor = (system: SystemName): Sizes => (system === "celery" ? sizes.celery : sizes.node);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  killChildrenOnExit();
  const removeLibrary = buildLibrary(log);
  try {
    return await runBroker();
  } finally {
    removeLibrary();
  }
}

async function runBroker(): Promise<number> {
  if (flags.broker === "amqp") {
    const { DEFAULT_AMQP_URL, runAmqp } = await import("./amqp/run.ts");
    const command = ["npm run bench --", ...process.argv.slice(2)].join(" ");
    return runAmqp({ url: flags.amqp ?? DEFAULT_AMQP_URL, quick, runs, systems: flags.systems, scenarios: flags.scenarios, json: flags.json, command });
  }
  if (flags.broker !== "redis") throw new Error(`--broker must be "redis" or "amqp", not "${flags.broker}"`);
  const started = Date.now();
  const loadStart = loadavg().map((l) => round(l, 2));
  const skipped: Report["skipped"] = [];
  const systems = wanted.filter((system) => {
    const reason = system === "celery" ? celeryUnavailable() : null;
    if (reason) {
      skipped.push({ system, reason });
      log(`celery skipped: ${reason}`);
    }
    return reason === null;
  });
  let redis: RedisHandle;
  if (flags.redis) {
    redis = { url: flags.redis, stop: async () => undefined };
    log(`using ${flags.redis} (it is FLUSHALLed between runs)`);
  } else {
    redis = await startPrivateRedis();
    log(`started a private redis-server at ${redis.url}`);
  }
  const admin = new Admin(redis.url);
  try {
    const ctx: Ctx = { admin, url: redis.url, profileArgs: flags.profile ? ["--cpu-prof", "--cpu-prof-dir", flags.profile] : [] };
    const byKey = new Map<string, ResultRow>();
    const record = (system: SystemName, m: Measurement): void => {
      const key = [system, m.scenario, m.unit, m.detail ?? ""].join("|");
      const row = byKey.get(key) ?? { system, scenario: m.scenario, unit: m.unit, value: NaN, runs: [], ...(m.detail ? { detail: m.detail } : {}) };
      row.runs.push(round(m.value, 3));
      byKey.set(key, row);
    };
    const samples = new Map<SystemName, StatsSample[]>();
    const blocks = (Object.keys(BLOCKS) as Block[]).filter((block) => BLOCKS[block].some((s) => scenarios.includes(s)));
    for (let run = 0; run < runs; run++) {
      // Interleave: every block measures each system in turn, the order rotating from run to run.
      const order = systems.map((_, i) => systems[(i + run) % systems.length] as SystemName);
      for (const block of blocks) {
        for (const system of order) {
          const sys = DRIVERS[system];
          const size = sizesFor(system);
          let measurements: Measurement[];
          if (block === "enqueue") measurements = await enqueue(ctx, sys, size);
          else if (block === "roundtrip") measurements = await roundtrip(ctx, sys, size);
          else {
            const options = { procs: block === "drain_2proc" ? 2 : 1, results: block === "drain_results" } as const;
            const outcome = await fillAndDrain(ctx, sys, size, options);
            measurements = outcome.measurements;
            samples.set(system, [...(samples.get(system) ?? []), ...outcome.samples]);
          }
          for (const m of measurements) record(system, m);
          const headline = measurements.filter((m) => m.unit === "tasks/s" || m.unit === "ms_p50" || m.unit === "ms_p99");
          log(`run ${run + 1}/${runs} ${block.padEnd(13)} ${system.padEnd(8)} ${headline.map((m) => `${m.scenario} ${Math.round(m.value * 100) / 100} ${m.unit}`).join(", ")}`);
        }
      }
    }
    const report: Report = {
      machine: { cores: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? "unknown", memoryGiB: Math.round(totalmem() / 2 ** 30), platform: platform(), release: release(), arch: arch() },
      versions: { ...versions(systems.includes("celery")), redis: await admin.serverVersion() },
      command: ["npm run bench --", ...process.argv.slice(2)].join(" "),
      date: new Date().toISOString(),
      settings: { runs, quick, celeriacFormat, loadAverage: { start: loadStart, end: loadavg().map((l) => round(l, 2)) }, sizes: { node: sizes.node, celery: sizes.celery }, workers: Object.fromEntries(systems.map((s) => [s, DRIVERS[s].worker])), redis: flags.redis ? "given URL" : "private redis-server, --save '' --appendonly no" },
      results: [],
      checks: [],
      skipped,
      breakdown: {},
    };
    if (scenarios.includes("redis_cpu")) {
      for (const system of systems) {
        log(`calibrating ${system}: which commands run inside scripts (MONITOR, ${sizes.calibration.drain} tasks)`);
        const shares: NestedShares = await calibrate(ctx, DRIVERS[system], sizes.calibration);
        const mine = samples.get(system) ?? [];
        for (const sample of mine) record(system, { scenario: "redis_cpu", unit: "us/task", value: usecPerTask(sample, shares), detail: sample.phase });
        report.breakdown[system] = breakdown(mine, shares);
      }
    }
    if (systems.includes("celeriac") && systems.includes("celery")) {
      const check = await compatCheck(ctx, DRIVERS.celeriac, DRIVERS.celery, quick ? 50 : 1000);
      report.checks.push(check);
      log(`check: ${check.name}: ${check.ok ? "ok" : "FAILED"} (${check.detail})`);
    }
    report.results = [...byKey.values()].filter((row) => scenarios.includes(row.scenario)).map((row) => ({ ...row, value: round(median(row.runs), 3) }));
    console.log(`\n${table(report.results)}\n`);
    console.log(`machine: ${report.machine.cores} cores, ${report.machine.cpuModel}; ${Object.entries(report.versions).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    console.log(`command: ${report.command}; medians of ${runs} run(s); ${Math.round((Date.now() - started) / 1000)} s`);
    if (flags.json) writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
    if (flags.chart) writeFileSync(flags.chart, svgChart(report));
    return report.checks.every((check) => check.ok) ? 0 : 1;
  } finally {
    await admin.close();
    await redis.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
