// At-least-once on Redis under repeated kill -9, on a private redis-server: tasks trickle in while
// acksLate workers (child processes) are killed over and over, idle in their blocking wait (where
// BRPOP lost the message published in the next milliseconds: Redis hands it to the dead client's
// still-registered pop) and busy mid-task. Every task must run: 0 lost; a task runs again at most once
// per killed worker that had started it; a task no killed worker started runs exactly once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createApp, type App } from "../../src/index.ts";
import { buildLibrary, LIBRARY_ENV } from "../../bench/library.ts";
import { delay, eventually } from "../conformance/fixtures.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";
import { CHILD_SOURCE, EVENTS, TASK } from "./redis-kill-loop-child.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
let server: RedisChild;
let url: string;
let admin: Redis;
let removeLibrary: () => void = () => undefined;
const children = new Set<ChildProcess>();

before(async () => {
  removeLibrary = buildLibrary(() => undefined);
  server = await startRedisServer(await freePort());
  url = `redis://127.0.0.1:${server.port}/0`;
  admin = new Redis(url);
});

after(async () => {
  for (const child of children) {
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    if (child.exitCode === null && child.signalCode === null) await exited;
  }
  await admin.quit();
  await killRedisServer(server);
  removeLibrary();
});

/** A worker process on `queues`; resolves once it says ready (its log lines go to `logs`). */
async function startChild(queues: string[], concurrency: number, logs: string[]): Promise<{ child: ChildProcess; exited: Promise<unknown> }> {
  const args = ["--input-type=module", "-e", CHILD_SOURCE, process.env[LIBRARY_ENV] as string, url, queues.join(","), String(concurrency)];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const exited = once(child, "exit").finally(() => children.delete(child));
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  let ready = false;
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line === "ready") ready = true;
    else if (line.startsWith("log ")) logs.push(line.slice(4));
  });
  await eventually(() => ready || child.exitCode !== null, 30_000, `a worker on ${queues.join(",")}`);
  assert.ok(ready, `the worker did not start:\n${stderr}`);
  return { child, exited };
}

interface Lane {
  queue: string;
  concurrency: number;
  /** How long a started child runs before it is killed, ms (counted once its queue is empty, when `idle`). */
  liveMs: () => number;
  /** Kill only once the child has drained its queue: it then waits for the next message. */
  idle: boolean;
}

interface Run {
  producer: App;
  everyMs: number;
  taskMs: number;
  published: number;
  pids: Set<number>;
  logs: string[];
}

/**
 * One child worker on `lane`, killed with SIGKILL once it has run for a while. Tasks trickle into the
 * lane's queue (one every `everyMs`) from the child's ready line until 30 ms after the kill, which
 * covers the moment Redis still takes the dead process's blocking pop for a live one; between children
 * nothing is published, so no backlog builds up while the next one starts.
 */
async function killOnce(run: Run, lane: Lane): Promise<void> {
  const { child, exited } = await startChild([lane.queue], lane.concurrency, run.logs);
  run.pids.add(child.pid!);
  let publishing = true;
  const trickle = (async () => {
    while (publishing) {
      await run.producer.sendTask(TASK, [run.published++, run.taskMs], { queue: lane.queue });
      await delay(run.everyMs);
    }
  })();
  try {
    if (lane.idle) await eventually(async () => (await admin.llen(lane.queue)) === 0, 30_000, `${lane.queue} drained`);
    await delay(lane.liveMs());
    child.kill("SIGKILL");
    await delay(30);
  } finally {
    publishing = false;
    await trickle;
  }
  await exited;
}

interface Outcome {
  published: number;
  kills: number;
  lost: number;
  extraRuns: number;
  rescued: number;
}

/**
 * `kills` children killed, spread over the lanes (each lane one child at a time); then one worker in
 * this process drains what is left, and the recorded runs are checked.
 */
async function killLoop(name: string, lanes: Lane[], kills: number, everyMs: number, taskMs: number): Promise<Outcome> {
  await admin.flushdb();
  const run: Run = { producer: createApp({ brokerUrl: url, resultBackend: url, taskIgnoreResult: true, readEnv: false }), everyMs, taskMs, published: 0, pids: new Set(), logs: [] };
  let drain: Awaited<ReturnType<typeof startChild>> | null = null;
  try {
    await Promise.all(lanes.map(async (lane, i) => {
      for (let k = i; k < kills; k += lanes.length) await killOnce(run, lane);
    }));
    // What the killed workers held comes back here (claims after the 2 s visibility timeout,
    // in-flight lists within about a second).
    drain = await startChild(lanes.map((lane) => lane.queue), 8, run.logs);
    const done = async (): Promise<number> => new Set((await admin.lrange(EVENTS, 0, -1)).filter((e) => e.endsWith(" d")).map((e) => e.split(" ")[0])).size;
    await eventually(async () => (await done()) >= run.published, 30_000, `${name}: every task done`).catch(() => undefined);
    // Past another visibility timeout nothing may still be held, or come back and run again.
    await delay(2500);
  } finally {
    drain?.child.kill("SIGTERM");
    await drain?.exited;
    await run.producer.close();
  }

  const starts = new Map<string, string[]>();
  const done = new Set<string>();
  for (const event of await admin.lrange(EVENTS, 0, -1)) {
    const [n, pid, kind] = event.split(" ") as [string, string, string];
    if (kind === "d") done.add(n);
    else starts.set(n, [...(starts.get(n) ?? []), pid]);
  }
  const lost = Array.from({ length: run.published }, (_, n) => String(n)).filter((n) => !done.has(n));
  assert.deepEqual(lost.slice(0, 20), [], `${name}: ${lost.length} of ${run.published} tasks never completed`);
  let extraRuns = 0;
  for (const [n, runs] of starts) {
    const inKilled = runs.filter((pid) => run.pids.has(Number(pid))).length;
    if (inKilled === 0) assert.equal(runs.length, 1, `${name}: task ${n}, never started by a killed worker, ran ${runs.length} times (${runs.join(", ")})`);
    assert.ok(runs.length <= 1 + inKilled, `${name}: task ${n} ran ${runs.length} times, started by ${inKilled} killed workers`);
    extraRuns += runs.length - 1;
  }
  assert.equal(await admin.hlen("celeriac.unacked"), 0, `${name}: claims left behind`);
  assert.equal((await admin.keys("celeriac.inflight:*")).length, 0, `${name}: messages left in in-flight lists`);
  // What came back to run again: claims restored after the visibility timeout, in-flight lists given back.
  const rescued = run.logs.reduce((sum, line) => sum + Number(/(?:restored|gave back) (\d+)/.exec(line)?.[1] ?? 0), 0);
  return { published: run.published, kills: run.pids.size, lost: lost.length, extraRuns, rescued };
}

test("200 kill -9s of idle acksLate workers, tasks trickling in: none lost", async () => {
  // Each child is the only consumer of its lane's queue, and its tasks take no time: killed between
  // tasks it sits in BLMOVE, and the next message (within 5 ms) goes to its dead registration.
  const lanes = [0, 1, 2, 3].map((i) => ({ queue: `killloop-idle-${i}`, concurrency: 1, liveMs: () => 10 + Math.random() * 40, idle: true }));
  const outcome = await killLoop("idle", lanes, 200, 5, 0);
  console.log(`# idle kills: ${JSON.stringify(outcome)}`);
  assert.equal(outcome.kills, 200);
  // Without a window to fall into, this test would prove nothing: many kills must have left a message
  // in the dead worker's hands (here over 200 came back; the BRPOP consumer lost 125 such messages).
  assert.ok(outcome.rescued >= 20, `only ${outcome.rescued} messages came back after 200 kills: the idle window was not exercised`);
});

test("200 kill -9s of busy acksLate workers: none lost, at most one extra run per task running at the kill", async () => {
  // Tasks of 20 ms, 4 at a time plus 4 prefetched, published a little faster than a child runs them.
  const lanes = [0, 1].map((i) => ({ queue: `killloop-busy-${i}`, concurrency: 4, liveMs: () => 150 + Math.random() * 200, idle: false }));
  const outcome = await killLoop("busy", lanes, 200, 5, 20);
  console.log(`# busy kills: ${JSON.stringify(outcome)}`);
  assert.equal(outcome.kills, 200);
  assert.ok(outcome.extraRuns > 0, "no task was running at any kill: the busy case was not exercised");
});
