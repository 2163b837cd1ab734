// Bugs the worker fuzzer (redis-fuzz.test.ts) found on the real Redis (db 15), each pinned by the
// smallest message that showed it: the worker rejects the message with a reason, leaves no claim behind
// (one would come back after the visibility timeout, again and again), and goes on to run the next task.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createApp, createWorker } from "../../src/index.ts";
import { adminClient, redisUrl } from "./redis-helpers.ts";

const DB = 15;
const CLAIMS = ["unacked", "unacked_index", "celeriac.unacked", "celeriac.unacked_index"];
const admin = adminClient(DB);
after(async () => {
  await admin.del(...CLAIMS);
  await admin.quit();
});

/** A kombu envelope (as Python writes it) with these headers and a JSON body text. */
function envelope(queue: string, headers: string, body = "[[], {}, null]"): string {
  return `{"body": ${JSON.stringify(Buffer.from(body).toString("base64"))}, "content-encoding": "utf-8", "content-type": "application/json", "headers": ${headers}, "properties": {"delivery_info": {"exchange": "", "routing_key": "${queue}"}, "body_encoding": "base64", "delivery_tag": "${randomUUID()}"}}`;
}

/** Pushes `bad` then a valid task, runs a worker until the valid one ran, and returns what it saw. */
async function drain(bad: string[]): Promise<{ rejected: string[]; errors: string[]; claims: number }> {
  const queue = `fuzz-regression-${randomUUID()}`;
  const app = createApp({ brokerUrl: redisUrl(DB), readEnv: false, taskDefaultQueue: queue });
  const rejected: string[] = [];
  const errors: string[] = [];
  app.events.on("task:rejected", (event) => rejected.push(`${event.code}: ${event.reason}`));
  app.events.on("worker:error", (event) => errors.push(`${event.message}: ${String(event.error)}`));
  app.log = (_level, message) => {
    if (message.startsWith(`redis consumer: rejected a malformed message from "${queue}"`)) rejected.push(message);
  };
  let ran = false;
  app.task("fuzz.ok", () => {
    ran = true;
  });
  // Pushed before the worker starts: it takes them with one fetch.lua call (pop and claim together).
  await admin.lpush(queue, ...bad, envelope(queue, `{"task": "fuzz.ok", "id": "${randomUUID()}"}`));
  await admin.del(...CLAIMS);
  const worker = createWorker(app, { concurrency: 2 });
  await worker.start();
  try {
    const deadline = Date.now() + 15_000;
    while (!ran || rejected.length < bad.length) {
      if (Date.now() > deadline) assert.fail(`ran: ${ran}, rejected: ${JSON.stringify(rejected)}, errors: ${JSON.stringify(errors)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await worker.stop();
    const claims = (await Promise.all(CLAIMS.map((key) => admin.exists(key)))).reduce((a, b) => a + b, 0);
    return { rejected, errors, claims };
  } finally {
    await worker.stop();
    await app.close();
    await admin.del(queue, `_kombu.binding.${queue}`);
  }
}

test("a deeply nested id: rejected as malformed, not a stack overflow that left its claim behind", async () => {
  const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
  const { rejected, errors, claims } = await drain([envelope("q", `{"task": "fuzz.ok", "id": ${deep}}`)]);
  assert.deepEqual(errors, []);
  assert.equal(rejected.length, 1);
  assert.match(rejected[0] as string, /^MALFORMED_MESSAGE: headers\.id must be a non-empty string, got an array of 1/);
  assert.equal(claims, 0);
});

test("a compact message whose tag is not ASCII: rejected with a reason, no claim left under a tag no ack names", async () => {
  const { rejected, errors, claims } = await drain([`\x01éééééééééééé["00000000-0000-4000-8000-000000000000","fuzz.unknown"]\n[[],{},{}]`]);
  assert.deepEqual(errors, []);
  assert.equal(rejected.length, 1);
  assert.equal(claims, 0);
});

test("an unreadable envelope is un-claimed by the tag fetch.lua claimed, whatever other tags its text holds", async () => {
  const tag = () => randomUUID();
  // A "delivery_tag" header before the real one, and a body that is not a string (so it never decodes).
  const headerFirst = `{"body": 7, "headers": {"task": "fuzz.unknown", "id": "${tag()}", "delivery_tag": "${tag()}"}, "properties": {"delivery_tag": "${tag()}"}}`;
  // Duplicate tags (cjson keeps the last) and a Python literal JSON.parse refuses.
  const duplicated = `{"body": "", "headers": {}, "properties": {"delivery_tag": "${tag()}", "delivery_tag": "${tag()}", "body_encoding": Infinity}}`;
  // A raw control character (cjson takes it, JSON.parse does not) and an escape in the tag itself.
  const escaped = `{"body": "\u0001", "headers": {}, "properties": {"delivery_tag": "${tag()}", "delivery_tag": "${tag()}\\f"}}`;
  const { rejected, errors, claims } = await drain([headerFirst, duplicated, escaped]);
  assert.deepEqual(errors, []);
  assert.equal(rejected.length, 3);
  assert.equal(claims, 0);
});
