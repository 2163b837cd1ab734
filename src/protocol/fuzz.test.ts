// Fuzzing the Redis decoders with mutated real Celery messages (fast-check, 12,000 mutants a run): the
// kombu envelope and compact readers, then protocol v2 decoding. Properties: a decoder throws nothing but
// a ProtocolError with a known code and a reason, returns within a liveness bound, and everything it
// accepts is well-formed (each typed field has its type). The seed is printed; FUZZ_SEED=<n> replays it.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../util/errors.ts";
import type { DecodeOptions } from "./codecs.ts";
import { PROTOCOL_HEADERS, decodeTaskMessage } from "./celery-v2.ts";
import { type DecodedEnvelope, fromKombuEnvelope } from "./kombu-envelope.ts";
import { fromCompact, isCompact } from "./compact-envelope.ts";
import type { Signature, TaskMessage } from "./message.ts";
import { baseMessages, fuzzSeed, mutants, type MutationKind } from "./fuzz.test-helper.ts";

const SEED = fuzzSeed();
const BASES = baseMessages();
const KNOWN_CODES = new Set(["MALFORMED_MESSAGE", "CONTENT_TYPE_NOT_ALLOWED", "MESSAGE_TOO_LARGE"]);
/** A decode taking this long is a hang (super-linear work on hostile input), not slowness. */
const HANG_MS = 2000;
const MAX_BYTES = 256 * 1024;
const ACCEPTS: DecodeOptions[] = [
  { accept: ["json", "msgpack"], maxBytes: MAX_BYTES },
  { accept: ["json"], maxBytes: MAX_BYTES },
  { accept: ["msgpack"], maxBytes: MAX_BYTES },
];
// Properties the envelope reader maps to fields or drops as the transport's own (kombu-envelope.ts).
const TRANSPORT_PROPERTIES = new Set(["correlation_id", "reply_to", "delivery_mode", "priority", "expiration", "delivery_info", "delivery_tag", "body_encoding"]);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
const optional = (value: unknown, type: string): boolean => value === undefined || typeof value === type;

/** Throws (with what is wrong) unless `error` is a ProtocolError with a known code and a reason. */
function expectRefusal(error: unknown, stage: string): string {
  if (!(error instanceof ProtocolError) || !KNOWN_CODES.has(error.code)) {
    throw new Error(`${stage} threw ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`, { cause: error });
  }
  assert.ok(error.message.length > 0, `${stage}: ${error.code} without a reason`);
  return error.code;
}

function checkEnvelope(raw: string, decoded: DecodedEnvelope): void {
  assert.ok(typeof decoded.deliveryTag === "string" && decoded.deliveryTag !== "", "delivery tag");
  assert.ok(typeof decoded.exchange === "string" && typeof decoded.routingKey === "string" && typeof decoded.redelivered === "boolean", "routing");
  const { wire } = decoded;
  assert.ok(wire.body instanceof Uint8Array, "body bytes");
  assert.ok(typeof wire.contentType === "string" && typeof wire.contentEncoding === "string", "content type/encoding");
  assert.ok(isRecord(wire.headers), "headers");
  // message.ts: bodyText, when given, is exactly the UTF-8 decoding of body.
  if (wire.bodyText !== undefined) assert.equal(Buffer.from(wire.body).toString("utf8"), wire.bodyText, "bodyText matches body");
  const p = wire.properties;
  assert.ok(p.correlationId === undefined || p.correlationId === null || typeof p.correlationId === "string", "correlation_id");
  assert.ok(p.replyTo === undefined || p.replyTo === null || typeof p.replyTo === "string", "reply_to");
  assert.ok(optional(p.deliveryMode, "number") && optional(p.priority, "number") && optional(p.expiration, "string"), "properties types");
  if (p.extra !== undefined) assert.ok(isRecord(p.extra) && Object.getPrototypeOf(p.extra) === Object.prototype, "extra is a plain object");
  if (!isCompact(raw)) {
    // Every property that is not the transport's own is kept, as an own key, so a re-publish keeps it.
    const given = (JSON.parse(raw) as { properties: Record<string, unknown> }).properties;
    const expected = Object.keys(given).filter((key) => !TRANSPORT_PROPERTIES.has(key));
    assert.deepEqual(Object.keys(p.extra ?? {}).sort(), expected.sort(), "properties.extra holds the other properties");
  }
}

function checkSignature(sig: Signature): void {
  assert.ok(typeof sig.task === "string" && sig.task !== "", "signature task");
  assert.ok(Array.isArray(sig.args) && isRecord(sig.kwargs) && isRecord(sig.options), "signature args/kwargs/options");
  assert.ok(typeof sig.immutable === "boolean" && (sig.subtaskType === null || typeof sig.subtaskType === "string"), "signature flags");
}

function checkTaskMessage(m: TaskMessage, options: DecodeOptions): void {
  assert.ok(typeof m.id === "string" && m.id !== "" && typeof m.task === "string" && m.task !== "", "id and task");
  assert.ok(Array.isArray(m.args) && isRecord(m.kwargs), "args and kwargs");
  for (const list of [m.embed.callbacks, m.embed.errbacks, m.embed.chain]) {
    assert.ok(list === null || Array.isArray(list), "embed list");
    list?.forEach(checkSignature);
  }
  if (m.embed.chord !== null) checkSignature(m.embed.chord);
  for (const date of [m.eta, m.expires]) assert.ok(date === null || (date instanceof Date && Number.isFinite(date.getTime())), "eta/expires");
  assert.ok(Number.isSafeInteger(m.retries) && m.retries >= 0, "retries");
  assert.ok(m.groupIndex === null || (Number.isSafeInteger(m.groupIndex) && m.groupIndex >= 0), "group_index");
  for (const id of [m.rootId, m.parentId, m.groupId, m.shadow, m.origin, m.argsrepr, m.kwargsrepr, m.correlationId]) assert.ok(id === null || typeof id === "string", "string-or-null fields");
  assert.ok(m.replyTo === null || (typeof m.replyTo === "string" && m.replyTo !== ""), "reply_to");
  assert.ok(m.timeLimit.length === 2 && m.timeLimit.every((limit) => limit === null || (Number.isFinite(limit) && limit >= 0)), "timelimit");
  assert.ok(m.priority === null || typeof m.priority === "number", "priority");
  assert.equal(typeof m.ignoreResult, "boolean", "ignore_result");
  assert.ok(isRecord(m.headers) && PROTOCOL_HEADERS.every((h) => !Object.hasOwn(m.headers, h)), "custom headers only");
  assert.ok(options.accept.includes(m.serializer), "serializer is an accepted one");
}

/** The slowest decode of the current test, for the report. */
let slowest = { ms: 0, chars: 0 };

/** Decodes one stored string as the Redis consumer and the worker do: "accepted", or the refusal code. */
function decodeStored(raw: string, options: DecodeOptions): string {
  const started = performance.now();
  try {
    let decoded: DecodedEnvelope;
    try {
      decoded = isCompact(raw) ? fromCompact(raw, "celery") : fromKombuEnvelope(raw);
    } catch (error) {
      return expectRefusal(error, "envelope decoding");
    }
    checkEnvelope(raw, decoded);
    let message: TaskMessage;
    try {
      message = decodeTaskMessage(decoded.wire, options);
    } catch (error) {
      return expectRefusal(error, "decodeTaskMessage");
    }
    checkTaskMessage(message, options);
    return "accepted";
  } finally {
    const ms = performance.now() - started;
    if (ms > slowest.ms) slowest = { ms, chars: raw.length };
    assert.ok(ms < HANG_MS, `decoding ${raw.length} characters took ${Math.round(ms)} ms`);
  }
}

/** FUZZ_SCALE=10 multiplies every run count, for a longer search by hand. */
const SCALE = Number(process.env["FUZZ_SCALE"] ?? 1);

function fuzz(kind: MutationKind, baseRuns: number, maxKb?: number): void {
  const numRuns = Math.round(baseRuns * SCALE);
  test(`${numRuns} ${kind} mutants: refused with a known code, or accepted well-formed`, (t) => {
    t.diagnostic(`seed ${SEED} (replay: FUZZ_SEED=${SEED})`);
    const outcomes = new Map<string, number>();
    slowest = { ms: 0, chars: 0 };
    fc.assert(
      fc.property(mutants(BASES, kind, maxKb), fc.constantFrom(...ACCEPTS), (mutant, options) => {
        const outcome = decodeStored(mutant.raw, options);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }),
      { seed: SEED, numRuns },
    );
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}; slowest decode ${slowest.ms.toFixed(1)} ms (${slowest.chars} characters)`);
    // The mutants reach past the first check: some are refused, and (but for size blow-ups) some still decode.
    assert.ok([...outcomes.keys()].some((outcome) => outcome !== "accepted"), "no mutant was refused");
    if (kind !== "size") assert.ok((outcomes.get("accepted") ?? 0) > 0, "no mutant was accepted");
  });
}

test("every base message decodes unmutated", () => {
  for (const raw of [...BASES.envelopes, ...BASES.compacts]) assert.equal(decodeStored(raw, ACCEPTS[0] as DecodeOptions), "accepted", raw.slice(0, 200));
});

fuzz("bytes", 4000);
fuzz("body-bytes", 2500);
fuzz("structure", 3000);
fuzz("content", 2000);
fuzz("size", 500, 1024);
