// Smoke test of the RabbitMQ benchmark: `npm run bench -- --broker amqp --quick` against the machine's
// RabbitMQ (CELERIAC_TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672//) must finish, write
// JSON of the documented schema and leave no queue behind. It never asserts a timing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AMQP_ROW_ORDER } from "./amqp/report.ts";
import { assertRows, celeryImportable, runHarness, type Row } from "./smoke-kit.ts";

const AMQP_URL = process.env["CELERIAC_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672//";
const SCENARIOS = ["enqueue", "enqueue_bulk", "drain", "roundtrip", "connections"];
const UNITS = ["tasks/s", "ms_p50", "ms_p95", "ms_p99", "connections", "channels"];
/** Every system must report each row of the table: [scenario, unit, detail]. */
const EXPECTED = AMQP_ROW_ORDER;

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

    const systems = celeryImportable("amqp") ? ["celeriac", "celery"] : ["celeriac"];
    assertRows(report.results, { systems, scenarios: SCENARIOS, units: UNITS, broker: "amqp" });
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
