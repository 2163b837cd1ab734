// Helpers the harness's two smoke tests (bench/bench.test.ts, bench/bench-amqp.test.ts) share: run
// `bench/run.ts` with a deadline, ask whether Celery can run, and check every result row's schema.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));

/** One row of the JSON's `results` (`broker` on the RabbitMQ run only). */
export interface Row {
  broker?: string;
  system: string;
  scenario: string;
  value: number;
  unit: string;
  runs: number[];
  detail?: string;
}

/** Whether /usr/bin/python3 imports celery and the broker's library ("redis" or "amqp"). */
export function celeryImportable(transport: "redis" | "amqp"): boolean {
  try {
    execFileSync("/usr/bin/python3", ["-c", `import celery, ${transport}`], { stdio: "ignore", timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** Run the harness, killed after `timeoutMs`; resolves with its exit code and output. */
export function runHarness(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
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

/** Every row names a known system, scenario and unit (and `broker`, when given), with a finite value and its runs. */
export function assertRows(rows: readonly Row[], known: { systems: string[]; scenarios: string[]; units: string[]; broker?: string }): void {
  for (const row of rows) {
    if (known.broker !== undefined) assert.equal(row.broker, known.broker);
    assert.ok(known.systems.includes(row.system), row.system);
    assert.ok(known.scenarios.includes(row.scenario), row.scenario);
    assert.ok(known.units.includes(row.unit), row.unit);
    assert.ok(Number.isFinite(row.value), `${row.system} ${row.scenario} ${row.unit}: ${row.value}`);
    assert.ok(row.runs.length >= 1 && row.runs.every(Number.isFinite), `${row.system} ${row.scenario} runs`);
  }
}
