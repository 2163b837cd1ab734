// maskUrl: every form a credential takes in a connection URL is masked, well-formed or not; the
// rest of the URL (scheme, user, host, port, db, harmless options) stays readable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { maskUrl, schemeOf } from "./url.ts";
import { ConfigError } from "./errors.ts";

const SECRET = "s3cr3t-Pw";

/** Each form, with the masked text it must print; none of them may contain SECRET. */
const FORMS: [string, string][] = [
  // user-info
  [`redis://:${SECRET}@cache:6379/0`, "redis://:****@cache:6379/0"],
  [`redis://app:${SECRET}@cache/2`, "redis://app:****@cache/2"],
  [`rediss://app:${SECRET}@[::1]:6380/0?ssl_cert_reqs=CERT_NONE`, "rediss://app:****@[::1]:6380/0?ssl_cert_reqs=CERT_NONE"],
  [`amqp://guest:${SECRET}@localhost:5672//`, "amqp://guest:****@localhost:5672//"],
  [`amqps://app:${SECRET}@mq.example.com/prod?heartbeat=30`, "amqps://app:****@mq.example.com/prod?heartbeat=30"],
  [`pyamqp://u:${SECRET}@h//`, "pyamqp://u:****@h//"],
  [`unix://:${SECRET}@/run/redis.sock?db=1`, "unix://:****@/run/redis.sock?db=1"],
  // unencoded "@", "/", ":" and "?" inside the password
  [`redis://:${SECRET}@x/y:z?@cache/0`, "redis://:****@cache/0"],
  [`redis://u:p%40${SECRET}@cache/0`, "redis://u:****@cache/0"],
  // query parameters
  [`redis://cache/0?password=${SECRET}`, "redis://cache/0?password=****"],
  [`redis://cache/0?db=1&pass=${SECRET}&x=1`, "redis://cache/0?db=1&pass=****&x=1"],
  [`redis://cache/0?passwd=${SECRET}`, "redis://cache/0?passwd=****"],
  [`sentinel://s1:26379/0?sentinel_password=${SECRET}`, "sentinel://s1:26379/0?sentinel_password=****"],
  [`redis://cache/0?client_secret=${SECRET}#frag`, "redis://cache/0?client_secret=****#frag"],
  [`redis://cache/0?ACCESS_TOKEN=${SECRET}`, "redis://cache/0?ACCESS_TOKEN=****"],
  [`redis+socket:///run/r.sock?virtual_host=2&password=${SECRET}`, "redis+socket:///run/r.sock?virtual_host=2&password=****"],
  // lists of URLs
  [`redis://:${SECRET}@a:26379;redis://:${SECRET}@b:26379;redis://c`, "redis://:****@a:26379;redis://:****@b:26379;redis://c"],
  [`sentinel://a;sentinel://:${SECRET}@b/0?password=${SECRET}`, "sentinel://a;sentinel://:****@b/0?password=****"],
  [`redis://:pa;ss${SECRET}@a/0`, "redis://:****@a/0"],
  // malformed
  [`redis:/:${SECRET}@cache/0`, "redis:/:****@cache/0"],
  [`redis//:${SECRET}@cache`, "redis//:****@cache"],
  [`:${SECRET}@cache:6379`, ":****@cache:6379"],
  [`redis://:${SECRET}`, "redis://:****"],
  [`redis://app:${SECRET}/0`, "redis://app:****/0"],
  [`redis://cache/0&password=${SECRET}`, "redis://cache/0&password=****"],
  [`not a url password=${SECRET}`, "not a url password=****"],
  [`http%://:${SECRET}@h`, "http%:****@h"],
];

test("every credential form is masked and the rest stays readable", () => {
  for (const [url, masked] of FORMS) {
    assert.equal(maskUrl(url), masked, url);
    assert.ok(!maskUrl(url).includes(SECRET), url);
  }
});

test("URLs without credentials are printed unchanged", () => {
  for (const url of ["memory://", "rpc://", "redis://localhost:6379/0", "redis://app@cache/0", "amqp://guest@localhost//", "redis://[::1]:6379/3", "unix:///run/redis.sock?db=2", "rediss://h/0?ssl_ca_certs=/etc/ca.pem&ssl_keyfile=/k.pem", "localhost:6379", ""]) {
    assert.equal(maskUrl(url), url);
  }
});

test("schemeOf names the scheme, and a text that is not a URL is echoed masked", () => {
  assert.equal(schemeOf("REDIS://h/0"), "redis:");
  assert.throws(() => schemeOf(`//:${SECRET}@h/0`), (error: unknown) => {
    assert.ok(error instanceof ConfigError, "error instanceof ConfigError");
    assert.match(error.message, /"\/\/:\*\*\*\*@h\/0" is not a URL/);
    assert.ok(!error.message.includes(SECRET), "!error.message.includes(SECRET)");
    return true;
  });
});
test("the password is masked in the authority and in a password= query option (every form a user writes)", () => {
  assert.equal(maskUrl("redis://:s3cret@h:6379/0"), "redis://:****@h:6379/0");
  assert.equal(maskUrl("amqp://user:s3cret@h//"), "amqp://user:****@h//");
  assert.equal(maskUrl("amqp://user@h//"), "amqp://user@h//");
  assert.equal(maskUrl("redis://h/0?password=s3cret&db=2"), "redis://h/0?password=****&db=2");
  assert.equal(maskUrl("redis://h/0?db=2&Password=s3cret"), "redis://h/0?db=2&Password=****");
  assert.equal(maskUrl("redis://h:6379/0"), "redis://h:6379/0");
});
