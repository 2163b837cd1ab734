// Unit tests of AMQP URL parsing (kombu's reading of amqp://, amqps:// and pyamqp:// URLs) and of reconnect backoff.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAmqpUrl } from "./amqp-url.ts";
import { backoffDelay } from "./amqp.ts";
import { ConfigError } from "../util/errors.ts";

test("Celery-style vhosts: // and / and none mean '/', %2F decodes, a name is kept", () => {
  assert.equal(parseAmqpUrl("amqp://guest:guest@localhost:5672//").vhost, "/");
  assert.equal(parseAmqpUrl("amqp://localhost/").vhost, "/");
  assert.equal(parseAmqpUrl("amqp://localhost").vhost, "/");
  assert.equal(parseAmqpUrl("amqp://localhost/%2F").vhost, "/");
  assert.equal(parseAmqpUrl("amqp://localhost/prod").vhost, "prod");
});

test("credentials, ports and TLS defaults", () => {
  const plain = parseAmqpUrl("amqp://localhost");
  assert.deepEqual([plain.username, plain.password, plain.port, plain.tls], ["guest", "guest", 5672, false]);
  const tls = parseAmqpUrl("amqps://us%40er:p%3Ass@mq.example.com/v?heartbeat=0&connection_timeout=2500&ssl_cert_reqs=CERT_NONE");
  assert.deepEqual([tls.username, tls.password, tls.port, tls.tls, tls.hostname], ["us@er", "p:ss", 5671, true, "mq.example.com"]);
  assert.equal(tls.heartbeatSeconds, 0);
  assert.equal(tls.connectionTimeoutMs, 2500);
  assert.equal(tls.tlsOptions.rejectUnauthorized, false);
  assert.equal(parseAmqpUrl("amqp://h/?connect_timeout=4").connectionTimeoutMs, 4000, "kombu's connect_timeout is seconds");
});

test("pyamqp:// (kombu's py-amqp transport name) parses as amqp://, as in Celery's tutorial URL", () => {
  const url = parseAmqpUrl("pyamqp://guest@localhost//");
  assert.deepEqual([url.tls, url.hostname, url.port, url.username, url.password, url.vhost], [false, "localhost", 5672, "guest", "guest", "/"]);
  const full = parseAmqpUrl("pyamqp://worker:s3cret@mq.internal:5673/jobs?heartbeat=10");
  assert.deepEqual([full.tls, full.hostname, full.port, full.username, full.password, full.vhost, full.heartbeatSeconds], [false, "mq.internal", 5673, "worker", "s3cret", "jobs", 10]);
  assert.deepEqual(parseAmqpUrl("pyamqp://"), parseAmqpUrl("amqp://"));
});

test("a user without a password logs in with password guest, as kombu fills in each missing value", () => {
  assert.equal(parseAmqpUrl("amqp://guest@localhost//").password, "guest");
  assert.equal(parseAmqpUrl("amqp://user@h/v").password, "guest");
  assert.equal(parseAmqpUrl("amqp://user:@h/v").password, "guest", "kombu treats an empty password as missing too");
});

test("bad URLs and unknown options fail at configuration time with the password masked", () => {
  assert.throws(() => parseAmqpUrl("redis://localhost"), ConfigError);
  assert.throws(() => parseAmqpUrl("pyamqps://localhost"), /expected an amqp:\/\/, amqps:\/\/ or pyamqp:\/\/ URL/);
  assert.throws(() => parseAmqpUrl("amqp://u:secret@h/?hartbeat=5"), (error: Error) => error instanceof ConfigError && /hartbeat/.test(error.message) && !/secret/.test(error.message));
});

test("backoff doubles from the initial delay and stays under the cap, jitter included", () => {
  const mid = () => 0.5;
  assert.equal(backoffDelay(1, 250, 30_000, mid), 250);
  assert.equal(backoffDelay(2, 250, 30_000, mid), 500);
  assert.equal(backoffDelay(5, 250, 30_000, mid), 4000);
  for (let attempt = 1; attempt < 40; attempt++) assert.ok(backoffDelay(attempt, 250, 30_000, () => 1) <= 30_000, "backoffDelay(attempt, 250, 30_000, () => 1) <= 30_000");
});
