// Tests celery-v2.ts against every task message Celery 5.2.6 produced (fixtures), then round trips
// and the malformed inputs a worker must refuse.

import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeTaskMessage, encodeTaskMessage, LANG, PROTOCOL_HEADERS } from "./celery-v2.ts";
import type { DecodeOptions } from "./codecs.ts";
import { encodeBody } from "./codecs.ts";
import type { Signature, TaskMessage, WireMessage } from "./message.ts";
import { emptyEmbed } from "./message.ts";
import { signature, signatureToWire } from "./signature.ts";
import { epochMs, reviveBytes, roundBigInts, taskFixtures, type Json, type TaskFixture, isCode } from "./fixtures.test-helper.ts";

const OPTS: DecodeOptions = { accept: ["json", "msgpack"], maxBytes: 1 << 20 };
const FIXTURES = taskFixtures();
const bySource = (prefix: string): TaskFixture[] => FIXTURES.filter((f) => f.source.startsWith(prefix));
const one = (prefix: string): TaskFixture => {
  const found = bySource(prefix)[0];
  assert.ok(found, `fixture ${prefix} missing`);
  return found;
};

test("the fixtures hold every captured task message", () => {
  // 27 redis-broker files minus echo-bytes-json-error (nothing published); group/chord/priority have several.
  assert.ok(FIXTURES.length >= 33, `only ${FIXTURES.length} task messages found`);
  assert.equal(bySource("amqp/").length, 3);
});

for (const fx of FIXTURES) {
  test(`decodes ${fx.source} as Celery wrote it`, () => {
    const h = fx.headers;
    const msg = decodeTaskMessage(fx.wire, OPTS);
    assert.equal(msg.task, h.task);
    assert.equal(msg.id, h.id);
    assert.equal(msg.rootId, h.root_id);
    assert.equal(msg.parentId, h.parent_id);
    assert.equal(msg.groupId, h.group);
    assert.equal(msg.groupIndex, h.group_index);
    assert.equal(msg.retries, h.retries);
    assert.deepEqual(msg.timeLimit, h.timelimit);
    assert.equal(msg.ignoreResult, h.ignore_result);
    assert.equal(msg.shadow, h.shadow);
    assert.equal(msg.argsrepr, h.argsrepr);
    assert.equal(msg.kwargsrepr, h.kwargsrepr);
    assert.equal(msg.origin, h.origin);
    assert.equal(msg.eta?.getTime() ?? null, h.eta === null ? null : epochMs(h.eta as string));
    assert.equal(msg.expires?.getTime() ?? null, h.expires === null ? null : epochMs(h.expires as string));
    assert.equal(msg.priority, fx.properties.priority);
    assert.equal(msg.correlationId, fx.properties.correlation_id);
    assert.equal(msg.replyTo, fx.properties.reply_to);
    assert.equal(msg.serializer, fx.wire.contentType === "application/x-msgpack" ? "msgpack" : "json");

    const [args, kwargs, embed] = fx.body;
    assert.deepEqual(roundBigInts(msg.args), reviveBytes(args));
    assert.deepEqual(msg.kwargs, kwargs);
    const wireEmbed = embed ?? {};
    const list = (sigs: Signature[] | null) => (sigs === null ? null : sigs.map(signatureToWire));
    assert.deepEqual(list(msg.embed.callbacks), wireEmbed.callbacks ?? null);
    assert.deepEqual(list(msg.embed.errbacks), wireEmbed.errbacks ?? null);
    assert.deepEqual(list(msg.embed.chain), wireEmbed.chain ?? null);
    assert.deepEqual(msg.embed.chord && signatureToWire(msg.embed.chord), wireEmbed.chord ?? null);

    const custom = Object.fromEntries(
      Object.entries(h).filter(([key]) => !(PROTOCOL_HEADERS as readonly string[]).includes(key)),
    );
    assert.deepEqual(msg.headers, custom);
  });

  test(`round-trips ${fx.source} through encode and decode`, () => {
    const msg = decodeTaskMessage(fx.wire, OPTS);
    const again = decodeTaskMessage(encodeTaskMessage(msg), OPTS);
    assert.deepEqual(again, msg);
  });
}

test("our headers have Celery's keys, order and JSON types (add-delay)", () => {
  const fx = one("redis-broker/add-delay.json");
  const wire = encodeTaskMessage(decodeTaskMessage(fx.wire, OPTS));
  assert.deepEqual(Object.keys(wire.headers), Object.keys(fx.headers));
  const kind = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? `array:${v.map(kind).join(",")}` : typeof v);
  for (const key of Object.keys(fx.headers)) {
    assert.equal(kind(wire.headers[key]), kind(fx.headers[key]), `header ${key}`);
  }
  assert.equal(wire.headers.lang, LANG);
  assert.equal(wire.contentType, "application/json");
  assert.equal(wire.contentEncoding, "utf-8");
  assert.deepEqual(JSON.parse(Buffer.from(wire.body).toString("utf8")), fx.body);
  assert.deepEqual(wire.properties, {
    correlationId: fx.properties.correlation_id,
    replyTo: fx.properties.reply_to,
    deliveryMode: 2,
    priority: 0,
  });
});

test("eta, expires and expiration are written as Celery writes them", () => {
  const fx = one("redis-broker/add-expires-60s.json");
  const msg = decodeTaskMessage(fx.wire, OPTS);
  assert.ok(msg.expires, "msg.expires");
  const wire = encodeTaskMessage(msg, { now: msg.expires.getTime() - 60_000 });
  assert.equal(wire.properties.expiration, fx.properties.expiration); // "60000"
  // Celery's microseconds survive to the millisecond; Python isoformat shape with +00:00.
  assert.equal(wire.headers.expires, (fx.headers.expires as string).replace(/(\.\d{3})\d{3}/, "$1000"));
  assert.equal(encodeTaskMessage(msg, { now: msg.expires.getTime() + 5 }).properties.expiration, "0");

  const eta = decodeTaskMessage(one("redis-broker/add-eta.json").wire, OPTS);
  assert.equal(encodeTaskMessage(eta).headers.eta, "2030-01-02T03:04:05.123000+00:00");
  assert.equal(encodeTaskMessage(eta).properties.expiration, undefined);
});

test("a naive eta is read as UTC (add-eta-naive)", () => {
  const msg = decodeTaskMessage(one("redis-broker/add-eta-naive.json").wire, OPTS);
  assert.equal(msg.eta?.toISOString(), "2030-01-02T03:04:05.000Z");
  assert.equal(encodeTaskMessage(msg).headers.eta, "2030-01-02T03:04:05.000000+00:00");
});

test("chain steps stay in Celery's reversed order, chord and callbacks are decoded", () => {
  const chain = decodeTaskMessage(one("redis-broker/chain-3.json").wire, OPTS).embed.chain;
  assert.ok(chain, "chain");
  assert.deepEqual(chain.map((s) => s.args), [[4], [3]]); // the next step, add.s(3), is LAST
  assert.equal(typeof chain[1]?.options.task_id, "string");

  const chords = bySource("redis-broker/chord-3.json").map((fx) => decodeTaskMessage(fx.wire, OPTS));
  assert.deepEqual(chords.map((m) => m.groupIndex), [0, 1, 2]);
  assert.ok(chords.every((m) => m.embed.chord?.task === "interop.sum_list" && m.groupId === chords[0]?.groupId), "chords.every((m) => m.embed.chord?.task === \"interop.sum_list\" && m.groupId === chords[0]?.groupId)");

  const group = bySource("redis-broker/group-3.json").map((fx) => decodeTaskMessage(fx.wire, OPTS));
  assert.ok(group.every((m) => m.groupIndex === null && typeof m.groupId === "string"), "group.every((m) => m.groupIndex === null && typeof m.groupId === \"string\")");

  const links = decodeTaskMessage(one("redis-broker/link-and-link-error.json").wire, OPTS).embed;
  assert.deepEqual(links.callbacks?.map((s) => [s.task, s.args]), [["interop.add", [10]]]);
  assert.deepEqual(links.errbacks?.map((s) => s.task), ["interop.echo"]);
});

test("integers beyond 2^53 and msgpack bytes decode exactly", () => {
  const nested = decodeTaskMessage(one("redis-broker/echo-unicode-nested.json").wire, OPTS);
  const arg = nested.args[0] as { text: string; nested: { big: bigint } };
  assert.equal(arg.nested.big, 9007199254740993n);
  assert.equal(arg.text, 'Zoë ☃ 日本語 🎉 "quoted" \\ back');

  const bytes = decodeTaskMessage(one("redis-broker/echo-msgpack-bytes-unicode.json").wire, OPTS);
  assert.deepEqual(bytes.args, [[new Uint8Array([0, 1, 0xff]), "Zoë ☃"]]);
  const again = decodeTaskMessage(encodeTaskMessage(bytes), OPTS);
  assert.equal(again.serializer, "msgpack");
  assert.deepEqual(again.args, bytes.args);
});

test("custom headers are merged flat but never override protocol headers", () => {
  const msg = decodeTaskMessage(one("redis-broker/add-custom-headers.json").wire, OPTS);
  assert.deepEqual(msg.headers, { "x-request-id": "req-123", tenant: 42, flags: ["a", "b"] });
  const wire = encodeTaskMessage({ ...msg, headers: { ...msg.headers, id: "evil", task: "os.system", __proto__x: 1 } });
  assert.equal(wire.headers.id, msg.id);
  assert.equal(wire.headers.task, msg.task);
  assert.equal(wire.headers["x-request-id"], "req-123");
  assert.equal(wire.headers.__proto__x, 1);
});

function baseMessage(overrides: Partial<TaskMessage> = {}): TaskMessage {
  return {
    id: "id-1", task: "t.add", args: [2, 3], kwargs: {}, embed: emptyEmbed(), eta: null, expires: null,
    retries: 0, rootId: "id-1", parentId: null, groupId: null, groupIndex: null, timeLimit: [null, null],
    priority: null, ignoreResult: false, shadow: null, origin: null, argsrepr: null, kwargsrepr: null,
    replyTo: null, correlationId: null, headers: {}, serializer: "json", ...overrides,
  };
}

test("encode fills Celery defaults: argsrepr, priority 0, reply_to '', correlation_id = id", () => {
  const wire = encodeTaskMessage(baseMessage({ args: ["boom"], kwargs: { y: 3 } }));
  assert.equal(wire.headers.argsrepr, "('boom',)");
  assert.equal(wire.headers.kwargsrepr, "{'y': 3}");
  assert.deepEqual(wire.properties, { correlationId: "id-1", replyTo: "", deliveryMode: 2, priority: 0 });
  const back = decodeTaskMessage(wire, OPTS);
  assert.equal(back.replyTo, null);
  assert.equal(back.priority, 0);
  assert.throws(() => encodeTaskMessage(baseMessage({ task: "" })), isCode("ENCODE_ERROR"));
});

test("encode carries signatures in embed", () => {
  const sig = signature("t.add", [10], {}, { task_id: "next" });
  const msg = baseMessage({ embed: { callbacks: [sig], errbacks: null, chain: [sig], chord: sig } });
  const back = decodeTaskMessage(encodeTaskMessage(msg), OPTS);
  assert.deepEqual(back.embed, msg.embed);
});

function wireWith(body: unknown, headers: Json = { task: "t.add", id: "id-1" }): WireMessage {
  const encoded = encodeBody(body, "json");
  return { ...encoded, headers, properties: {} };
}

test("refuses bodies that are not exactly [array, object, object | null]", () => {
  const bad: [unknown, RegExp][] = [
    [[[1], {}], /body must be \[args, kwargs, embed\]/],
    [[[1], {}, null, 4], /array of 4/],
    ["text", /body must be/],
    [[{}, {}, null], /args\) must be an array/],
    [[[], [], null], /kwargs\) must be an object/],
    [[[], {}, 5], /embed\) must be an object or null/],
    [[[], {}, { chain: "x" }], /embed.chain must be a list/],
    [[[], {}, { callbacks: [{ args: [] }] }], /embed.callbacks\[0\].task/],
  ];
  for (const [body, reason] of bad) {
    assert.throws(() => decodeTaskMessage(wireWith(body), OPTS), isCode("MALFORMED_MESSAGE", reason));
  }
  assert.equal(decodeTaskMessage(wireWith([[], {}, null]), OPTS).embed.chain, null);
});

test("refuses missing or mistyped protocol headers", () => {
  const body = [[], {}, null];
  assert.throws(() => decodeTaskMessage(wireWith(body, { id: "x" }), OPTS), isCode("MALFORMED_MESSAGE", /headers.task/));
  assert.throws(() => decodeTaskMessage(wireWith(body, { task: "t" }), OPTS), isCode("MALFORMED_MESSAGE", /headers.id/));
  const bad: [Json, RegExp][] = [
    [{ eta: "tomorrow" }, /headers.eta/],
    [{ expires: 12 }, /headers.expires/],
    [{ retries: -1 }, /headers.retries/],
    [{ retries: "1" }, /headers.retries/],
    [{ timelimit: [1] }, /headers.timelimit/],
    [{ group_index: 1.5 }, /headers.group_index/],
    [{ parent_id: 7 }, /headers.parent_id/],
    [{ ignore_result: "yes" }, /headers.ignore_result/],
  ];
  for (const [extra, reason] of bad) {
    const headers = { task: "t", id: "x", ...extra };
    assert.throws(() => decodeTaskMessage(wireWith(body, headers), OPTS), isCode("MALFORMED_MESSAGE", reason));
  }
});

test("refuses a protocol v1 message, naming v1 as unsupported", () => {
  const v1 = { task: "t.add", id: "x", args: [1, 2], kwargs: {}, retries: 0, eta: null };
  assert.throws(() => decodeTaskMessage(wireWith(v1, {}), OPTS), isCode("MALFORMED_MESSAGE", /protocol v1/));
});

test("content type, size and syntax errors surface from the codec", () => {
  const fx = one("redis-broker/add-delay.json");
  const pickle = { ...fx.wire, contentType: "application/x-python-serialize" };
  assert.throws(() => decodeTaskMessage(pickle, OPTS), isCode("CONTENT_TYPE_NOT_ALLOWED", /pickle.*json.*msgpack/));
  assert.throws(() => decodeTaskMessage(fx.wire, { ...OPTS, maxBytes: 10 }), isCode("MESSAGE_TOO_LARGE"));
  const broken = { ...fx.wire, body: Buffer.from("[[2, 3], {}, {") };
  assert.throws(() => decodeTaskMessage(broken, OPTS), isCode("MALFORMED_MESSAGE", /invalid json/));
});
