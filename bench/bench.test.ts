// Smoke test of the benchmark harness: `npm run bench -- --quick` against its own private Redis must
// finish and write JSON of the documented schema (every system, every scenario) and an SVG chart.
// It never asserts a timing: only that each figure exists, is a finite number, and has its runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertRows, celeryImportable, runHarness, type Row } from "./smoke-kit.ts";
import { ROW_ORDER } from "./report.ts";

const SYSTEMS = ["celeriac", "bullmq", "celery"];
const SCENARIOS = ["enqueue", "enqueue_bulk", "drain", "drain_2proc", "drain_results", "roundtrip", "memory", "connections", "redis_cpu"];
const UNITS = ["tasks/s", "ms_p50", "ms_p95", "ms_p99", "bytes/task", "connections", "us/task"];
/** Every system must report these (scenario, unit) pairs: each distinct pair of the table's rows. */
const EXPECTED: [string, string][] = [...new Map(ROW_ORDER.map(([scenario, unit]) => [`${scenario} ${unit}`, [scenario, unit] as [string, string]])).values()];

test("npm run bench -- --quick writes the documented JSON for every system and scenario", { timeout: 150_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-smoke-"));
  try {
    const json = join(dir, "results.json");
    const chart = join(dir, "chart.svg");
    const { code, output } = await runHarness(["--quick", "--json", json, "--chart", chart], 140_000);
    assert.equal(code, 0, output.slice(-4000));
    assert.match(output, /\| scenario \| unit \| celeriac \| bullmq \| celery \|/);

    const report = JSON.parse(readFileSync(json, "utf8")) as {
      machine: { cores: number; cpuModel: string };
      versions: Record<string, string>;
      command: string;
      results: Row[];
      checks: { name: string; ok: boolean }[];
      skipped: { system: string; reason: string }[];
    };
    assert.ok(report.machine.cores >= 1, "report.machine.cores >= 1");
    assert.equal(typeof report.machine.cpuModel, "string");
    for (const key of ["node", "celeriac", "bullmq", "redis"]) assert.equal(typeof report.versions[key], "string", key);
    assert.match(report.command, /--quick/);

    assertRows(report.results, { systems: SYSTEMS, scenarios: SCENARIOS, units: UNITS });
    const expectedSystems = celeryImportable("redis") ? SYSTEMS : ["celeriac", "bullmq"];
    if (!expectedSystems.includes("celery")) assert.ok(report.skipped.some((s) => s.system === "celery" && s.reason.length > 0), "report.skipped.some((s) => s.system === \"celery\" && s.reason.length > 0)");
    for (const system of expectedSystems) {
      for (const [scenario, unit] of EXPECTED) {
        assert.ok(
          report.results.some((r) => r.system === system && r.scenario === scenario && r.unit === unit),
          `${system} has ${scenario} in ${unit}`,
        );
      }
    }
    if (expectedSystems.includes("celery")) assert.ok(report.checks.length > 0 && report.checks.every((c) => c.ok), JSON.stringify(report.checks));
    assert.match(readFileSync(chart, "utf8"), /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
