// Tests the compact Redis format and the lean kombu envelope's embed trimming: every message Celery
// 5.2.6 produced survives both with the same meaning, bodies come back byte for byte, and add(i, i)
// fits the compact size budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { decodeTaskMessage, encodeTaskMessage } from "./celery-v2.ts";
import { COMPACT_REDELIVERED, compactTag, fromCompact, isCompact, toCompact } from "./compact-envelope.ts";
import { expandEmptyEmbed, fromKombuEnvelope, toKombuEnvelope, trimEmptyEmbed } from "./kombu-envelope.ts";
import { emptyEmbed, type TaskMessage, type WireMessage } from "./message.ts";
import { taskFixtures } from "./fixtures.test-helper.ts";
import { ProtocolError } from "../util/errors.ts";

const TAG = "AbCdEfGhIjKl";
const OPTS = { accept: ["json", "msgpack"] as ("json" | "msgpack")[], maxBytes: 1 << 20 };

function addCall(i: number, extra: Partial<TaskMessage> = {}): TaskMessage {
  const id = randomUUID();
  return {
    id, task: "interop.add", args: [i, i], kwargs: {}, embed: emptyEmbed(), eta: null, expires: null, retries: 0, rootId: id,
    parentId: null, groupId: null, groupIndex: null, timeLimit: [null, null], priority: null, ignoreResult: false, shadow: null,
    origin: `node${process.pid}@some-rather-long-kubernetes-pod-name-7d9f8`, argsrepr: null, kwargsrepr: null, replyTo: randomUUID(),
    correlationId: id, headers: {}, serializer: "json", ...extra,
  };
}

/** What a worker acts on: the decoded task minus the display-only fields compact leaves out. */
function meaning(wire: WireMessage): Partial<TaskMessage> {
  const { origin: _origin, argsrepr: _a, kwargsrepr: _k, ...rest } = decodeTaskMessage(wire, OPTS);
  return rest;
}

for (const fx of taskFixtures().filter((f) => f.source.startsWith("redis-broker/"))) {
  test(`compact and lean kombu keep the meaning of ${fx.source}`, () => {
    const compact = fromCompact(toCompact(fx.wire, TAG), "celery");
    assert.deepEqual(meaning(compact.wire), meaning(fx.wire));
    assert.deepEqual(Buffer.from(compact.wire.body), Buffer.from(fx.wire.body), "the body changed");
    assert.equal(compact.deliveryTag, TAG);
    const lean = fromKombuEnvelope(toKombuEnvelope(fx.wire, { queue: "celery", deliveryTag: TAG }));
    assert.deepEqual(decodeTaskMessage(lean.wire, OPTS), decodeTaskMessage(fx.wire, OPTS));
  });
}

test("our own messages round-trip through compact: custom headers, argsrepr, expiry, priority, msgpack", () => {
  const plain = encodeTaskMessage(addCall(1));
  assert.deepEqual(Buffer.from(fromCompact(toCompact(plain, TAG), "q").wire.body), Buffer.from(plain.body));
  const rich = encodeTaskMessage(addCall(2, { headers: { "x-request-id": "req-ü" }, argsrepr: "('***', 2)", expires: new Date(Date.now() + 60_000), priority: 7, retries: 3, parentId: "p-1" }));
  const back = fromCompact(toCompact(rich, TAG), "q").wire;
  assert.equal(back.headers["argsrepr"], "('***', 2)", "a custom argsrepr (redaction) must survive");
  assert.equal(back.headers["kwargsrepr"], undefined, "the default kwargsrepr is left out");
  assert.equal(back.properties.priority, 7);
  assert.equal(back.properties.expiration, rich.properties.expiration);
  assert.deepEqual(meaning(back), meaning(rich));
  const binary = encodeTaskMessage(addCall(3, { args: [new Uint8Array([0, 1, 255]), "Zoë ☃"], serializer: "msgpack" }));
  const decoded = fromCompact(toCompact(binary, TAG), "q").wire;
  assert.equal(decoded.contentType, "application/x-msgpack");
  assert.deepEqual(Buffer.from(decoded.body), Buffer.from(binary.body));
});

test("compact messages are marked, redelivery flips the marker, and malformed ones fail clearly", () => {
  const raw = toCompact(encodeTaskMessage(addCall(1)), TAG);
  assert.ok(isCompact(raw), "isCompact(raw)");
  assert.ok(!isCompact(toKombuEnvelope(encodeTaskMessage(addCall(1)), { queue: "q", deliveryTag: TAG })), "!isCompact(toKombuEnvelope(encodeTaskMessage(addCall(1)), { queue: \"q\", deliveryTag: TAG }))");
  assert.equal(fromCompact(raw, "q").redelivered, false);
  assert.equal(fromCompact(COMPACT_REDELIVERED + raw.slice(1), "q").redelivered, true);
  assert.throws(() => toCompact(encodeTaskMessage(addCall(1)), "short"), ProtocolError);
  assert.throws(() => fromCompact("\x01AbCdEfGhIjKl{not json\n[]", "q"), /not a compact Celeriac message: invalid JSON/);
  assert.throws(() => fromCompact("\x01AbCdEfGhIjKl[1]", "q"), /truncated/);
});

test("the claim tag is the 12 bytes Lua reads: as is when ASCII, else their hex, even across a surrogate pair", () => {
  const rest = '["id","t"]\n[]';
  assert.equal(compactTag(`\x01${TAG}${rest}`), TAG);
  // What fetch.lua claims: bytes 2-13 of the stored string, in hex when any is not ASCII.
  const luaTag = (raw: string): string => Buffer.from(raw, "utf8").toString("hex", 1, 13);
  for (const tag of ["Zoë☃日本語-tag!", "abcdefghijké", "abcdefghij🎉", "🎉🎉🎉🎉🎉🎉"]) {
    const raw = `\x02${tag}${rest}`;
    assert.equal(compactTag(raw), luaTag(raw), tag);
    assert.equal(compactTag(raw).length, 24);
    assert.equal(fromCompact(raw, "q").deliveryTag, compactTag(raw), "the decoded delivery tag is the claimed one");
  }
});

test("the empty-embed trim is exactly reversible, and a body already ending like a trimmed one is kept apart", () => {
  const body = '[[1,2],{},{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]';
  assert.equal(trimEmptyEmbed(body), "[[1,2],{},{}]");
  assert.equal(expandEmptyEmbed(trimEmptyEmbed(body)), body);
  const clash: WireMessage = { ...encodeTaskMessage(addCall(1)), body: new TextEncoder().encode("[[1,2],{},{}]") };
  const viaKombu = fromKombuEnvelope(toKombuEnvelope(clash, { queue: "q", deliveryTag: TAG })).wire;
  const viaCompact = fromCompact(toCompact(clash, TAG), "q").wire;
  assert.equal(new TextDecoder().decode(viaKombu.body), "[[1,2],{},{}]");
  assert.equal(new TextDecoder().decode(viaCompact.body), "[[1,2],{},{}]");
});

test("add(i, i) takes at most ~140 bytes compact and under 420 in the lean kombu envelope", () => {
  const wire = encodeTaskMessage(addCall(99999));
  const compact = toCompact(wire, TAG);
  const kombu = toKombuEnvelope(wire, { queue: "celery", deliveryTag: TAG });
  assert.ok(compact.length <= 140, `compact: ${compact.length} bytes: ${JSON.stringify(compact)}`);
  assert.ok(kombu.length < 420, `kombu: ${kombu.length} bytes`);
  assert.ok(!compact.includes("some-rather-long"), "origin is display-only and left out of compact messages");
});
