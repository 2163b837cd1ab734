// The demo, run as a user runs it: the `celeriac` command in a child process, with zero servers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/celeriac.js", import.meta.url));

test("celeriac demo runs a realistic mix on the embedded broker and exits 0", () => {
  const run = spawnSync(process.execPath, [bin, "demo"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, CELERIAC_BROKER_URL: "" } });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /progress: \d+\/35 done/);
  assert.match(run.stdout, /email\s+20\s+SUCCESS×20/);
  assert.match(run.stdout, /webhook \(flaky\)\s+4\s+SUCCESS×4/);
  assert.match(run.stdout, /pdf \(too big\)\s+1\s+FAILURE×1/);
  assert.match(run.stdout, /reindex \(expired\)\s+1\s+REVOKED×1/);
  assert.match(run.stdout, /35 tasks: 33 succeeded, 1 failed, 1 revoked, 8 retries along the way/);
  assert.doesNotMatch(run.stderr, /Warning/);
});

test("every command has --help, and bad input fails with one clear line", () => {
  for (const command of [[], ["worker"], ["call"], ["result"], ["demo"]]) {
    const run = spawnSync(process.execPath, [bin, ...command, "--help"], { encoding: "utf8" });
    assert.equal(run.status, 0, `celeriac ${command.join(" ")} --help failed`);
    assert.match(run.stdout, /Usage: celeriac/);
  }
  const badArgs = spawnSync(process.execPath, [bin, "call", "tasks.add", "--args", "{not json", "--broker", "redis://127.0.0.1:6379/0"], { encoding: "utf8" });
  assert.equal(badArgs.status, 2);
  assert.match(badArgs.stderr, /celeriac: CONFIG_INVALID: --args is not valid JSON/);
  const noApp = spawnSync(process.execPath, [bin, "worker", "-A", "./does-not-exist.ts"], { encoding: "utf8" });
  assert.equal(noApp.status, 2);
  assert.match(noApp.stderr, /cannot load task module "\.\/does-not-exist\.ts"/);
});
