// parseRedisUrl's db number: a non-integer or negative db is a ConfigError naming the value, with the
// URL's password masked; and the URL kept for logs masks a password given in either place.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRedisUrl } from "./redis.ts";
import { ConfigError } from "../util/errors.ts";

test("an invalid db number (non-integer, negative, not a number) is a ConfigError naming it", () => {
  const cases: [string, string][] = [
    ["redis://:hunter2@h/-1", "-1"],
    ["redis://h/1.5", "1.5"],
    ["redis://h/abc", "abc"],
    ["redis://h/0x1", "0x1"],
    ["redis://h?db=-2&password=hunter2", "-2"],
    ["redis://h?virtual_host=one", "one"],
    ["unix:///run/redis.sock?db=2e1", "2e1"],
    ["redis+socket:///run/redis.sock?virtual_host=-3", "-3"],
  ];
  for (const [url, db] of cases) {
    assert.throws(() => parseRedisUrl(url), (error: unknown) => {
      assert.ok(error instanceof ConfigError, url);
      assert.equal(error.code, "CONFIG_INVALID");
      assert.ok(error.message.includes(`the Redis database must be a number between 0 and 15, not "${db}"`), error.message);
      assert.ok(!error.message.includes("hunter2"), error.message);
      return true;
    });
  }
});

test("valid db numbers in the path and the query", () => {
  assert.equal(parseRedisUrl("redis://h").db, 0);
  assert.equal(parseRedisUrl("redis://h/").db, 0);
  assert.equal(parseRedisUrl("redis://h/15").db, 15);
  assert.equal(parseRedisUrl("unix:///run/redis.sock?db=7").db, 7);
});

test("the URL kept for logs masks a password in the user-info or the query", () => {
  const target = parseRedisUrl("redis://h:6380/3?password=hunter2");
  assert.equal(target.password, "hunter2");
  assert.equal(target.display, "redis://h:6380/3?password=****");
  assert.equal(parseRedisUrl("unix://:hunter2@/run/redis.sock?db=1").display, "unix://:****@/run/redis.sock?db=1");
});
