// app.reconfigure(): how `celeriac worker` applies --broker and --backend to the very app a task module
// exports (its listeners and hooks kept), only before it connects; and withConfig() copies hooks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { CeleriacError, ConfigError } from "../util/errors.ts";

const REDIS = "redis://unreachable.invalid:1/0";

test("reconfigure changes this app's config before it connects: derived defaults follow, listeners and hooks stay", () => {
  const app = createApp({ readEnv: false });
  let heard = 0;
  app.events.on("worker:error", () => heard++);
  app.onWorkerStop(() => {});
  assert.equal(app.reconfigure({ brokerUrl: REDIS }), app);
  assert.equal(app.config.brokerUrl, REDIS);
  assert.equal(app.config.resultBackend, null, "the memory:// default went with the memory:// broker");
  app.reconfigure({ resultBackend: "redis://h/1" });
  assert.deepEqual([app.config.brokerUrl, app.config.resultBackend], [REDIS, "redis://h/1"], "earlier overrides are kept");
  app.events.emit("worker:error", { message: "x", error: null });
  assert.equal(heard, 1);
  assert.ok(Object.isFrozen(app.config), "Object.isFrozen(app.config)");
});

test("an invalid override fails with ConfigError and leaves the config as it was", () => {
  const app = createApp({ readEnv: false });
  assert.throws(() => app.reconfigure({ workerConcurrency: 0 }), ConfigError);
  assert.equal(app.config.workerConcurrency, createApp({ readEnv: false }).config.workerConcurrency);
  // The refused override is not remembered either: the next one applies cleanly.
  assert.equal(app.reconfigure({ taskDefaultQueue: "other" }).config.taskDefaultQueue, "other");
});

test("once the app has connected, reconfigure refuses with APP_CONNECTED, unless there is nothing to change", async () => {
  const app = createApp({ readEnv: false });
  await app.getBroker();
  try {
    assert.throws(() => app.reconfigure({ brokerUrl: REDIS }), (error: unknown) => error instanceof CeleriacError && error.code === "APP_CONNECTED");
    assert.equal(app.reconfigure({}), app);
    assert.equal(app.config.brokerUrl, "memory://");
  } finally {
    await app.close();
  }
});

test("withConfig copies the worker hooks along with the tasks", async () => {
  const app = createApp({ readEnv: false });
  const ran: string[] = [];
  app.onWorkerStart(() => void ran.push("start"));
  app.onWorkerStop(({ reason }) => void ran.push(`stop ${reason}`));
  const copy = app.withConfig({ brokerUrl: REDIS });
  await copy.workerHooks.runStart({ hostname: "h", queues: ["celery"] });
  await copy.workerHooks.runStop({ hostname: "h", queues: ["celery"], reason: "test", forced: false }, (error) => assert.fail(error));
  assert.deepEqual(ran, ["start", "stop test"]);
});
