import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRateLimit, TokenBucket } from "./rate.ts";

test("rate limits parse per second, minute and hour", () => {
  assert.equal(parseRateLimit("10/s").perSecond, 10);
  assert.equal(parseRateLimit("120/m").perSecond, 2);
  assert.equal(parseRateLimit("3600/h").perSecond, 1);
  assert.equal(parseRateLimit("5").perSecond, 5);
  assert.throws(() => parseRateLimit("10/d"), /not of the form "10\/s"/);
  assert.throws(() => parseRateLimit("0/s"), /not of the form/);
  assert.throws(() => parseRateLimit("fast"), /not of the form/);
});

test("the token bucket allows a second's burst, then spaces runs evenly", () => {
  let now = 0;
  const bucket = new TokenBucket(parseRateLimit("2/s"), () => now);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 500);
  now += 250;
  assert.equal(bucket.take(), 250);
  now += 250;
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 500);
});

test("a slow rate waits the whole interval and never bursts more than one", () => {
  let now = 0;
  const bucket = new TokenBucket(parseRateLimit("6/m"), () => now);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 10_000);
  now += 60_000;
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 10_000);
});
