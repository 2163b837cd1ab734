// rediss:// against a TLS-only throw-away redis-server (Debian's build has TLS): a self-signed
// certificate made with openssl in a temp dir; broker, backend and a whole app work with
// ssl_cert_reqs=CERT_NONE and with ssl_ca_certs=<the certificate>, and verification fails at once,
// named as such (ConnectionRefusedPermanently, reason "tls"), without either.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker } from "../../src/broker/redis/broker.ts";
import { createRedisBackend } from "../../src/backend/redis/backend.ts";
import { ConnectionRefusedPermanently, createApp, createWorker } from "../../src/index.ts";
import { eventually, labelOf, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { backendOptions, brokerOptions, type LogLine } from "./redis-helpers.ts";
import { startTlsRedisServer, type TlsRedisChild } from "./redis-server.ts";

describe("rediss:// (TLS)", () => {
  let server: TlsRedisChild;
  let cert = "";
  let port = 0;
  const url = (query: string): string => `rediss://127.0.0.1:${port}/0?${query}`;

  before(async () => {
    server = await startTlsRedisServer();
    ({ cert, port } = server);
  });
  after(async () => {
    await server.stop();
  });

  // The certificate exists once before() has run: the query is built in the test.
  for (const [label, query] of [["ssl_cert_reqs=CERT_NONE", () => "ssl_cert_reqs=CERT_NONE"], ["ssl_ca_certs (verified)", () => `ssl_ca_certs=${encodeURIComponent(cert)}`]] as const) {
    test(`broker and backend work over TLS with ${label}`, async () => {
      const broker = createRedisBroker(url(query()), brokerOptions());
      const backend = createRedisBackend(url(query()), backendOptions());
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

  test("a self-signed certificate is refused at once, named as a TLS verification failure and logged", async () => {
    const logs: LogLine[] = [];
    // Retries and a wait that would show if the refusal were treated as "unreachable".
    const broker = createRedisBroker(url(""), brokerOptions(logs, { connectionTimeoutMs: 60_000, connectionMaxRetries: 100 }));
    await assert.rejects(broker.connect(), (error: unknown) => {
      assert.ok(error instanceof ConnectionRefusedPermanently, String(error));
      assert.equal(error.code, "CONNECTION_REFUSED_PERMANENTLY");
      assert.equal(error.reason, "tls");
      assert.match(error.message, new RegExp(`^cannot connect to rediss://127\\.0\\.0\\.1:${port}/0\\?: TLS certificate verification failed: self[- ]signed certificate \\(DEPTH_ZERO_SELF_SIGNED_CERT\\)`));
      assert.match(error.message, /ssl_ca_certs=<file>/, "the fix is named");
      return true;
    });
    assert.ok(logs.some((l) => l.level === "error" && /self[- ]signed certificate/i.test(l.message)), logs.map((l) => l.message).join("\n"));
    assert.ok(!logs.some((l) => /reconnect attempt/.test(l.message)), `retried a refusal that will not heal:\n${logs.map((l) => l.message).join("\n")}`);
    await broker.close();
    assert.throws(() => createRedisBroker(url("ssl_cert_reqs=maybe"), brokerOptions()), /ssl_cert_reqs must be CERT_REQUIRED/);
    assert.throws(() => createRedisBroker(url("ssl_ca_certs=/nonexistent/ca.pem"), brokerOptions()), /cannot read ssl_ca_certs "\/nonexistent\/ca.pem"/);
  });
});
