// The CLI as a user runs it, for secrets and silent defaults (real Redis, db 15, private queues): a
// password in a broker URL never reaches the banner, a log line or an error, and with no result
// backend configured results are off (banner "(none)") and reading one fails at once.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

const bin = fileURLToPath(new URL("../../bin/celeriac.js", import.meta.url));
const tasks = fileURLToPath(new URL("./fixtures/tasks.ts", import.meta.url));
const SECRET = "hunter2-e2e";
const BROKER = "redis://127.0.0.1:6379/15";
const QUEUE = `cli-secrets-${randomUUID()}`;
// The user's environment without any broker or backend setting, so only the flags below count.
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(CELERIAC_|CELERY_|BROKER_URL$)/.test(name)));
const admin = new Redis(BROKER);

after(async () => {
  await admin.del(QUEUE, `_kombu.binding.${QUEUE}`);
  await admin.quit();
});

function celeriac(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env, timeout: 30_000 });
}

test("worker: a password in the URL's query is masked in the banner, and no backend means (none)", async () => {
  const child = spawn(process.execPath, [bin, "worker", "-A", tasks, "-Q", QUEUE, "--broker", `${BROKER}?password=${SECRET}`], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = once(child, "exit") as Promise<[number | null]>;
  const deadline = Date.now() + 30_000;
  while (!output.includes("tasks:")) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`worker did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill("SIGTERM");
  const [code] = await exited;
  assert.equal(code, 0, output);
  assert.match(output, /broker: +redis:\/\/127\.0\.0\.1:6379\/15\?password=\*\*\*\*\n/);
  assert.match(output, /backend: +\(none\)\n/);
  assert.ok(!output.includes(SECRET), output);
});

test("a malformed broker URL with a password is refused, and the error shows it masked", () => {
  const call = celeriac("call", "e2e.add", "--broker", `redis//:${SECRET}@127.0.0.1/15`);
  assert.equal(call.status, 2);
  assert.match(call.stderr, /CONFIG_INVALID: config "brokerUrl" is "redis\/\/:\*\*\*\*@127\.0\.0\.1\/15"/);
  assert.ok(!call.stderr.includes(SECRET) && !call.stdout.includes(SECRET), "!call.stderr.includes(SECRET) && !call.stdout.includes(SECRET)");
});

test("call --wait with no result backend refuses before sending; result fails at once", async () => {
  const call = celeriac("call", "e2e.add", "--args", "[2, 3]", "--queue", QUEUE, "--wait", "--broker", BROKER);
  assert.equal(call.status, 2);
  assert.match(call.stderr, /--wait needs a result backend and none is configured/);
  assert.equal(call.stdout, "");
  assert.equal(await admin.llen(QUEUE), 0, "the task was sent anyway");

  const result = celeriac("result", randomUUID(), "--wait", "--broker", BROKER, "--backend", "none");
  assert.equal(result.status, 2);
  assert.match(result.stderr, /NO_RESULT_BACKEND: no result backend is configured/);
});
