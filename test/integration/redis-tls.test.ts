// rediss:// against a TLS-only throw-away redis-server (Debian's build has TLS): a self-signed
// certificate made with openssl in a temp dir; broker, backend and a whole app work with
// ssl_cert_reqs=CERT_NONE and with ssl_ca_certs=<the certificate>, and verification fails clearly
// without either.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker } from "../../src/broker/redis/broker.ts";
import { createRedisBackend } from "../../src/backend/redis/backend.ts";
import { ConnectionError, createApp, createWorker } from "../../src/index.ts";
import { eventually, labelOf, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { backendOptions, brokerOptions, type LogLine } from "./redis-helpers.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "./redis-server.ts";

describe("rediss:// (TLS)", () => {
  const dir = mkdtempSync(join(tmpdir(), "celeriac-tls-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  let server: RedisChild;
  let port = 0;
  const url = (query: string): string => `rediss://127.0.0.1:${port}/0?${query}`;

  before(async () => {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
    port = await freePort();
    // TLS only: the plain port is off.
    server = await startRedisServer(0, ["--tls-port", String(port), "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert, "--tls-auth-clients", "no"]);
  });
  after(async () => {
    await killRedisServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [label, query] of [["ssl_cert_reqs=CERT_NONE", "ssl_cert_reqs=CERT_NONE"], ["ssl_ca_certs (verified)", `ssl_ca_certs=${encodeURIComponent(cert)}`]] as const) {
    test(`broker and backend work over TLS with ${label}`, async () => {
      const broker = createRedisBroker(url(query), brokerOptions());
      const backend = createRedisBackend(url(query), backendOptions());
      try {
        await broker.connect();
        await backend.connect();
        const q = uniqueQueue();
        await broker.publish(q, wireMessage("over-tls"));
        const got: Delivery[] = [];
        const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 1 });
        await eventually(() => got.length === 1, 5000, "the delivery");
        assert.equal(labelOf(got[0]!.message), "over-tls");
        await got[0]!.ack();
        await consumer.cancel();
        const waiting = backend.waitForReady("tls-task", { timeoutMs: 5000 }); // through the TLS subscriber
        await new Promise((resolve) => setTimeout(resolve, 100));
        await backend.store({ taskId: "tls-task", state: "SUCCESS", value: 42, error: null, traceback: null, children: [], dateDone: new Date() });
        assert.equal((await waiting).value, 42);
      } finally {
        await broker.close();
        await backend.close();
      }
    });
  }

  test("an app and its worker run tasks with rediss:// broker and backend URLs", async () => {
    const app = createApp({ brokerUrl: url("ssl_cert_reqs=CERT_NONE"), resultBackend: url("ssl_cert_reqs=CERT_NONE"), readEnv: false });
    const add = app.task("tls.add", (x: number, y: number) => x + y);
    const worker = createWorker(app);
    try {
      await worker.start();
      assert.equal(await (await add.delay(20, 22)).get({ timeout: 10 }), 42);
    } finally {
      await worker.stop();
      await app.close();
    }
  });

  test("a self-signed certificate is refused by default, with the reason logged", async () => {
    const logs: LogLine[] = [];
    const broker = createRedisBroker(url(""), brokerOptions(logs, { connectionTimeoutMs: 1500, connectionMaxRetries: 2 }));
    await assert.rejects(broker.connect(), ConnectionError);
    assert.ok(logs.some((l) => /self[- ]signed certificate/i.test(l.message)), logs.map((l) => l.message).join("\n"));
    await broker.close();
    assert.throws(() => createRedisBroker(url("ssl_cert_reqs=maybe"), brokerOptions()), /ssl_cert_reqs must be CERT_REQUIRED/);
    assert.throws(() => createRedisBroker(url("ssl_ca_certs=/nonexistent/ca.pem"), brokerOptions()), /cannot read ssl_ca_certs "\/nonexistent\/ca.pem"/);
  });
});
