// No silent result backend: memory:// results only beside the memory:// broker; with any other broker
// and no resultBackend, results are disabled and AsyncResult says so at once instead of waiting forever.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { resolveConfig } from "./config.ts";
import { CeleriacError } from "../util/errors.ts";

const REDIS = "redis://unreachable.invalid:1/0";

test("resultBackend defaults to memory:// only with the memory:// broker", () => {
  assert.equal(resolveConfig().resultBackend, "memory://");
  assert.equal(resolveConfig({ brokerUrl: "MEMORY://" }).resultBackend, "memory://");
  for (const brokerUrl of [REDIS, "rediss://h/0", "amqp://guest@localhost//", "unix:///run/redis.sock"]) {
    assert.equal(resolveConfig({ brokerUrl }).resultBackend, null, brokerUrl);
  }
  // A later source (the environment, a flag) that moves the broker takes the derived default with it.
  assert.equal(resolveConfig({}, { brokerUrl: REDIS }).resultBackend, null);
});

test("a configured resultBackend is kept, null included, from whichever source set it", () => {
  assert.equal(resolveConfig({ brokerUrl: REDIS, resultBackend: "redis://h/1" }).resultBackend, "redis://h/1");
  assert.equal(resolveConfig({ brokerUrl: REDIS }, { resultBackend: "redis://env/1" }).resultBackend, "redis://env/1");
  assert.equal(resolveConfig({ resultBackend: null }).resultBackend, null);
  assert.equal(resolveConfig({ brokerUrl: REDIS, resultBackend: "memory://" }).resultBackend, "memory://");
});

test("withConfig (CLI flags) re-derives the default from the new broker, and keeps a backend the app set", () => {
  const bare = createApp({ readEnv: false });
  assert.equal(bare.config.resultBackend, "memory://");
  assert.equal(bare.withConfig({ brokerUrl: REDIS }).config.resultBackend, null);
  const configured = createApp({ readEnv: false, resultBackend: "redis://h/1" });
  assert.equal(configured.withConfig({ brokerUrl: REDIS }).config.resultBackend, "redis://h/1");
  assert.equal(configured.withConfig({ resultBackend: null }).config.resultBackend, null);
});

test("with results disabled, get(), state() and record() fail at once with NO_RESULT_BACKEND", async () => {
  const app = createApp({ readEnv: false, brokerUrl: REDIS });
  const result = app.asyncResult("4a7d3c52-0000-4000-8000-000000000000");
  const disabled = (error: unknown): boolean => {
    assert.ok(error instanceof CeleriacError, "error instanceof CeleriacError");
    assert.equal(error.code, "NO_RESULT_BACKEND");
    assert.match(error.message, /no result backend is configured.*set resultBackend \(e\.g\. "redis:\/\//);
    return true;
  };
  const started = Date.now();
  // No timeout given: before, get() waited forever on a memory:// store the worker never wrote to.
  await assert.rejects(result.get(), disabled);
  await assert.rejects(result.state(), disabled);
  await assert.rejects(result.record(), disabled);
  assert.ok(Date.now() - started < 5000, "the error came at once, without waiting");
  await app.close();
});
