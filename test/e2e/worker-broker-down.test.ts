// `celeriac worker` whose broker is not there, as a user runs it: started before its Redis (a private
// server's port, not started yet) it stops at once on SIGTERM or SIGINT, and consumes as soon as the
// server appears; under a running worker whose Redis goes away a signal still stops it at once, and
// when the server stays away it exits 2 once its retries are spent; refused for good (a wrong
// password) it exits 2 at once. On RabbitMQ (the shared server is never stopped) a closed port ends in
// bounded retries and exit 2, and a worker started before its broker is reachable (a TCP relay to the
// shared server, opened late) consumes once it is.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createApp } from "../../src/index.ts";
import type { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { AMQP_URL } from "../interop/amqp-helpers.ts";
import { delay } from "../conformance/fixtures.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "../integration/redis-server.ts";
import { relay } from "../integration/tcp-relay.ts";
import { startCeleriac, type Child } from "./child.ts";

const tasks = fileURLToPath(new URL("./fixtures/connect-tasks.ts", import.meta.url));
const LIMIT_MS = 60_000;
const servers: RedisChild[] = [];
const children: Child[] = [];

after(async () => {
  for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL");
  await Promise.all(servers.map((server) => killRedisServer(server)));
});

function worker(broker: string, backend: string, env: Record<string, string> = {}, queue = "celery"): Child {
  const child = startCeleriac(["worker", "-A", tasks, "--broker", broker, "--backend", backend, "-Q", queue, "-c", "2"], env);
  children.push(child);
  return child;
}

async function redisOn(port: number, extra: string[] = []): Promise<RedisChild> {
  const server = await startRedisServer(port, extra);
  servers.push(server);
  return server;
}

/** Sends `signal` and resolves with how long the worker took to exit, and how it ended. */
async function signalAndTime(child: Child, signal: NodeJS.Signals): Promise<{ ms: number; code: number | null; stderr: string }> {
  const sentAt = Date.now();
  child.process.kill(signal);
  const ended = await child.ended(LIMIT_MS);
  assert.equal(ended.killed, false, `the worker ignored ${signal}:\n${ended.stderr}`);
  return { ms: Date.now() - sentAt, code: ended.code, stderr: ended.stderr };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`a worker waiting for a Redis that is down exits 0 within 1 s of ${signal}`, async () => {
    const url = `redis://127.0.0.1:${await freePort()}/0`;
    const child = worker(url, url);
    // Retrying, attempt count logged: the worker is inside start(), waiting for its broker.
    await child.waitForStderr(/cannot connect \(connect ECONNREFUSED [^)]*\); reconnect attempt 2 of 100 in \d+ ms/, 30_000);
    const { ms, code, stderr } = await signalAndTime(child, signal);
    assert.equal(code, 0, stderr);
    assert.ok(ms <= 1000, `exited ${ms} ms after ${signal}`);
    assert.match(stderr, new RegExp(`${signal} received`));
    assert.doesNotMatch(stderr, /ready/, "it never claimed to be ready");
  });
}

test("a worker started 5 s before its Redis consumes a task queued there as soon as the server is up", async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}/0`;
  const child = worker(url, url);
  await child.waitForStderr(/reconnect attempt 1 of 100/, 30_000);
  await delay(5000);
  await redisOn(port);
  const producer = createApp({ brokerUrl: url, resultBackend: url, readEnv: false });
  try {
    const result = await producer.sendTask<number>("e2e.connect.add", [20, 22]);
    assert.equal(await result.get({ timeout: 30 }), 42, "the result was stored by the worker");
  } finally {
    await producer.close();
  }
  assert.match(child.stderr(), /celeriac worker \S+ ready/);
  const { code, stderr } = await signalAndTime(child, "SIGTERM");
  assert.equal(code, 0, stderr);
});

test("a running worker whose Redis goes away stops at once on SIGTERM while reconnecting", async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}/0`;
  const server = await redisOn(port);
  const child = worker(url, url);
  await child.waitForStderr(/ready/, 30_000);
  await killRedisServer(server);
  await child.waitForStderr(/connection lost \([^)]*\); reconnect attempt 2 of 100/, 30_000);
  const { ms, code, stderr } = await signalAndTime(child, "SIGTERM");
  assert.equal(code, 0, stderr);
  assert.ok(ms <= 1000, `exited ${ms} ms after SIGTERM`);
});

test("a running worker whose Redis stays away exits 2 once brokerConnectionMaxRetries is spent", async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}/0`;
  const server = await redisOn(port);
  const child = worker(url, url, { E2E_CONNECT_RETRIES: "3" });
  await child.waitForStderr(/ready/, 30_000);
  await killRedisServer(server);
  const ended = await child.ended(LIMIT_MS);
  assert.equal(ended.killed, false, `the worker did not give up:\n${ended.stderr}`);
  assert.equal(ended.code, 2, ended.stderr);
  assert.match(ended.stderr, /reconnect attempt 3 of 3/);
  assert.match(ended.stderr, new RegExp(`\\nceleriac: CONNECTION_ERROR: redis \\w+ redis://127\\.0\\.0\\.1:${port}/0: unreachable, gave up after 4 connection attempts \\(brokerConnectionMaxRetries\\): connect ECONNREFUSED`));
});

test("a worker refused for good at start (wrong password, Redis and RabbitMQ) exits 2 at once with the server's reason", async () => {
  const port = await freePort();
  await redisOn(port, ["--requirepass", "the-right-one"]);
  for (const [broker, backend, reason] of [
    [`redis://:wrong-one@127.0.0.1:${port}/0`, `redis://:wrong-one@127.0.0.1:${port}/0`, /WRONGPASS/],
    ["amqp://guest:wrong-one@127.0.0.1:5672//", "rpc://", /ACCESS_REFUSED/],
  ] as const) {
    // The default retries last minutes: only failing at once ends it within the limit.
    const ended = await worker(broker, backend).ended(LIMIT_MS);
    assert.equal(ended.killed, false, `the worker kept trying a refusal:\n${ended.stderr}`);
    assert.equal(ended.code, 2, ended.stderr);
    const last = ended.stderr.trimEnd().split("\n").at(-1) ?? "";
    assert.match(last, /^celeriac: CONNECTION_REFUSED_PERMANENTLY: cannot connect to \S+:\*\*\*\*@/);
    assert.match(last, reason);
    assert.doesNotMatch(ended.stderr, /wrong-one|reconnect attempt|\(attempt \d/);
  }
});

test("a worker whose RabbitMQ port is closed retries a bounded number of times, logged, then exits 2", async () => {
  const port = await freePort();
  const broker = `amqp://guest:guest@127.0.0.1:${port}//`;
  const child = worker(broker, "rpc://", { E2E_CONNECT_RETRIES: "2" });
  const ended = await child.ended(LIMIT_MS);
  assert.equal(ended.killed, false, `the worker did not give up:\n${ended.stderr}`);
  assert.equal(ended.code, 2, ended.stderr);
  assert.match(ended.stderr, /cannot connect to amqp:\/\/guest:\*\*\*\*@127\.0\.0\.1:\d+\/\/ \(attempt 1 of 3\): connect ECONNREFUSED/);
  assert.match(ended.stderr, /\(attempt 2 of 3\)/);
  assert.match(ended.stderr, /celeriac: CONNECTION_ERROR: cannot connect to amqp:\/\/guest:\*\*\*\*@127\.0\.0\.1:\d+\/\/ after 3 attempt\(s\) \(brokerConnectionMaxRetries\): connect ECONNREFUSED/);
  assert.doesNotMatch(ended.stderr, /ready/);
});

test("a worker waiting for RabbitMQ exits 0 at once on SIGTERM", async () => {
  const broker = `amqp://guest:guest@127.0.0.1:${await freePort()}//`;
  const child = worker(broker, "rpc://");
  await child.waitForStderr(/\(attempt 2 of 101\)/, 30_000);
  const { ms, code, stderr } = await signalAndTime(child, "SIGTERM");
  assert.equal(code, 0, stderr);
  assert.ok(ms <= 1000, `exited ${ms} ms after SIGTERM`);
});

test("a worker started before its RabbitMQ is reachable consumes once it is", async () => {
  const port = await freePort();
  const target = new URL(AMQP_URL);
  const broker = `amqp://${target.username}:${target.password}@127.0.0.1:${port}//`;
  const queue = `connect-late-${randomUUID().slice(0, 8)}`;
  const child = worker(broker, "rpc://", {}, queue);
  await child.waitForStderr(/\(attempt 2 of 101\)/, 30_000);
  const opened = await relay(port, target.hostname, Number(target.port || 5672));
  const producer = createApp({ brokerUrl: AMQP_URL, resultBackend: "rpc://", readEnv: false });
  try {
    await child.waitForStderr(/ready/, 60_000);
    const result = await producer.sendTask<number>("e2e.connect.add", [40, 2], { queue });
    assert.equal(await result.get({ timeout: 30 }), 42);
    const { code, stderr } = await signalAndTime(child, "SIGTERM");
    assert.equal(code, 0, stderr);
  } finally {
    const admin = (await producer.getBroker()) as AmqpBroker;
    await admin.deleteQueue(queue).catch(() => undefined);
    await producer.close();
    await opened.close();
  }
});
