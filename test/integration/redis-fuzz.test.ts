// A real worker on the real Redis (db 15) drains 10,000 mutated Celery messages, LPUSHed raw as a Python
// producer writes them, interleaved with 1,000 valid messages of a task that counts its runs: the worker
// never crashes or stalls (it drains within a bound), each valid message runs exactly once, every invalid
// one is rejected with a reason, and no claim is left behind. The seed is printed; FUZZ_SEED=<n> replays.
// Below it, what the fuzzer found, each pinned by the smallest message that showed it. One file, so its
// tests run one at a time: each checks that db 15 holds no claim at its end.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { createApp, createWorker, type App } from "../../src/index.ts";
import type { Broker } from "../../src/broker/broker.ts";
import { loadFixture, type Json } from "../../src/protocol/fixtures.test-helper.ts";
import { baseMessages, fuzzSeed, mutants, type Mutant, type MutationKind } from "../../src/protocol/fuzz.test-helper.ts";
import { adminClient, redisUrl } from "./redis-helpers.ts";

const DB = 15;
const QUEUE = `fuzz-${randomUUID()}`;
const RUNS = `${QUEUE}:runs`;
const VALID = 1_000;
/** Mutants per kind (10,000 in all); size blow-ups are few, and capped at 96 KiB of text each. */
const KINDS: [MutationKind, number][] = [["bytes", 3500], ["body-bytes", 2000], ["structure", 2500], ["content", 1900], ["size", 100]];
const DRAIN_BOUND_MS = 90_000;

/** Claim keys: db 15 is this file's, so any entry in them at the end is a claim this run left behind. */
const CLAIMS = ["unacked", "unacked_index", "celeriac.unacked", "celeriac.unacked_index"];
const admin = adminClient(DB);
after(async () => {
  await admin.del(QUEUE, RUNS, `_kombu.binding.${QUEUE}`, `celeriac.dead-letter.${QUEUE}`, ...CLAIMS);
  await admin.quit();
});

/** A valid message of fuzz.record, byte for byte as Celery 5.2.6 wrote add.delay(2, 3) but for its task, id and argument. */
function celeryMessage(queue: string, id: string, task = "fuzz.record"): string {
  const raw = (loadFixture("redis-broker/add-delay.json").entries as Json[])[0]?.raw as string;
  const envelope = JSON.parse(raw) as { headers: Json; properties: Json };
  const body = Buffer.from(`[["${id}"], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`).toString("base64");
  return raw
    .replace(/"body": "[^"]*"/, `"body": "${body}"`)
    .replace('"task": "interop.add"', `"task": "${task}"`)
    .replace('"argsrepr": "(2, 3)"', `"argsrepr": "('${id}',)"`)
    .replace(`"routing_key": "celery"`, `"routing_key": "${queue}"`)
    .replaceAll(envelope.headers["id"] as string, id)
    .replace(envelope.properties["delivery_tag"] as string, randomUUID());
}

/** Every claim was settled: none would come back after the visibility timeout, to fail again. */
async function assertNoClaimLeft(): Promise<void> {
  const stuck = { ...(await admin.hgetall("unacked")), ...(await admin.hgetall("celeriac.unacked")) };
  const indexed = [...(await admin.zrange("unacked_index", "0", "-1")), ...(await admin.zrange("celeriac.unacked_index", "0", "-1"))];
  const shown = Object.entries(stuck).slice(0, 3).map(([tag, raw]) => [tag, raw.slice(0, 300)]);
  assert.deepEqual({ stuck: Object.keys(stuck), indexed }, { stuck: [], indexed: [] }, `claims left behind: ${JSON.stringify(shown)}`);
}

/**
 * Every message the worker refused, by code, each with its reason: pipeline rejections arrive as
 * `task:rejected` events, envelopes the Redis consumer cannot read as its log lines.
 * The events and log lines give the counts by code for the report; the dead-letter list, where every
 * rejected message must end up with its reason, is checked by assertAllRejected.
 */
class Rejections {
  readonly byCode = new Map<string, number>();
  /** The first 100, as "CODE: reason". */
  readonly reasons: string[] = [];
  total = 0;

  constructor(app: App, queue: string) {
    app.events.on("task:rejected", (event) => this.add(event.code, event.reason));
    const prefix = `redis consumer: rejected a malformed message from "${queue}"`;
    app.log = (_level, message) => {
      if (message.startsWith(prefix)) this.add("UNREADABLE_ENVELOPE", message.slice(prefix.length).replace(/^\W+/, ""));
    };
  }

  private add(code: string, reason: string): void {
    assert.ok(reason.trim().length > 0, `a ${code} rejection without a reason`);
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
    if (this.reasons.length < 100) this.reasons.push(`${code}: ${reason}`);
    this.total++;
  }

  /** Every invalid message was rejected, once, with a reason, and is kept in the queue's dead letters with it. */
  async assertAllRejected(invalid: number, broker: Broker, queue: string): Promise<void> {
    assert.equal(this.total, invalid, `rejected ${this.total} of ${invalid} invalid messages: ${JSON.stringify(Object.fromEntries(this.byCode))}`);
    const store = broker.deadLetters;
    assert.ok(store, "the Redis broker keeps dead letters");
    // A malformed message is buried after its rejection is logged: give the last ones a moment.
    const deadline = Date.now() + 10_000;
    let letters = await store.list(queue, invalid + 1);
    while (letters.length < invalid && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      letters = await store.list(queue, invalid + 1);
    }
    assert.equal(letters.length, invalid, "every invalid message is in the dead letters, once");
    const withoutReason = letters.filter((letter) => !letter.code || !letter.reason.trim() || letter.queue !== queue);
    assert.deepEqual(withoutReason, [], "dead letters without a code, a reason or their source queue");
  }
}

test("10,000 mutated messages among 1,000 valid ones: valid run once, invalid rejected with a reason, nothing stuck", { timeout: 180_000 }, async (t) => {
  await admin.del(...CLAIMS, `celeriac.dead-letter.${QUEUE}`);
  const seed = fuzzSeed();
  t.diagnostic(`seed ${seed} (replay: FUZZ_SEED=${seed})`);
  const bases = baseMessages();
  const invalid: Mutant[] = KINDS.flatMap(([kind, count], i) => fc.sample(mutants(bases, kind, 96), { seed: seed + i, numRuns: count }));
  const validIds = Array.from({ length: VALID }, () => randomUUID());
  // Each valid message after every tenth mutant, the mutants' kinds shuffled together by the seed.
  const order = fc.sample(fc.shuffledSubarray(invalid, { minLength: invalid.length }), { seed, numRuns: 1 })[0] as Mutant[];
  const stream = order.flatMap((mutant, i) => (i % 10 === 9 ? [mutant.raw, celeryMessage(QUEUE, validIds[(i - 9) / 10] as string)] : [mutant.raw]));
  assert.equal(stream.length, invalid.length + VALID);

  const app = createApp({ brokerUrl: redisUrl(DB), readEnv: false, taskDefaultQueue: QUEUE, messageMaxBytes: 64 * 1024, brokerTransportOptions: { deadLetterLimit: 20_000 } });
  const rejections = new Rejections(app, QUEUE);
  const workerErrors: string[] = [];
  app.events.on("worker:error", (event) => workerErrors.push(`${event.message}: ${String(event.error)}`));
  const recorder = adminClient(DB);
  app.task("fuzz.record", async (id: string) => {
    await recorder.hincrby(RUNS, id, 1);
  });
  const worker = createWorker(app, { concurrency: 8 });
  await worker.start();
  const started = Date.now();
  try {
    // Pushed while the worker runs, in bursts, so it meets both of its paths: batched fetches and BLMOVE.
    for (let i = 0; i < stream.length; i += 250) {
      await admin.lpush(QUEUE, ...stream.slice(i, i + 250));
      if (i % 2500 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const deadline = started + DRAIN_BOUND_MS;
    for (;;) {
      const [ran, waiting] = await Promise.all([admin.hlen(RUNS), admin.llen(QUEUE)]);
      if (ran === VALID && rejections.total >= invalid.length && waiting === 0) break;
      if (Date.now() > deadline) assert.fail(`not drained within ${DRAIN_BOUND_MS} ms: ${ran}/${VALID} valid ran, ${rejections.total}/${invalid.length} rejected, ${waiting} waiting`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const drainedMs = Date.now() - started;
    await worker.stop();
    t.diagnostic(`pushed ${stream.length}: ${VALID} valid, ${invalid.length} invalid (${KINDS.map(([kind, n]) => `${kind} ${n}`).join(", ")}); drained in ${drainedMs} ms`);
    t.diagnostic(`rejected by code: ${JSON.stringify(Object.fromEntries([...rejections.byCode].sort()))}`);

    const runs = await admin.hgetall(RUNS);
    assert.deepEqual(validIds.filter((id) => runs[id] !== "1"), [], "valid messages that did not run exactly once");
    await rejections.assertAllRejected(invalid.length, await app.getBroker(), QUEUE);
    assert.equal(Object.keys(runs).length + rejections.total, stream.length, "valid + rejected == pushed");
    assert.equal(worker.stats.succeeded, VALID);
    assert.deepEqual(workerErrors, []);
    await assertNoClaimLeft();
  } finally {
    await worker.stop();
    await app.close();
    await recorder.quit();
  }
});

/** Pushes `bad` then a valid task, runs a worker until the valid one ran and every bad one was rejected. */
async function drain(bad: string[]): Promise<{ rejections: Rejections; errors: string[] }> {
  const queue = `fuzz-regression-${randomUUID()}`;
  const app = createApp({ brokerUrl: redisUrl(DB), readEnv: false, taskDefaultQueue: queue });
  const rejections = new Rejections(app, queue);
  const errors: string[] = [];
  app.events.on("worker:error", (event) => errors.push(`${event.message}: ${String(event.error)}`));
  let ran = false;
  app.task("fuzz.ok", () => {
    ran = true;
  });
  // Pushed before the worker starts: it takes them with one fetch.lua call (pop and claim together).
  await admin.lpush(queue, ...bad, celeryMessage(queue, randomUUID(), "fuzz.ok"));
  const worker = createWorker(app, { concurrency: 2 });
  await worker.start();
  try {
    const deadline = Date.now() + 15_000;
    while (!ran || rejections.total < bad.length) {
      if (Date.now() > deadline) assert.fail(`ran: ${ran}, rejected: ${JSON.stringify(rejections.reasons)}, errors: ${JSON.stringify(errors)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await worker.stop();
    return { rejections, errors };
  } finally {
    await worker.stop();
    await app.close();
    await admin.del(queue, `_kombu.binding.${queue}`, `celeriac.dead-letter.${queue}`);
  }
}

/** A kombu envelope with these headers (JSON text) and an empty task body, laid out as Celery writes it. */
function envelope(headers: string): string {
  const body = Buffer.from("[[], {}, null]").toString("base64");
  return `{"body": "${body}", "content-encoding": "utf-8", "content-type": "application/json", "headers": ${headers}, "properties": {"delivery_info": {"exchange": "", "routing_key": "celery"}, "body_encoding": "base64", "delivery_tag": "${randomUUID()}"}}`;
}

test("regression: a deeply nested id is rejected as malformed, not a stack overflow that kept its claim", async () => {
  const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
  const { rejections, errors } = await drain([envelope(`{"task": "fuzz.ok", "id": ${deep}}`)]);
  assert.deepEqual(errors, []);
  assert.deepEqual(rejections.reasons, ["MALFORMED_MESSAGE: headers.id must be a non-empty string, got an array of 1"]);
  await assertNoClaimLeft();
});

test("regression: a compact message with a non-ASCII tag is rejected, with no claim under a tag no ack names", async () => {
  const { rejections, errors } = await drain([`\x01éééééééééééé["00000000-0000-4000-8000-000000000000","fuzz.unknown"]\n[[],{},{}]`]);
  assert.deepEqual(errors, []);
  assert.equal(rejections.total, 1);
  await assertNoClaimLeft();
});

test("regression: an unreadable envelope is un-claimed by the tag fetch.lua claimed, whatever other tags its text holds", async () => {
  const tag = () => randomUUID();
  // A "delivery_tag" header before the real one, and a body that is not a string (so it never decodes).
  const headerFirst = `{"body": 7, "headers": {"task": "fuzz.unknown", "id": "${tag()}", "delivery_tag": "${tag()}"}, "properties": {"delivery_tag": "${tag()}"}}`;
  // Duplicate tags (cjson keeps the last) and a Python literal JSON.parse refuses.
  const duplicated = `{"body": "", "headers": {}, "properties": {"delivery_tag": "${tag()}", "delivery_tag": "${tag()}", "body_encoding": Infinity}}`;
  // A raw control character (cjson takes it, JSON.parse does not) and an escape in the tag itself.
  const escaped = `{"body": "\u0001", "headers": {}, "properties": {"delivery_tag": "${tag()}", "delivery_tag": "${tag()}\\f"}}`;
  const { rejections, errors } = await drain([headerFirst, duplicated, escaped]);
  assert.deepEqual(errors, []);
  assert.equal(rejections.total, 3);
  await assertNoClaimLeft();
});
