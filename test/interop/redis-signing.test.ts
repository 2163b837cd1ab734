// Message signing against the real Python Celery 5.2.6 (`app.setup_security()`, task_serializer 'auth')
// over a private Redis server, with throw-away certificates made by openssl: both sides name a signer alike; a
// Celery worker runs what our app signed and our app reads its results; our worker runs what Celery
// signed and Celery's AsyncResult.get reads our results; our worker dead-letters an unsigned Celery
// message and one signed by a certificate it does not trust, and stores no result for them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { createApp, createWorker, type App } from "../../src/index.ts";
import type { SecurityOptions } from "../../src/app/security.ts";
import { loadSecurity } from "../../src/app/security.ts";
import { certificateDir, makeCertificate, type TestCertificate } from "../../src/app/security.test-helper.ts";
import { eventually } from "../conformance/fixtures.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "../integration/redis-server.ts";
import { PY_DIR, defineInteropTasks } from "./redis-app-helpers.ts";
import { PYTHON, celeryWorkerArgs, spawnPython, untilCeleryReady, type PythonProcess } from "./python-process.ts";

// A server of its own: every Redis db of the shared server is some other test file's.
let server: RedisChild;
let url = "";
let admin: Redis;
const NESTED = { text: "Zoë ☃ 日本語 🎉", nested: { list: [1, 2.5, null, true, [3, { k: "v" }]], big: 9007199254740993n } };

const dir = certificateDir();
// Issuer values with non-ASCII letters, a comma and a plus sign: both sides must name the signer alike.
const python = makeCertificate(dir, "python", { subject: "/C=FR/O=Célèriac, Inc./OU=Ops\\+Dev/CN=py worker" });
const node = makeCertificate(dir, "node", { subject: "/O=Celeriac/CN=node producer" });
const stranger = makeCertificate(dir, "stranger");
const trusted = storeOf("trusted", [python, node]);
const strangerStore = storeOf("stranger-store", [stranger]);
const nodeSecurity: SecurityOptions = { key: node.keyPath, cert: node.certPath, trustedCerts: trusted };

function storeOf(name: string, certs: TestCertificate[]): string {
  const path = join(dir, name);
  mkdirSync(path);
  certs.forEach((cert, i) => writeFileSync(join(path, `${i}.pem`), cert.certPem));
  return path;
}

/** Celery's python environment signing as `cert`, trusting `store`. */
function pythonEnv(cert: TestCertificate, store: string): Record<string, string> {
  return { CELERY_BROKER_URL: url, CELERY_RESULT_BACKEND: url, SECURITY_KEY: cert.keyPath, SECURITY_CERT: cert.certPath, SECURITY_STORE: store };
}

function pythonClient(args: string[], env: Record<string, string>): PythonProcess {
  return spawnPython(["secure_client.py", ...args], PY_DIR, env);
}

/** The signer id Python's cryptography gives `cert` (celery.security.certificate.Certificate.get_id). */
function pythonSignerId(cert: TestCertificate): string {
  const script = "import sys; from celery.security.certificate import Certificate; print(Certificate(open(sys.argv[1]).read()).get_id())";
  return execFileSync(PYTHON, ["-c", script, cert.certPath], { encoding: "utf8" }).trimEnd();
}

/** An app on the private server signing as node, with the interop tasks, closed after the test. */
function signingApp(apps: App[], queue: string): App {
  const app = createApp({ brokerUrl: url, resultBackend: url, readEnv: false, security: nodeSecurity, taskDefaultQueue: queue });
  defineInteropTasks(app);
  apps.push(app);
  return app;
}

before(async () => {
  server = await startRedisServer(await freePort());
  url = `redis://127.0.0.1:${server.port}/0`;
  admin = new Redis(url, { connectionName: "celeriac-test-admin" });
});

after(async () => {
  await admin.quit();
  await killRedisServer(server);
  rmSync(dir, { recursive: true, force: true });
});

describe("message signing with the real Celery (setup_security)", () => {
  const apps: App[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });

  test("both sides give a certificate the same signer id", () => {
    for (const cert of [python, node, stranger]) {
      assert.equal(loadSecurity({ key: cert.keyPath, cert: cert.certPath, trustedCerts: cert.certPath }).signer.signerId, pythonSignerId(cert));
    }
    assert.match(pythonSignerId(python), /^FR Célèriac, Inc\. Ops\+Dev py worker \d+$/);
  });

  test("a Celery worker with setup_security runs what our app signed; we read its results", async () => {
    const app = signingApp(apps, "signed-to-py");
    const add = await app.sendTask<number>("interop.add", [2, 3]);
    const echo = await app.sendTask("interop.echo", [NESTED]);
    const sum = await app.sendTask<number>("interop.sum_list", [[1, 2, 3]]);
    // On the wire: kombu envelopes whose body is Celery's auth serialization.
    const queued = (await admin.lrange("signed-to-py", 0, -1)).map((raw) => JSON.parse(raw) as Record<string, unknown>);
    assert.deepEqual(queued.map((envelope) => envelope["content-type"]), ["application/data", "application/data", "application/data"]);
    const worker = await untilCeleryReady(spawnPython(celeryWorkerArgs("signed-to-py", "secure", "secure_app"), PY_DIR, pythonEnv(python, trusted)));
    try {
      assert.equal(await add.get({ timeout: 30 }), 5);
      assert.deepEqual(await echo.get({ timeout: 30 }), NESTED);
      assert.equal(await sum.get({ timeout: 30 }), 6);
      assert.doesNotMatch(worker.stderr(), /SecurityError|ContentDisallowed/);
    } finally {
      await worker.stop();
    }
  });

  test("our worker runs what Celery signed; Celery's AsyncResult.get reads our results", async () => {
    const app = signingApp(apps, "signed-from-py");
    const worker = createWorker(app);
    await worker.start();
    const client = pythonClient(["run", "signed-from-py"], pythonEnv(python, trusted));
    try {
      const { sent } = (await client.nextLine()) as { sent: Record<string, string> };
      const outcomes = [await client.nextLine(), await client.nextLine(), await client.nextLine()];
      assert.deepEqual(outcomes, [
        { label: "add", state: "SUCCESS", value: 5 },
        { label: "echo", state: "SUCCESS", value: NESTED },
        { label: "sum", state: "SUCCESS", value: 6 },
      ]);
      assert.equal(Object.keys(sent).length, 3);
      assert.deepEqual([worker.stats.succeeded, worker.stats.rejected], [3, 0]);
    } finally {
      await client.stop();
      await worker.stop();
    }
  });

  test("our worker dead-letters an unsigned Celery message and one signed by an untrusted certificate", async () => {
    const app = signingApp(apps, "signed-refused");
    const worker = createWorker(app);
    await worker.start();
    const sendOne = async (command: string, env: Record<string, string>): Promise<string> => {
      const client = pythonClient([command, "signed-refused"], env);
      try {
        return String((await client.nextLine())["id"]);
      } finally {
        await client.stop();
      }
    };
    try {
      const unsigned = await sendOne("unsigned", { CELERY_BROKER_URL: url, CELERY_RESULT_BACKEND: url });
      const untrusted = await sendOne("send", pythonEnv(stranger, strangerStore));
      const broker = await app.getBroker();
      await eventually(async () => (await broker.deadLetters!.list("signed-refused", 10)).length === 2, 15_000, "two dead letters");
      const letters = new Map((await broker.deadLetters!.list("signed-refused", 10)).map((l) => [String(l.message?.headers["id"]), l]));
      assert.deepEqual([letters.get(unsigned)?.code, letters.get(untrusted)?.code], ["SECURITY_ERROR", "SECURITY_ERROR"]);
      assert.match(letters.get(unsigned)?.reason ?? "", /^unsigned message \(content type application\/json\)/);
      assert.equal(letters.get(untrusted)?.reason.split(":")[0], `untrusted signer ${JSON.stringify(pythonSignerId(stranger))}`);
      for (const id of [unsigned, untrusted]) assert.equal(await app.asyncResult(id).state(), "PENDING", `a result was stored for ${id}`);

      // Still serving: a trusted Celery signer's next message runs.
      const trustedId = await sendOne("send", pythonEnv(python, trusted));
      assert.equal(await app.asyncResult(trustedId).get({ timeout: 15 }), 5);
      assert.deepEqual([worker.stats.rejected, worker.stats.succeeded], [2, 1]);
    } finally {
      await worker.stop();
    }
  });
});
