// Message signing over RabbitMQ with rpc:// results, against the real Python Celery 5.2.6 with
// setup_security (python/secure_app.py): a Celery worker runs what our app signed and our rpc backend
// reads the reply; our worker runs a message Celery signed and dead-letters an unsigned one to
// celeriac.dead-letter.<queue> with the reason. (The Redis twin, redis-signing.test.ts, covers more.)
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createApp, createWorker, type App, type Worker } from "../../src/index.ts";
import { deadLetterQueue } from "../../src/broker/amqp/dead-letters.ts";
import { certificateDir, makeCertificate } from "../../src/app/security.test-helper.ts";
import { eventually } from "../conformance/fixtures.ts";
import { AMQP_URL, TEST_DELAY_NAMESPACE, closeAppsAndQueues } from "./amqp-helpers.ts";
import { celeryWorkerArgs, spawnPython, untilCeleryReady } from "./python-process.ts";
import { PY_DIR, defineInteropTasks } from "./redis-app-helpers.ts";

const dir = certificateDir();
const python = makeCertificate(dir, "python", { subject: "/O=Interop/CN=py amqp" });
const node = makeCertificate(dir, "node", { subject: "/O=Interop/CN=node amqp" });
const trusted = join(dir, "trusted");
mkdirSync(trusted);
writeFileSync(join(trusted, "python.pem"), python.certPem);
writeFileSync(join(trusted, "node.pem"), node.certPem);
const env = { CELERY_BROKER_URL: AMQP_URL, CELERY_RESULT_BACKEND: "rpc://", SECURITY_KEY: python.keyPath, SECURITY_CERT: python.certPath, SECURITY_STORE: trusted };

const apps: App[] = [];
const workers: Worker[] = [];
const queues: string[] = [];

function newQueue(label: string): string {
  const queue = `signed-${label}-${randomUUID().slice(0, 8)}`;
  queues.push(queue, deadLetterQueue(queue));
  return queue;
}

function signingApp(): App {
  const app = createApp({ brokerUrl: AMQP_URL, resultBackend: "rpc://", readEnv: false, brokerTransportOptions: { delayNamespace: TEST_DELAY_NAMESPACE }, security: { key: node.keyPath, cert: node.certPath, trustedCerts: trusted } });
  defineInteropTasks(app);
  apps.push(app);
  return app;
}

after(async () => {
  await closeAppsAndQueues(workers, apps, queues);
  rmSync(dir, { recursive: true, force: true });
});

describe("message signing over RabbitMQ with the real Celery", () => {
  test("a Celery worker with setup_security runs what our app signed; our rpc backend reads the reply", async () => {
    const queue = newQueue("to-py");
    const app = signingApp();
    await (await app.getBroker()).declareQueue(queue);
    const worker = await untilCeleryReady(spawnPython(celeryWorkerArgs(queue, `secure-${randomUUID().slice(0, 6)}`, "secure_app"), PY_DIR, env));
    try {
      const sum = await app.sendTask<number>("interop.add", [20, 22], { queue });
      assert.equal(await sum.get({ timeout: 30 }), 42);
      assert.doesNotMatch(worker.stderr(), /SecurityError|ContentDisallowed/);
    } finally {
      await worker.stop();
    }
  });

  test("our worker runs what Celery signed and dead-letters an unsigned Celery message with the reason", async () => {
    const queue = newQueue("from-py");
    const app = signingApp();
    const succeeded: string[] = [];
    app.events.on("task:succeeded", (e) => succeeded.push(e.id));
    const worker = createWorker(app, { queues: [queue] });
    workers.push(worker);
    await worker.start();
    const sendOne = async (command: string): Promise<string> => {
      const client = spawnPython(["secure_client.py", command, queue], PY_DIR, env);
      try {
        return String((await client.nextLine())["id"]);
      } finally {
        await client.stop();
      }
    };
    const signed = await sendOne("send");
    const unsigned = await sendOne("unsigned");
    await eventually(() => succeeded.includes(signed), 15_000, "the signed task to run");
    const broker = await app.getBroker();
    await eventually(async () => (await broker.deadLetters!.list(queue, 10)).length === 1, 15_000, "the dead letter");
    const [letter] = await broker.deadLetters!.list(queue, 10);
    assert.deepEqual([letter?.message?.headers["id"], letter?.code], [unsigned, "SECURITY_ERROR"]);
    assert.match(letter?.reason ?? "", /^unsigned message \(content type application\/json\)/);
    assert.deepEqual([worker.stats.succeeded, worker.stats.rejected], [1, 1]);
  });
});
