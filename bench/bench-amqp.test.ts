// Smoke test of the RabbitMQ benchmark: `npm run bench -- --broker amqp --quick` against the machine's
// RabbitMQ (CELERIAC_TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672//) must finish, write
// JSON of the documented schema and leave no queue behind. It never asserts a timing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));
const AMQP_URL = process.env["CELERIAC_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672//";
const SCENARIOS = ["enqueue", "enqueue_bulk", "drain", "roundtrip", "connections"];
const UNITS = ["tasks/s", "ms_p50", "ms_p95", "ms_p99", "connections", "channels"];
/** Every system must report these [scenario, unit, detail]. */
const EXPECTED: [string, string, string?][] = [
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

interface Row {
  broker: string;
  system: string;
  scenario: string;
  value: number;
  unit: string;
  runs: number[];
  detail?: string;
}

function celeryImportable(): boolean {
  try {
    execFileSync("/usr/bin/python3", ["-c", "import celery, amqp"], { stdio: "ignore", timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** Run the harness, killed after `timeoutMs`; resolves with its exit code and output. */
function runHarness(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", ...args], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test("npm run bench -- --broker amqp --quick writes the documented JSON and deletes its queues", { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-amqp-smoke-"));
  try {
    const json = join(dir, "results.json");
    const { code, output } = await runHarness(["--broker", "amqp", "--amqp", AMQP_URL, "--quick", "--json", json], 80_000);
    assert.equal(code, 0, output.slice(-4000));
    assert.match(output, /\| scenario \| unit \| celeriac \| celery \| vs celery \|/);
    const prefix = /queues (celeriac-bench-amqp-[\w-]+)\.\*/.exec(output)?.[1];
    assert.ok(prefix, "the harness names its queue prefix");

    const report = JSON.parse(readFileSync(json, "utf8")) as {
      broker: string;
      versions: Record<string, string>;
      command: string;
      results: Row[];
      skipped: { system: string; reason: string }[];
    };
    assert.equal(report.broker, "amqp");
    for (const key of ["node", "celeriac", "amqplib", "rabbitmq"]) assert.equal(typeof report.versions[key], "string", key);
    assert.match(report.command, /--broker amqp/);
    assert.ok(report.skipped.some((s) => s.system === "bullmq" && /AMQP/.test(s.reason)), "BullMQ is reported as skipped");

    const systems = celeryImportable() ? ["celeriac", "celery"] : ["celeriac"];
    for (const row of report.results) {
      assert.equal(row.broker, "amqp");
      assert.ok(systems.includes(row.system), row.system);
      assert.ok(SCENARIOS.includes(row.scenario), row.scenario);
      assert.ok(UNITS.includes(row.unit), row.unit);
      assert.ok(Number.isFinite(row.value), `${row.system} ${row.scenario} ${row.unit}: ${row.value}`);
      assert.ok(row.runs.length >= 1 && row.runs.every(Number.isFinite), `${row.system} ${row.scenario} runs`);
    }
    for (const system of systems) {
      for (const [scenario, unit, detail] of EXPECTED) {
        const row = report.results.find((r) => r.system === system && r.scenario === scenario && r.unit === unit && r.detail === detail);
        assert.ok(row, `${system} has ${scenario} ${detail ?? ""} in ${unit}`);
        if (unit === "connections") assert.ok(row.value >= 1, `${system} ${detail} has a connection`);
      }
    }
    const queues = execFileSync("/usr/sbin/rabbitmqctl", ["list_queues", "name", "-q"], { encoding: "utf8", timeout: 30_000 });
    assert.ok(!queues.includes(prefix), `queues left behind: ${queues.split("\n").filter((q) => q.includes(prefix)).join(", ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
