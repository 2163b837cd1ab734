// parseRedisUrl: the URL forms kombu and Celery accept, TLS options with redis-py's names, and the
// identity used to share connections.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRedisUrl, serverKey } from "./redis.ts";
import { ConfigError } from "../util/errors.ts";

test("redis://, sockets and the db in the path or the query", () => {
  assert.deepEqual(parseRedisUrl("redis://u:p%40ss@h:6380/2"), { host: "h", port: 6380, db: 2, username: "u", password: "p@ss", display: "redis://u:****@h:6380/2" });
  assert.equal(parseRedisUrl("redis://localhost?db=3").db, 3);
  assert.deepEqual(parseRedisUrl("redis+socket:///run/redis.sock?virtual_host=4"), { path: "/run/redis.sock", db: 4, display: "redis+socket:///run/redis.sock?virtual_host=4" });
  assert.throws(() => parseRedisUrl("redis://localhost/x"), ConfigError);
});

test("rediss://: verification on by default, CERT_NONE turns it off, CA and client files are read", () => {
  assert.deepEqual(parseRedisUrl("rediss://cache.example.com:6380/0").tls, { rejectUnauthorized: true, servername: "cache.example.com" });
  assert.deepEqual(parseRedisUrl("rediss://127.0.0.1/0?ssl_cert_reqs=CERT_NONE").tls, { rejectUnauthorized: false });
  assert.equal(parseRedisUrl("rediss://h/0?ssl_cert_reqs=CERT_OPTIONAL").tls?.rejectUnauthorized, true);
  const dir = mkdtempSync(join(tmpdir(), "celeriac-url-"));
  try {
    writeFileSync(join(dir, "ca.pem"), "CA");
    const tls = parseRedisUrl(`rediss://h/0?ssl_ca_certs=${join(dir, "ca.pem")}`).tls;
    assert.equal(tls?.ca?.toString(), "CA");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => parseRedisUrl("rediss://h/0?ssl_keyfile=/nonexistent.pem"), /cannot read ssl_keyfile/);
  assert.throws(() => parseRedisUrl("rediss://h/0?ssl_cert_reqs=sometimes"), /ssl_cert_reqs must be/);
  // Different TLS settings never share a connection; plain and TLS never do either.
  const keys = ["redis://h:6380/0", "rediss://h:6380/0", "rediss://h:6380/0?ssl_cert_reqs=CERT_NONE"].map((url) => serverKey(parseRedisUrl(url)));
  assert.equal(new Set(keys).size, 3);
});
