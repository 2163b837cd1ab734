// Redis going away under a running worker: a throw-away redis-server (never the shared 6379) is killed
// and restarted on the same port mid-stream. The worker reconnects with backoff, logs each attempt
// once, and consumes what is published after the restart; publishes during the outage either succeed
// after the reconnect or reject with ConnectionError within brokerConnectionTimeout; every task that
// was acknowledged ran. The server keeps no data (--save ""), so the queue starts empty again.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createApp, createWorker, ConnectionError } from "../../src/index.ts";
import { delay, eventually } from "../conformance/fixtures.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";

const TIMEOUT_S = 2;
let server: RedisChild | null = null;

after(async () => {
  if (server) await killRedisServer(server);
});

interface Sent {
  token: string;
  issuedAt: number;
  settledAt?: number;
  outcome?: "ok" | "ConnectionError" | string;
}

test("kill and restart Redis mid-stream: reconnect, log each attempt once, resume, lose nothing acknowledged", async () => {
  const port = await freePort();
  server = await startRedisServer(port);
  const url = `redis://127.0.0.1:${port}/0`;
  const logs: string[] = [];
  const app = createApp({ brokerUrl: url, resultBackend: url, brokerConnectionTimeout: TIMEOUT_S, readEnv: false });
  app.log = (level, message) => logs.push(`${level}: ${message}`);
  const ran = new Set<string>();
  const record = app.task("restart.record", (token: string) => void ran.add(token), { ignoreResult: true });
  const started = new Set<string>();
  app.events.on("task:started", (e) => started.add(e.id));
  const worker = createWorker(app, { concurrency: 4 });
  const sent: Sent[] = [];
  const idOf = new Map<string, string>();
  const publish = (token: string): Promise<void> => {
    const entry: Sent = { token, issuedAt: Date.now() };
    sent.push(entry);
    return record.delay(token).then(
      (result) => {
        idOf.set(token, result.id);
        Object.assign(entry, { settledAt: Date.now(), outcome: "ok" });
      },
      (error: unknown) => {
        Object.assign(entry, { settledAt: Date.now(), outcome: error instanceof ConnectionError ? "ConnectionError" : String(error) });
      },
    );
  };
  try {
    await worker.start();
    // A stream: one publish every 20 ms while the server is killed and restarted underneath.
    let streaming = true;
    let n = 0;
    const stream = (async () => {
      const pending: Promise<void>[] = [];
      while (streaming) {
        pending.push(publish(`s${n++}`));
        await delay(20);
      }
      await Promise.all(pending);
    })();
    await eventually(() => ran.size >= 20, 10_000, "the stream flowing");

    await killRedisServer(server);
    const killedAt = Date.now();
    await eventually(() => logs.some((l) => /redis blocking .* reconnect attempt 1 /.test(l)), 10_000, "a logged reconnect attempt");
    await delay(800);
    server = await startRedisServer(port);
    const restartedAt = Date.now();
    await eventually(() => logs.some((l) => /redis blocking .*: reconnected/.test(l)), 15_000, "the consumer reconnecting");
    // Published after the restart: must be consumed, not left sitting in the list.
    const before = ran.size;
    await eventually(() => ran.size >= before + 20, 15_000, "consumption after the restart");
    streaming = false;
    await stream;

    for (const entry of sent) {
      assert.ok(entry.outcome === "ok" || entry.outcome === "ConnectionError", `publish ${entry.token}: ${entry.outcome}`);
      if (entry.outcome === "ConnectionError") {
        assert.ok(entry.settledAt! - entry.issuedAt <= TIMEOUT_S * 1000 + 2000, `publish ${entry.token} rejected only after ${entry.settledAt! - entry.issuedAt} ms`);
      }
    }
    const during = sent.filter((e) => e.issuedAt >= killedAt && e.issuedAt < restartedAt);
    assert.ok(during.length > 0, "nothing was published during the outage");
    // What was stored in the new server (settled after it started) must all run.
    const afterRestart = sent.filter((e) => e.outcome === "ok" && e.settledAt! >= restartedAt);
    await eventually(() => afterRestart.every((e) => ran.has(e.token)), 15_000, "every publish stored after the restart to run");
    // Nothing acknowledged was lost: every task the worker started (acked early) finished.
    await eventually(() => [...started].every((id) => [...idOf].some(([token, taskId]) => taskId === id && ran.has(token))), 10_000, "acknowledged tasks to finish");

    // Each attempt of each connection is logged once.
    const attempts = logs.filter((l) => /reconnect attempt \d+ /.test(l)).map((l) => /redis (\w+) .*reconnect attempt (\d+) /.exec(l)!.slice(1, 3).join("#"));
    assert.equal(new Set(attempts).size, attempts.length, `an attempt was logged twice:\n${logs.join("\n")}`);
  } finally {
    await worker.stop();
    await app.close();
  }
});

test("a publish while Redis stays down rejects with ConnectionError within brokerConnectionTimeout; the worker resumes later", async () => {
  if (server) await killRedisServer(server);
  const port = await freePort();
  server = await startRedisServer(port);
  const url = `redis://127.0.0.1:${port}/0`;
  const app = createApp({ brokerUrl: url, resultBackend: null, brokerConnectionTimeout: TIMEOUT_S, readEnv: false });
  const logs: string[] = [];
  app.log = (level, message) => logs.push(`${level}: ${message}`);
  const ran: string[] = [];
  const record = app.task("restart.record", (token: string) => void ran.push(token));
  const worker = createWorker(app);
  try {
    await worker.start();
    await record.delay("before");
    await eventually(() => ran.length === 1, 10_000, "the first task");
    await killRedisServer(server!);
    const issuedAt = Date.now();
    // Right after the kill the client may not have noticed yet: the command is then sent and unanswered,
    // and bounded() rejects it at the deadline all the same.
    await assert.rejects(record.delay("during"), (error: unknown) => error instanceof ConnectionError && /unreachable|closed|no reply/.test(error.message));
    const took = Date.now() - issuedAt;
    assert.ok(took >= TIMEOUT_S * 1000 - 100 && took <= TIMEOUT_S * 1000 + 2000, `rejected after ${took} ms`);
    server = await startRedisServer(port);
    await eventually(() => logs.some((l) => /redis blocking .*: reconnected/.test(l)), 15_000, "the consumer reconnecting");
    await record.delay("after");
    await eventually(() => ran.includes("after"), 10_000, "the worker consuming again");
  } finally {
    await worker.stop();
    await app.close();
  }
});
