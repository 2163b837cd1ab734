// `celeriac dead-letters` as a user runs it, against a private Redis: a worker that does not know a
// task stores FAILURE NotRegistered and keeps the message as a dead letter; `list` shows it; once a
// worker that has the task runs, `redrive` makes it run once and succeed; `purge` refuses without
// --force when standard input is not a terminal, and deletes with it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "../integration/redis-server.ts";

const bin = fileURLToPath(new URL("../../bin/celeriac.js", import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

let server: RedisChild;
let env: NodeJS.ProcessEnv;
const workers: ChildProcess[] = [];

function celeriac(args: string[], input = "") {
  // stdin is a pipe (not a terminal), as in a script or CI job; the timeout turns a hang into a failure.
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env, input, timeout: 30_000 });
}

/** Starts `celeriac worker -A <module>` with JSON logs; resolves once it is ready. */
async function startWorker(module: string): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(process.execPath, [bin, "worker", "-A", fixture(module), "-c", "2", "--log-format", "json"], { env, stdio: ["ignore", "ignore", "pipe"] });
  workers.push(child);
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const deadline = Date.now() + 30_000;
  while (!stderr.includes("ready")) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`worker did not start:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, log: () => stderr };
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  await once(child, "exit");
}

function listJson(): { id: string; task: string; code: string; reason: string; queue: string; at: string }[] {
  const listed = celeriac(["dead-letters", "list", "--json"]);
  assert.equal(listed.status, 0, listed.stderr);
  return JSON.parse(listed.stdout) as ReturnType<typeof listJson>;
}

before(async () => {
  server = await startRedisServer(await freePort());
  const url = `redis://127.0.0.1:${server.port}/0`;
  env = { ...process.env, CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
});

after(async () => {
  for (const child of workers) await stopWorker(child);
  await killRedisServer(server);
});

test("unknown task: FAILURE NotRegistered and a dead letter; redriven to a worker that has the task, it runs once", async () => {
  const first = await startWorker("tasks.ts");
  const call = celeriac(["call", "e2e.later", "--args", "[2, 3]"]);
  assert.equal(call.status, 0, call.stderr);
  const id = call.stdout.trim();
  const failed = celeriac(["result", id, "--wait", "--timeout", "20"]);
  assert.equal(failed.status, 1, failed.stderr);
  assert.deepEqual(JSON.parse(failed.stdout), { id, state: "FAILURE", result: { type: "NotRegistered", message: "e2e.later", module: "celery.exceptions" } });

  const letters = listJson();
  assert.equal(letters.length, 1);
  assert.deepEqual([letters[0]?.id, letters[0]?.task, letters[0]?.code, letters[0]?.queue], [id, "e2e.later", "NOT_REGISTERED", "celery"]);
  assert.match(letters[0]?.reason ?? "", /task "e2e\.later" is not registered/);
  const text = celeriac(["dead-letters", "list", "-Q", "celery", "--limit", "5"]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^\\S+Z  ${id}  e2e\\.later  NOT_REGISTERED: task "e2e\\.later" is not registered`, "m"));
  await stopWorker(first.child);
  assert.match(first.log(), /rejected message e2e\.later\[[0-9a-f-]{36}\]: NOT_REGISTERED/);
  const second = await startWorker("later-tasks.ts");
  const redrive = celeriac(["dead-letters", "redrive"]);
  assert.equal(redrive.status, 0, redrive.stderr);
  assert.equal(redrive.stdout.trim(), 'redrove 1 dead letter(s) to queue "celery"');
  const succeeded = celeriac(["result", id, "--wait", "--timeout", "20"]);
  assert.equal(succeeded.status, 0, succeeded.stderr);
  assert.deepEqual(JSON.parse(succeeded.stdout), { id, state: "SUCCESS", result: 5 });
  assert.deepEqual(listJson(), []);
  await stopWorker(second.child);
  const runs = second
    .log()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg: string; id?: string })
    .filter((line) => line.id === id && line.msg.startsWith("succeeded"));
  assert.equal(runs.length, 1, "the redriven task ran more than once");
});

test("purge refuses without --force when stdin is not a terminal, and deletes with it", async () => {
  const worker = await startWorker("tasks.ts");
  const call = celeriac(["call", "e2e.nobody"]);
  assert.equal(call.status, 0, call.stderr);
  assert.equal(celeriac(["result", call.stdout.trim(), "--wait", "--timeout", "20"]).status, 1);
  await stopWorker(worker.child);
  assert.equal(listJson().length, 1);

  const refused = celeriac(["dead-letters", "purge"], "y\n");
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /CONFIRMATION_REQUIRED: refusing to purge without --force: standard input is not a terminal/);
  assert.equal(listJson().length, 1, "purge without --force deleted dead letters");

  const purged = celeriac(["dead-letters", "purge", "--force"]);
  assert.equal(purged.status, 0, purged.stderr);
  assert.equal(purged.stdout.trim(), 'purged 1 dead letter(s) of queue "celery"');
  assert.deepEqual(listJson(), []);
  const empty = celeriac(["dead-letters", "list"]);
  assert.equal(empty.stdout.trim(), 'no dead letters in queue "celery"');
});
