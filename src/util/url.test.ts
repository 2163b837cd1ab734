// maskUrl: a URL is safe to print, wherever its password was written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { maskUrl } from "./url.ts";

test("the password is masked in the authority and in a password= query option", () => {
  assert.equal(maskUrl("redis://:s3cret@h:6379/0"), "redis://:****@h:6379/0");
  assert.equal(maskUrl("amqp://user:s3cret@h//"), "amqp://user:****@h//");
  assert.equal(maskUrl("amqp://user@h//"), "amqp://user@h//");
  assert.equal(maskUrl("redis://h/0?password=s3cret&db=2"), "redis://h/0?password=****&db=2");
  assert.equal(maskUrl("redis://h/0?db=2&Password=s3cret"), "redis://h/0?db=2&Password=****");
  assert.equal(maskUrl("redis://h:6379/0"), "redis://h:6379/0");
});
