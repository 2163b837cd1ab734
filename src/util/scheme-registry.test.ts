// Tests scheme-registry.ts without I/O: scheme spellings, registration and removal, and lazy built-ins.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import { SchemeRegistry, normalizeScheme } from "./scheme-registry.ts";

type Factory = (url: string) => string;

test("normalizeScheme takes a scheme with or without its colon and slashes, in any case", () => {
  for (const spelling of ["mytransport", "mytransport:", "mytransport://", "MyTransport://"]) assert.equal(normalizeScheme(spelling), "mytransport:");
  assert.equal(normalizeScheme("redis+socket"), "redis+socket:");
  for (const bad of ["", "1abc", "my transport", "a://b", "x:/"]) assert.throws(() => normalizeScheme(bad), ConfigError, bad);
});

test("a registry loads built-ins only when asked, prefers nothing over them, and forgets what is unregistered", async () => {
  let loads = 0;
  const registry = new SchemeRegistry<Factory>("widget", "widgetUrl", {
    "std:": async () => {
      loads++;
      return (url) => `std ${url}`;
    },
  });
  assert.equal(loads, 0);
  assert.equal((await registry.factoryFor("STD://a"))("u"), "std u");
  assert.equal(loads, 1);
  const remove = registry.register("extra", (url) => `extra ${url}`);
  assert.deepEqual(registry.schemes(), ["std:", "extra:"]);
  assert.equal((await registry.factoryFor("extra://b"))("u"), "extra u");
  assert.throws(() => registry.register("std", (url) => url), /the scheme is taken \(built in\)/);
  assert.throws(() => registry.register("extra", "nope" as unknown as Factory), /the factory must be a function/);
  remove();
  await assert.rejects(registry.factoryFor("extra://b"), /widgetUrl: no widget for "extra:\/\/" URLs; expected one of std:\/\//);
  // A second removal does not remove a later registration of the same scheme.
  const again = registry.register("extra", (url) => url);
  remove();
  assert.deepEqual(registry.schemes(), ["std:", "extra:"]);
  again();
});
