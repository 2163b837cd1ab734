// Test-only: the single edits the fuzzers combine into mutants (see fuzz.test-helper.ts), as fast-check
// arbitraries of functions, so fast-check shrinks a failure to the fewest, smallest edits.
import fc from "fast-check";
import type { Json } from "./fixtures.test-helper.ts";
import { decodeBody, encodeBody } from "./codecs.ts";
import { setOwn } from "./guards.ts";
import { stringifyJson } from "./json.ts";

/** A kombu envelope as JSON.parse gives it. */
export interface Envelope {
  body?: unknown;
  headers: Json;
  properties: Json;
  [key: string]: unknown;
}

export function bodyBytesOf(envelope: Envelope): Buffer {
  const body = typeof envelope.body === "string" ? envelope.body : "";
  return envelope.properties["body_encoding"] === "base64" ? Buffer.from(body, "base64") : Buffer.from(body, "utf8");
}

export function setBodyBytes(envelope: Envelope, bytes: Buffer, asText: boolean): void {
  const text = bytes.toString("utf8");
  if (asText && Buffer.from(text, "utf8").equals(bytes)) {
    envelope.body = text;
    delete envelope.properties["body_encoding"];
  } else {
    envelope.body = bytes.toString("base64");
    envelope.properties["body_encoding"] = "base64";
  }
}

/**
 * Markers that survive JSON.stringify and are rewritten after it: a key written twice (duplicate keys,
 * which JSON.parse resolves to the last) and raw literals JSON.stringify cannot write (1e999, NaN).
 */
export const DUPLICATE = "\u0000dup:";
export const RAW = "\u0000raw:";

/** stringifyJson (BigInt as exact literals) with the markers rewritten. */
export function stringifyMarked(value: unknown): string {
  return stringifyJson(value)
    .replace(/"\\u0000dup:((?:[^"\\]|\\.)*)"/g, '"$1"')
    .replace(/"\\u0000raw:((?:[^"\\]|\\.)*)"/g, (_all, literal: string) => JSON.parse(`"${literal}"`) as string);
}

/** Characters and fragments that break parsers: quotes, escapes, brackets, NUL, lone surrogates, markers. */
const SNIPPETS = ['"', "\\", "{", "}", "[", "]", ",", ":", "\u0000", "\ud800", "\udfff", "\x01", "\x02", "\n", "null", "1e999", "NaN", "-0", "9007199254740993", '"__proto__":', "\u2028", "\\u0000", "\\ud800", "\\", "é", "💥"];

const snippet = fc.oneof(fc.constantFrom(...SNIPPETS), fc.string({ unit: "binary", minLength: 1, maxLength: 8 }));

/** One edit of the raw stored string: set, insert, delete, truncate or repeat at a position. */
export const textEdit: fc.Arbitrary<(text: string) => string> = fc.oneof(
  fc.record({ at: fc.nat(), text: snippet }).map(({ at, text }) => (s: string) => splice(s, at, 1, text)),
  fc.record({ at: fc.nat(), text: snippet }).map(({ at, text }) => (s: string) => splice(s, at, 0, text)),
  fc.record({ at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }).map(({ at, length }) => (s: string) => splice(s, at, length, "")),
  fc.nat().map((at) => (s: string) => s.slice(0, at % (s.length + 1))),
  fc.record({ at: fc.nat(), length: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 2, max: 4 }) }).map(({ at, length, times }) => (s: string) => {
    const from = at % (s.length + 1);
    return s.slice(0, from) + s.slice(from, from + length).repeat(times) + s.slice(from + length);
  }),
);

function splice(s: string, at: number, remove: number, insert: string): string {
  const from = at % (s.length + 1);
  return s.slice(0, from) + insert + s.slice(from + remove);
}

/** One edit of the body bytes: set a byte, flip a bit, insert, delete, truncate. */
export const bodyEdit: fc.Arbitrary<(bytes: Buffer) => Buffer> = fc.oneof(
  fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }).map(({ at, byte }) => (b: Buffer) => {
    if (b.length === 0) return Buffer.from([byte]);
    const copy = Buffer.from(b);
    copy[at % b.length] = byte;
    return copy;
  }),
  fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }).map(({ at, bit }) => (b: Buffer) => {
    if (b.length === 0) return b;
    const copy = Buffer.from(b);
    copy[at % b.length] = (copy[at % b.length] as number) ^ (1 << bit);
    return copy;
  }),
  fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }).map(({ at, bytes }) => (b: Buffer) => {
    const from = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, from), bytes, b.subarray(from)]);
  }),
  fc.record({ at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }).map(({ at, length }) => (b: Buffer) => {
    const from = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, from), b.subarray(from + length)]);
  }),
  fc.nat().map((at) => (b: Buffer) => b.subarray(0, at % (b.length + 1))),
);

/** Values of the wrong type or out of range, for any field: raw literals JSON.stringify cannot write too. */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 31, -(2 ** 53), "", "x", "2030-01-01T00:00:00", "2030-02-30T25:61:61+99:99", "none", [], {}, [null, null], [1, 2, 3], { task: "x" }, { task: "interop.add", args: "no" }),
  fc.constantFrom(...["1e999", "-1e999", "NaN", "Infinity", "-0", "123456789012345678901234567890", "1E400", "[[[[[[[[]]]]]]]]"].map((literal) => `${RAW}${literal}`)),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.double(),
);

/** One edit of a container (object or array) found anywhere in the envelope or its decoded body. */
export type StructureEdit = (containers: (Json | unknown[])[]) => void;

export const structureEdit: fc.Arbitrary<StructureEdit> = fc
  .record({
    op: fc.constantFrom("drop", "retype", "add", "duplicate"),
    pick: fc.nat(),
    index: fc.nat(),
    key: fc.oneof(fc.constantFrom("__proto__", "constructor", "toString", "task", "id", "eta", "expires", "retries", "timelimit", "group_index", "args", "kwargs", "callbacks", "chain", "chord", "delivery_tag", "body_encoding", "content-type", "priority", "redelivered", "0", ""), fc.string({ unit: "binary", maxLength: 10 })),
    value: weirdValue,
  })
  .map(({ op, pick, index, key, value }) => (containers) => {
    const target = containers[pick % containers.length];
    if (Array.isArray(target)) {
      const at = target.length === 0 ? 0 : index % target.length;
      if (op === "drop") target.splice(at, 1);
      else if (op === "retype") target[at] = value;
      else if (op === "add") target.splice(at, 0, value);
      else if (target.length > 0) target.push(target[at]);
      return;
    }
    if (!target) return;
    const keys = Object.keys(target);
    const existing = keys.length === 0 ? key : (keys[index % keys.length] as string);
    if (op === "drop") delete target[existing];
    else if (op === "retype") setOwn(target, existing, value);
    else if (op === "add") setOwn(target, key, value);
    else setOwn(target, `${DUPLICATE}${existing}`, value);
  });

const DELETE = Symbol("delete");

const CONTENT_TYPES = ["application/json", "application/x-msgpack", "application/x-python-serialize", "application/x-yaml", "application/data", "text/plain", "", "APPLICATION/JSON", "application/json; charset=utf-8", "application/json; charset=latin-1", "application/json; charset=utf-16le", "application/json; charset=bogus", 'application/json;charset="utf8"', "application/x-msgpack; v=2", " application/json ", "application/json\u0000", "json", "msgpack"];
const ENCODINGS = ["utf-8", "binary", "base64", "gzip", "utf-16", "", "UTF-8", "latin-1"];

function setOrDelete(target: Json, key: string, value: unknown): void {
  if (value === DELETE) delete target[key];
  else setOwn(target, key, value);
}

/** One swap of how the body is labelled or stored: content type, content encoding, body encoding, serializer. */
export const contentEdit: fc.Arbitrary<(envelope: Envelope) => void> = fc.oneof(
  fc.oneof(fc.constantFrom<unknown>(...CONTENT_TYPES, DELETE), fc.string({ maxLength: 30 }), weirdValue).map((value) => (e: Envelope) => setOrDelete(e, "content-type", value)),
  fc.oneof(fc.constantFrom<unknown>(...ENCODINGS, DELETE), weirdValue).map((value) => (e: Envelope) => setOrDelete(e, "content-encoding", value)),
  fc.constantFrom<unknown>(DELETE, "base64", "BASE64", "gzip", "", 7, null).map((value) => (e: Envelope) => {
    if (typeof e.properties === "object" && e.properties !== null) setOrDelete(e.properties, "body_encoding", value);
  }),
  // The body re-serialized with the other serializer, its label left as it was.
  fc.constant((e: Envelope) => {
    const bytes = bodyBytesOf(e);
    for (const [from, to] of [["application/json", "msgpack"], ["application/x-msgpack", "json"]] as const) {
      try {
        setBodyBytes(e, Buffer.from(encodeBody(decodeBody(bytes, from, { accept: ["json", "msgpack"], maxBytes: Infinity }), to).body), false);
        return;
      } catch {
        // not a body of that serializer (or one the other cannot hold): try the next
      }
    }
  }),
  // The body moved between base64 and text storage, the flag left behind.
  fc.constant((e: Envelope) => {
    e.body = e.properties["body_encoding"] === "base64" ? bodyBytesOf(e).toString("latin1") : Buffer.from(String(e.body), "utf8").toString("base64");
  }),
);

/**
 * A size blow-up: long strings (up to `maxKb` KiB, multi-byte or not), deep nesting, wide arrays and
 * maps, in the body, the embed or the headers; returns the whole envelope string.
 */
export function sizeBlowUp(maxKb: number): fc.Arbitrary<(envelope: Envelope) => string> {
  return fc
    .record({
      what: fc.constantFrom("long-arg", "long-header", "deep-args", "deep-embed", "deep-header", "wide-args", "wide-kwargs", "wide-headers", "noise"),
      kb: fc.integer({ min: 1, max: maxKb }),
      depth: fc.integer({ min: 100, max: 50_000 }),
      width: fc.integer({ min: 1000, max: 100_000 }),
      unit: fc.constantFrom("x", "é", "💥"),
      serializer: fc.constantFrom("json" as const, "msgpack" as const),
      header: fc.constantFrom("task", "id", "argsrepr", "eta", "root_id", "x-custom"),
    })
    .map((p) => (e: Envelope) => {
      const long = () => p.unit.repeat(Math.ceil((p.kb * 1024) / Buffer.byteLength(p.unit)));
      const deep = `${"[".repeat(p.depth)}${"]".repeat(p.depth)}`;
      const body = (value: unknown) => {
        const encoded = encodeBody(value, p.serializer);
        e["content-type"] = encoded.contentType;
        e["content-encoding"] = encoded.contentEncoding;
        setBodyBytes(e, Buffer.from(encoded.body), p.serializer === "json");
      };
      const rawJsonBody = (text: string) => {
        e["content-type"] = "application/json";
        setBodyBytes(e, Buffer.from(text, "utf8"), p.serializer === "json");
      };
      switch (p.what) {
        case "long-arg":
          body([[long()], {}, null]);
          break;
        case "long-header":
          setOwn(e.headers, p.header, long());
          break;
        case "deep-args":
          if (p.serializer === "json") rawJsonBody(`[[${deep}],{},null]`);
          else {
            // msgpack [[[[…nil…]]], {}, nil]: fixarray headers nested `depth` deep.
            e["content-type"] = "application/x-msgpack";
            setBodyBytes(e, Buffer.concat([Buffer.from([0x93, 0x91]), Buffer.alloc(p.depth, 0x91), Buffer.from([0xc0, 0x80, 0xc0])]), false);
          }
          break;
        case "deep-embed":
          rawJsonBody(`[[],{},{"callbacks":[{"task":"interop.add","args":${deep}}],"chain":null}]`);
          break;
        case "deep-header":
          setOwn(e.headers, p.header, `${RAW}${deep}`);
          break;
        case "wide-args":
          body([Array.from({ length: p.width }, (_, i) => i), {}, null]);
          break;
        case "wide-kwargs":
          body([[], Object.fromEntries(Array.from({ length: p.width }, (_, i) => [`k${i}`, i])), null]);
          break;
        case "wide-headers":
          for (let i = 0; i < p.width; i++) setOwn(e.headers, i % 2 === 0 ? `h${i}` : `${DUPLICATE}task`, i);
          break;
        case "noise":
          setBodyBytes(e, Buffer.alloc(p.kb * 1024, Buffer.from([0xff, 0x00, 0x93, 0xdc])), false);
          break;
      }
      return stringifyMarked(e);
    });
}
