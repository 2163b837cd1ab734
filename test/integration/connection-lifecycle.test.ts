// The library side of connection failures, against closed ports next to the shared servers:
// app.close() gives up a connect in progress (and its reconnect loop). The file ending at all proves
// nothing was left open.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionError, createApp } from "../../src/index.ts";
import { freePort } from "./redis-server.ts";

const closedRedis = async (): Promise<string> => `redis://127.0.0.1:${await freePort()}/0`;

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
