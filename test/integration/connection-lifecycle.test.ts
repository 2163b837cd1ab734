// The library side of connection failures, against private redis-servers and the shared RabbitMQ's
// closed neighbours: a Worker still waiting for its broker stops at once, app.close() gives up a connect
// in progress (and its reconnect loop), brokerConnectionRetryOnStartup false fails after the timeout,
// a broker that refuses for good while a worker runs (its password changed) stops the worker with
// that reason, and a producer whose broker connection was given up reconnects at its next send. The
// file ending at all proves nothing was left open.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { CeleriacError, ConnectionError, ConnectionRefusedPermanently, createApp, createWorker } from "../../src/index.ts";
import { eventually } from "../conformance/fixtures.ts";
import type { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { AMQP_URL } from "../interop/amqp-helpers.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";
import { relay } from "./tcp-relay.ts";

const servers: RedisChild[] = [];
after(async () => {
  await Promise.all(servers.map((server) => killRedisServer(server)));
});

const closedRedis = async (): Promise<string> => `redis://127.0.0.1:${await freePort()}/0`;

test("stop() ends a start() still waiting for an unreachable Redis: WORKER_STOPPED at once, nothing left open", async () => {
  const url = await closedRedis();
  const logs: string[] = [];
  const app = createApp({ brokerUrl: url, resultBackend: url, readEnv: false });
  app.log = (level, message) => logs.push(`${level}: ${message}`);
  const worker = createWorker(app);
  const starting = worker.start();
  starting.catch(() => undefined);
  await eventually(() => logs.some((l) => /reconnect attempt 2 of 100/.test(l)), 10_000, "the worker retrying");
  const stoppedAt = Date.now();
  await worker.stop();
  await assert.rejects(starting, (error: unknown) => error instanceof CeleriacError && error.code === "WORKER_STOPPED");
  assert.ok(Date.now() - stoppedAt < 1000, `stop took ${Date.now() - stoppedAt} ms`);
  assert.equal(worker.status, "stopped");
  assert.equal(await worker.untilStopped(), 0);
  assert.equal(worker.failure, null, "a requested stop is not a failure");
  await app.close();
});

test("app.close() gives up a producer's connect in progress, on Redis and on RabbitMQ", async () => {
  for (const brokerUrl of [await closedRedis(), `amqp://guest:guest@127.0.0.1:${await freePort()}//`]) {
    const app = createApp({ brokerUrl, resultBackend: null, brokerConnectionTimeout: 60, readEnv: false });
    const task = app.task("lifecycle.noop", () => null);
    const sending = task.delay();
    sending.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const closedAt = Date.now();
    await app.close();
    await assert.rejects(sending, (error: unknown) => error instanceof ConnectionError && /closed while connecting/.test(error.message));
    assert.ok(Date.now() - closedAt < 1000, `${brokerUrl}: close took ${Date.now() - closedAt} ms`);
  }
});

test("brokerConnectionRetryOnStartup: false fails start() after brokerConnectionTimeout", async () => {
  const url = await closedRedis();
  const app = createApp({ brokerUrl: url, resultBackend: null, brokerConnectionTimeout: 1, brokerConnectionRetryOnStartup: false, readEnv: false });
  const worker = createWorker(app);
  const startedAt = Date.now();
  await assert.rejects(worker.start(), (error: unknown) => error instanceof ConnectionError && /unreachable for 1000 ms/.test(error.message));
  assert.ok(Date.now() - startedAt >= 950, "it waited the connection timeout");
  assert.equal(worker.status, "stopped");
  await app.close();
});

test("a Redis whose password changes under a running worker stops it with that reason, not retried", async () => {
  const port = await freePort();
  const server = await startRedisServer(port);
  servers.push(server);
  const url = `redis://127.0.0.1:${port}/0`;
  const logs: string[] = [];
  const app = createApp({ brokerUrl: url, resultBackend: url, readEnv: false });
  app.log = (level, message) => logs.push(`${level}: ${message}`);
  const worker = createWorker(app);
  await worker.start();
  const admin = new Redis({ port, host: "127.0.0.1" });
  try {
    await admin.config("SET", "requirepass", "rotated");
    await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
    await worker.untilStopped();
    assert.ok(worker.failure instanceof ConnectionRefusedPermanently, String(worker.failure));
    assert.equal(worker.failure.reason, "auth");
    assert.match(worker.failure.message, /NOAUTH Authentication required/);
    assert.ok(!logs.some((l) => /reconnect attempt 2 /.test(l)), `a refusal was retried:\n${logs.join("\n")}`);
  } finally {
    admin.disconnect();
    await worker.stop();
    await app.close();
  }
});

test("a producer whose broker connection was given up reconnects at its next send, on Redis and on RabbitMQ", async () => {
  const port = await freePort();
  const target = new URL(AMQP_URL);
  // Redis: a private server killed and restarted. RabbitMQ: the shared server behind a relay closed and reopened.
  const transports = [
    { url: `redis://127.0.0.1:${port}/0`, up: async () => servers.push(await startRedisServer(port)), down: async () => killRedisServer(servers.pop() as RedisChild), gaveUp: /gave up after 3 connection attempts/ },
    (() => {
      let opened: Awaited<ReturnType<typeof relay>> | null = null;
      return {
        url: `amqp://${target.username}:${target.password}@127.0.0.1:${port}//`,
        up: async () => void (opened = await relay(port, target.hostname, Number(target.port || 5672))),
        down: async () => opened?.close(),
        gaveUp: /after 3 attempt\(s\) \(brokerConnectionMaxRetries\)/,
      };
    })(),
  ];
  for (const transport of transports) {
    const logs: string[] = [];
    const app = createApp({ brokerUrl: transport.url, resultBackend: null, brokerConnectionMaxRetries: 2, brokerConnectionTimeout: 5, readEnv: false });
    app.log = (level, message) => logs.push(`${level}: ${message}`);
    const lost: Error[] = [];
    app.events.on("connection:lost", ({ error }) => lost.push(error));
    const queue = `lifecycle-${port}`;
    const task = app.task("lifecycle.noop", () => null, { queue });
    try {
      await transport.up();
      await (await app.getBroker()).declareQueue(queue);
      await task.delay();
      await transport.down();
      await eventually(() => lost.length > 0, 30_000, `${transport.url}: the connection given up`);
      assert.equal(lost.length, 1, "reported once");
      assert.match(lost[0]?.message ?? "", transport.gaveUp);
      await transport.up();
      await task.delay();
      await (await app.getBroker()).purge(queue);
      if (transport.url.startsWith("amqp")) await ((await app.getBroker()) as AmqpBroker).deleteQueue(queue);
    } finally {
      await app.close();
      await transport.down();
    }
  }
});
