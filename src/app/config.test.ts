import { test } from "node:test";
import assert from "node:assert/strict";
import { configFromEnv, DEFAULT_CONFIG, resolveConfig } from "./config.ts";
import { ConfigError } from "../util/errors.ts";

test("defaults use the embedded broker and backend", () => {
  const config = resolveConfig();
  assert.equal(config.brokerUrl, "memory://");
  assert.equal(config.resultBackend, "memory://");
  assert.equal(config.taskDefaultQueue, "celery");
  assert.ok(Object.isFrozen(config), "Object.isFrozen(config)");
});

test("later sources win: code, then environment, then flags", () => {
  const config = resolveConfig({ brokerUrl: "redis://code/0", workerConcurrency: 3 }, { brokerUrl: "redis://env/0" }, { workerConcurrency: 7 });
  assert.equal(config.brokerUrl, "redis://env/0");
  assert.equal(config.workerConcurrency, 7);
});

test("an unknown key names the nearest known one", () => {
  assert.throws(() => resolveConfig({ brokerURL: "redis://x" } as never), (error: unknown) => {
    assert.ok(error instanceof ConfigError, "error instanceof ConfigError");
    assert.equal(error.code, "CONFIG_INVALID");
    assert.match(error.message, /unknown config key "brokerURL" \(did you mean "brokerUrl"\?\)/);
    return true;
  });
  assert.throws(() => resolveConfig({ workerConcurency: 2 } as never), /did you mean "workerConcurrency"/);
});

test("a wrong value names the key and the expected form", () => {
  assert.throws(() => resolveConfig({ brokerUrl: "localhost:6379" }), /config "brokerUrl" is "localhost:6379"; expected a URL such as "redis:\/\/localhost:6379\/0"/);
  assert.throws(() => resolveConfig({ workerConcurrency: 0 }), /config "workerConcurrency" is 0; expected an integer >= 1/);
  assert.throws(() => resolveConfig({ acceptContent: ["json", "pickle"] as never }), /pickle and yaml are never accepted/);
  assert.throws(() => resolveConfig({ taskSerializer: "yaml" as never }), /expected "json" or "msgpack"/);
  assert.throws(() => resolveConfig({ taskAcksLate: "yes" as never }), /config "taskAcksLate" is "yes"; expected true or false/);
});

test("environment variables: CELERIAC_* first, then Celery's and Heroku's names", () => {
  assert.deepEqual(configFromEnv({ BROKER_URL: "redis://heroku/0" }), { brokerUrl: "redis://heroku/0" });
  assert.deepEqual(configFromEnv({ CELERY_BROKER_URL: "amqp://c//", BROKER_URL: "redis://h/0" }), { brokerUrl: "amqp://c//" });
  assert.deepEqual(
    configFromEnv({ CELERIAC_BROKER_URL: "redis://n/0", CELERY_BROKER_URL: "amqp://c//", CELERY_RESULT_BACKEND: "redis://r/1" }),
    { brokerUrl: "redis://n/0", resultBackend: "redis://r/1" },
  );
  assert.deepEqual(configFromEnv({}), {});
  // Our Redis claims are kept alive while their worker lives: the timeout only bounds a dead worker's.
  assert.equal(DEFAULT_CONFIG.brokerVisibilityTimeout, 300);
});

test("connection retries are bounded by default (Celery's 100) and validated", () => {
  assert.equal(DEFAULT_CONFIG.brokerConnectionMaxRetries, 100);
  assert.equal(DEFAULT_CONFIG.brokerConnectionRetryOnStartup, true);
  assert.equal(resolveConfig({ brokerConnectionMaxRetries: Infinity }).brokerConnectionMaxRetries, Infinity);
  assert.throws(() => resolveConfig({ brokerConnectionMaxRetries: 2.5 }), /config "brokerConnectionMaxRetries" is 2.5; expected an integer >= 0/);
  assert.throws(() => resolveConfig({ brokerConnectionRetryOnStartup: "no" as never }), /config "brokerConnectionRetryOnStartup" is "no"; expected true or false/);
});

test("a bad URL in a config error is echoed with its credentials masked", () => {
  const bad = ["redis//:hunter2-pw@cache/0", "cache:6379/0?password=hunter2-pw", "amqp:guest:hunter2-pw@mq//"];
  for (const [key, value] of bad.flatMap((url) => [["brokerUrl", url], ["resultBackend", url]] as const)) {
    assert.throws(() => resolveConfig({ [key]: value }), (error: unknown) => {
      assert.ok(error instanceof ConfigError, "error instanceof ConfigError");
      assert.match(error.message, new RegExp(`config "${key}" is ".*\\*\\*\\*\\*.*"; expected a URL`));
      assert.ok(!error.message.includes("hunter2"), error.message);
      return true;
    });
  }
});
