// Message signing through a real worker on the embedded broker: signed tasks run, and so do the
// retries and link callbacks the worker sends (it signs them too); unsigned, untrusted, tampered and
// expired messages are dead-lettered with the reason, count as rejected and store no result.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type { TaskContext } from "../app/task.ts";
import type { MemoryBroker } from "../broker/memory/memory-broker.ts";
import { encodeTaskMessage } from "../protocol/celery-v2.ts";
import { emptyEmbed, type TaskMessage } from "../protocol/message.ts";
import { loadSecurity } from "../app/security.ts";
import { certificateDir, makeCertificate } from "../app/security.test-helper.ts";
import { eventually, record, setup, sleep } from "./worker.test-helper.ts";

const dir = certificateDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const alice = makeCertificate(dir, "alice");
const mallory = makeCertificate(dir, "mallory");
const security = { key: alice.keyPath, cert: alice.certPath, trustedCerts: alice.certPath };

function message(id: string): TaskMessage {
  return {
    id, task: "s.add", args: [2, 3], kwargs: {}, embed: emptyEmbed(), eta: null, expires: null, retries: 0, rootId: id, parentId: null, groupId: null,
    groupIndex: null, timeLimit: [null, null], priority: null, ignoreResult: false, shadow: null, origin: null, argsrepr: null, kwargsrepr: null,
    replyTo: null, correlationId: id, headers: {}, serializer: "json",
  };
}

describe("a worker with message signing", () => {
  test("runs signed tasks, and signs the retries and link callbacks it sends", async () => {
    const { app, worker } = setup({ security });
    const add = app.task("s.add", (x: number, y: number) => x + y);
    const seen: number[] = [];
    const collect = app.task("s.collect", (value: number) => void seen.push(value));
    const retryOnce = app.task("s.retry_once", (ctx: TaskContext) => (ctx.request.retries < 1 ? ctx.retry({ countdown: 0.01 }) : "retried"), { bind: true });
    const rejected = record(app, "task:rejected");
    await worker.start();
    assert.equal(await (await add.delay(2, 3)).get({ timeout: 5 }), 5);
    assert.equal(await (await retryOnce.delay()).get({ timeout: 5 }), "retried");
    await (await add.applyAsync([4, 5], { link: collect.s() })).get({ timeout: 5 });
    await eventually(() => seen.length === 1, "the link callback");
    assert.deepEqual(seen, [9]);
    assert.deepEqual(rejected, []);
  });

  test("dead-letters unsigned, untrusted and tampered messages with the reason, storing no result", async () => {
    const { app, worker } = setup({ security });
    let runs = 0;
    app.task("s.add", (x: number, y: number) => {
      runs++;
      return x + y;
    });
    const rejected = record(app, "task:rejected");
    await worker.start();
    const broker = (await app.getBroker()) as MemoryBroker;
    const ours = app.security!.signer;
    const theirs = loadSecurity({ key: mallory.keyPath, cert: mallory.certPath, trustedCerts: mallory.certPath }).signer;
    await broker.publish("celery", encodeTaskMessage(message("unsigned-1")));
    await broker.publish("celery", encodeTaskMessage(message("untrusted-1"), { signer: theirs }));
    // Mallory's key under Alice's name.
    await broker.publish("celery", encodeTaskMessage(message("impostor-1"), { signer: { ...ours, key: theirs.key } }));
    const tampered = encodeTaskMessage(message("tampered-1"), { signer: ours });
    const packed = Buffer.from(Buffer.from(tampered.body).toString(), "base64");
    tampered.body = Buffer.from(Buffer.from(packed.toString("latin1").replace("[2,3]", "[2,4]"), "latin1").toString("base64"));
    await broker.publish("celery", tampered);
    await broker.publish("celery", encodeTaskMessage(message("good-1"), { signer: ours }));
    await eventually(() => rejected.length === 4, "four rejections");
    assert.equal(await app.asyncResult("good-1").get({ timeout: 5 }), 5);

    const letters = new Map((await broker.deadLetters.list("celery", 10)).map((l) => [String(l.message?.headers["id"]), l]));
    assert.deepEqual([...letters.values()].map((l) => l.code), ["SECURITY_ERROR", "SECURITY_ERROR", "SECURITY_ERROR", "SECURITY_ERROR"]);
    assert.match(letters.get("unsigned-1")?.reason ?? "", /^unsigned message \(content type application\/json\)/);
    assert.match(letters.get("untrusted-1")?.reason ?? "", /^untrusted signer "mallory \d+"/);
    assert.match(letters.get("impostor-1")?.reason ?? "", /^bad signature/);
    assert.match(letters.get("tampered-1")?.reason ?? "", /^bad signature/);
    // Kept as received: a redrive after trusting the signer would run it.
    assert.equal(letters.get("untrusted-1")?.message?.contentType, "application/data");
    for (const id of letters.keys()) assert.equal(await app.asyncResult(id).state(), "PENDING", `a result was stored for ${id}`);
    assert.deepEqual([runs, worker.stats.rejected, worker.status], [1, 4, "running"]);
    assert.deepEqual(rejected.map((e) => e.code), ["SECURITY_ERROR", "SECURITY_ERROR", "SECURITY_ERROR", "SECURITY_ERROR"]);
  });

  test("a trusted certificate that expires while the worker runs: its messages are refused from then on", async () => {
    const now = Date.now();
    // Certificate times have whole seconds: this one ends 2 to 3 seconds from now.
    const brief = makeCertificate(dir, "brief", { notBefore: new Date(now - 86_400_000), notAfter: new Date(Math.ceil((now + 2000) / 1000) * 1000) });
    const { app, worker } = setup({ security: { key: brief.keyPath, cert: brief.certPath, trustedCerts: brief.certPath } });
    app.task("s.add", (x: number, y: number) => x + y);
    await worker.start();
    const broker = (await app.getBroker()) as MemoryBroker;
    assert.equal(await app.asyncResult((await app.sendTask("s.add", [1, 1])).id).get({ timeout: 5 }), 2);
    const notAfter = app.security!.verifier.trusted.get(app.security!.signer.signerId)!.notAfter.getTime();
    await sleep(notAfter - Date.now() + 50);
    // The app signs as before (its key still works); the worker checks the date on every message.
    const late = await app.sendTask("s.add", [2, 2]);
    await eventually(async () => (await broker.deadLetters.list("celery", 10)).length === 1, "the dead letter");
    const [letter] = await broker.deadLetters.list("celery", 10);
    assert.equal(letter?.code, "SECURITY_ERROR");
    assert.match(letter?.reason ?? "", /^the certificate of signer "brief \d+" expired at /);
    assert.equal(await late.state(), "PENDING");
  });
});
