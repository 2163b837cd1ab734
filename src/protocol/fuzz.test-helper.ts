// Test-only: mutated Redis messages for the fuzzers (src/protocol/fuzz.test.ts feeds them to the
// decoders, test/integration/redis-fuzz.test.ts to a real worker). Every mutant starts from a real
// Celery 5.2.6 capture: the kombu envelopes exactly as Celery stored them, plus every captured task
// message (Redis and AMQP) re-encoded as our lean and full envelopes and as compact messages.
import fc from "fast-check";
import { randomInt } from "node:crypto";
import { taskFixtures, loadFixture, listFixtures, type Json } from "./fixtures.test-helper.ts";
import { toKombuEnvelope } from "./kombu-envelope.ts";
import { isCompact, toCompact } from "./compact-envelope.ts";
import { decodeBody, encodeBody, serializerFor } from "./codecs.ts";
import { bodyBytesOf, bodyEdit, contentEdit, type Envelope, setBodyBytes, sizeBlowUp, stringifyMarked, structureEdit, textEdit, type StructureEdit } from "./fuzz-edits.test-helper.ts";

export type MutationKind = "bytes" | "body-bytes" | "structure" | "content" | "size";

export interface Mutant {
  kind: MutationKind;
  raw: string;
}

/**
 * The seed of this run: FUZZ_SEED when set (to replay a failure), else a fresh one. Print it.
 * Example: `const seed = fuzzSeed(); t.diagnostic(\`seed ${seed}\`)`.
 */
export function fuzzSeed(): number {
  const given = process.env["FUZZ_SEED"];
  return given !== undefined && given !== "" ? Number(given) : randomInt(2 ** 31 - 1);
}

/** The messages mutants start from: kombu envelope strings and compact strings. */
export function baseMessages(): { envelopes: string[]; compacts: string[] } {
  const envelopes: string[] = [];
  for (const path of listFixtures("redis-broker")) {
    for (const entry of (loadFixture(path).entries ?? []) as Json[]) envelopes.push(entry.raw as string);
  }
  const compacts: string[] = [];
  taskFixtures().forEach((fixture, i) => {
    const tag = `fx${String(i).padStart(10, "0")}`;
    envelopes.push(toKombuEnvelope(fixture.wire, { queue: "celery", deliveryTag: tag }), toKombuEnvelope(fixture.wire, { queue: "celery", deliveryTag: tag, full: true }));
    compacts.push(toCompact(fixture.wire, tag));
  });
  return { envelopes, compacts };
}

/**
 * A base message with a fresh id and delivery tag, as another producer would have sent it: no two
 * mutants share a tag (kombu keys its claims by tag). `token` is 12 characters, [0-9a-z].
 */
export function freshen(raw: string, token: string): string {
  if (isCompact(raw)) {
    const oldId = /^.{13}\["([^"]+)"/s.exec(raw)?.[1];
    const renamed = oldId ? raw.replaceAll(oldId, `00000000-0000-4000-8000-${token}`) : raw;
    return `${renamed[0]}${token}${renamed.slice(13)}`;
  }
  const envelope = JSON.parse(raw) as Envelope;
  const oldTag = envelope.properties["delivery_tag"] as string;
  const oldId = envelope.headers["id"] as string;
  return raw.replaceAll(oldTag, `${oldTag.slice(0, -12)}${token}`).replaceAll(oldId, `00000000-0000-4000-8000-${token}`);
}

const token = fc.string({ unit: fc.constantFrom(..."0123456789abcdefghijklmnopqrstuvwxyz"), minLength: 12, maxLength: 12 });

/**
 * Mutants of `kind` built from `bases`; `maxKb` caps the size blow-ups.
 * Example: `fc.assert(fc.property(mutants(baseMessages(), "bytes"), (m) => ...))`.
 */
export function mutants(bases: { envelopes: string[]; compacts: string[] }, kind: MutationKind, maxKb = 1024): fc.Arbitrary<Mutant> {
  const all = [...bases.envelopes, ...bases.compacts];
  const from = (list: string[]) => fc.tuple(fc.constantFrom(...list), token).map(([raw, t]) => freshen(raw, t));
  switch (kind) {
    case "bytes":
      return fc.tuple(from(all), fc.array(textEdit, { minLength: 1, maxLength: 6 })).map(([raw, edits]) => ({ kind, raw: edits.reduce((text, edit) => edit(text), raw) }));
    case "body-bytes":
      return fc.tuple(from(bases.envelopes), fc.array(bodyEdit, { minLength: 1, maxLength: 6 }), fc.boolean()).map(([raw, edits, asText]) => ({ kind, raw: withBody(raw, edits, asText) }));
    case "structure":
      return fc.tuple(from(bases.envelopes), fc.array(structureEdit, { minLength: 1, maxLength: 4 })).map(([raw, edits]) => ({ kind, raw: restructure(raw, edits) }));
    case "content":
      return fc.tuple(from(bases.envelopes), fc.array(contentEdit, { minLength: 1, maxLength: 3 })).map(([raw, edits]) => {
        const envelope = JSON.parse(raw) as Envelope;
        for (const edit of edits) edit(envelope);
        return { kind, raw: stringifyMarked(envelope) };
      });
    case "size":
      return fc.tuple(from(bases.envelopes), sizeBlowUp(maxKb)).map(([raw, blowUp]) => ({ kind, raw: blowUp(JSON.parse(raw) as Envelope) }));
  }
}

/** The envelope with its body bytes edited, stored as base64 or (when `asText` and still UTF-8) as text. */
function withBody(raw: string, edits: ((bytes: Buffer) => Buffer)[], asText: boolean): string {
  const envelope = JSON.parse(raw) as Envelope;
  const bytes = edits.reduce((body, edit) => edit(body), bodyBytesOf(envelope));
  setBodyBytes(envelope, bytes, asText);
  return JSON.stringify(envelope);
}

function restructure(raw: string, edits: StructureEdit[]): string {
  const envelope = JSON.parse(raw) as Envelope;
  const contentType = typeof envelope["content-type"] === "string" ? envelope["content-type"] : "application/json";
  const serializer = serializerFor(contentType) ?? "json";
  const original = bodyBytesOf(envelope);
  const base64 = envelope.properties["body_encoding"] === "base64";
  const body = decodeBody(original, contentType, { accept: ["json", "msgpack"], maxBytes: Infinity });
  const containers: (Json | unknown[])[] = [];
  collect(envelope, containers, 0);
  collect(body, containers, 0);
  for (const edit of edits) edit(containers);
  let bytes: Buffer;
  try {
    bytes = serializer === "json" ? Buffer.from(stringifyMarked(body), "utf8") : Buffer.from(encodeBody(body, "msgpack").body);
  } catch {
    bytes = original; // a value msgpack cannot hold (a BigInt beyond 64 bits): body unchanged
  }
  // Written in the form the base used: the edits may have changed body_encoding on purpose.
  envelope.body = base64 ? bytes.toString("base64") : bytes.toString("utf8");
  return stringifyMarked(envelope);
}

/** Every object and array in `value` down to depth 6. */
function collect(value: unknown, out: (Json | unknown[])[], depth: number): void {
  if (depth > 6 || typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return;
  out.push(value as Json | unknown[]);
  for (const child of Array.isArray(value) ? value : Object.values(value)) collect(child, out, depth + 1);
}
