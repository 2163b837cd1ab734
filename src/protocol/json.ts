// JSON as kombu writes and reads it: dates as ISO strings, bytes refused, integers beyond 2^53 kept
// exact (BigInt in JS, plain integer literals on the wire), Python's NaN/Infinity literals accepted.

import { randomUUID } from "node:crypto";
import { ProtocolError } from "../util/errors.ts";
import { formatKombuDate } from "./iso-time.ts";

/**
 * Serializes `value` like kombu's JSONEncoder where a Python peer would notice: a Date becomes
 * `isoformat()` with `Z`, a BigInt an exact integer literal, bytes (Uint8Array, Buffer, ArrayBuffer)
 * and Map/Set throw ENCODE_ERROR (kombu raises EncodeError for bytes and sets). Everything else
 * follows JSON.stringify: undefined/functions are dropped from objects and become null in arrays,
 * NaN/Infinity become null.
 *
 * @example stringifyJson([[2, 3], {}, null]) // "[[2,3],{},null]"
 */
export function stringifyJson(value: unknown): string {
  let text: string | undefined;
  try {
    // Plain data (the usual task arguments) goes straight to the native encoder; the replacer,
    // about twice as slow, only runs when a Date, BigInt, typed array or class instance is present.
    text = isPlainData(value, 0) ? JSON.stringify(value) : stringifySpecial(value);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError("ENCODE_ERROR", `cannot encode as JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (text === undefined) {
    throw new ProtocolError("ENCODE_ERROR", "cannot encode as JSON: value is undefined, a function or a symbol");
  }
  return text;
}

/**
 * Parses JSON text; integer literals outside the safe range (|n| > 2^53 - 1) come back as BigInt.
 * The native parser handles all text without a run of 16+ digits (no such integer can be unsafe).
 *
 * @example parseJson('{"big": 9007199254740993}') // { big: 9007199254740993n }
 */
export function parseJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // Python's json.dumps writes NaN, Infinity and -Infinity (allow_nan=True): retry with the
      // precise parser, which accepts them and reports real syntax errors.
    }
  }
  return new PreciseParser(text).parseDocument();
}

const LONG_DIGITS = /\d{16}/;
const MAX_PLAIN_DEPTH = 64;

function isPlainData(value: unknown, depth: number): boolean {
  if (typeof value !== "object" || value === null) return typeof value !== "bigint";
  // Deep or circular structures take the replacer path, where JSON.stringify reports cycles itself.
  if (depth > MAX_PLAIN_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainData(value[i], depth + 1)) return false;
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) {
    if (!isPlainData((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

let bigintMarker: string | undefined;
let bigintPattern: RegExp | undefined;

function stringifySpecial(value: unknown): string | undefined {
  let sawBigInt = false;
  const text = JSON.stringify(value, function (this: unknown, key: string, v: unknown): unknown {
    switch (typeof v) {
      case "bigint":
        // JSON.stringify cannot emit a raw literal: leave a unique marker and splice the digits in below.
        sawBigInt = true;
        bigintMarker ??= `__celeriac_bigint_${randomUUID()}__:`;
        return bigintMarker + v.toString();
      case "string":
      case "object": {
        // The replacer sees toJSON's result (a string for a Date, null for an invalid one, an object
        // for a Buffer); the holder still has the original value.
        const original = (this as Record<string, unknown>)[key];
        if (original instanceof Date) return formatKombuDate(original);
        if (v !== null && typeof v === "object") rejectUnsupported(original);
        return v;
      }
      default:
        return v;
    }
  });
  if (!sawBigInt || text === undefined) return text;
  bigintPattern ??= new RegExp(`"${bigintMarker}(-?\\d+)"`, "g");
  return text.replace(bigintPattern, "$1");
}

function rejectUnsupported(original: unknown): void {
  if (ArrayBuffer.isView(original) || original instanceof ArrayBuffer) {
    // Matches kombu: json.dumps(b"...") raises EncodeError and nothing is published.
    throw new ProtocolError(
      "ENCODE_ERROR",
      "bytes cannot be sent as JSON (kombu raises EncodeError too): use the msgpack serializer or base64 them",
    );
  }
  if (original instanceof Map || original instanceof Set) {
    throw new ProtocolError(
      "ENCODE_ERROR",
      `${original instanceof Map ? "Map" : "Set"} has no JSON form: convert it to an object or array`,
    );
  }
}

/** A strict JSON parser (plus NaN/Infinity) used only when big integers or Python literals may occur. */
class PreciseParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    const value = this.parseValue();
    this.skipWhitespace();
    if (this.pos !== this.text.length) this.fail("unexpected data after JSON value");
    return value;
  }

  private parseValue(): unknown {
    this.skipWhitespace();
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x22 /* " */) return this.parseString();
    if (c === 0x7b /* { */) return this.parseObject();
    if (c === 0x5b /* [ */) return this.parseArray();
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      if (this.text.startsWith("-Infinity", this.pos)) return this.literal("-Infinity", -Infinity);
      return this.parseNumber();
    }
    if (c === 0x74) return this.literal("true", true);
    if (c === 0x66) return this.literal("false", false);
    if (c === 0x6e) return this.literal("null", null);
    if (c === 0x4e) return this.literal("NaN", NaN);
    if (c === 0x49) return this.literal("Infinity", Infinity);
    return this.fail(Number.isNaN(c) ? "unexpected end of JSON input" : "unexpected character");
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail("invalid literal");
    this.pos += word.length;
    return value;
  }

  private parseNumber(): number | bigint {
    NUMBER_RE.lastIndex = this.pos;
    const m = NUMBER_RE.exec(this.text);
    if (m === null) return this.fail("invalid number");
    this.pos += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return Number(m[0]);
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  }

  private parseString(): string {
    const start = this.pos;
    let escaped = false;
    for (let i = start + 1; i < this.text.length; i++) {
      const c = this.text.charCodeAt(i);
      if (c === 0x5c /* \ */) {
        escaped = true;
        i++;
      } else if (c === 0x22) {
        this.pos = i + 1;
        // JSON.parse decodes the escapes and rejects raw control characters, exactly as elsewhere.
        return escaped || hasControl(this.text, start, i)
          ? (JSON.parse(this.text.slice(start, i + 1)) as string)
          : this.text.slice(start + 1, i);
      }
    }
    return this.fail("unterminated string");
  }

  private parseArray(): unknown[] {
    this.pos++;
    const out: unknown[] = [];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x5d /* ] */) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.parseValue());
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x5d) return out;
      if (c !== 0x2c /* , */) this.fail("expected , or ]", -1);
    }
  }

  private parseObject(): Record<string, unknown> {
    this.pos++;
    const out: Record<string, unknown> = {};
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x7d /* } */) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail("expected a string key");
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos++) !== 0x3a /* : */) this.fail("expected :", -1);
      const value = this.parseValue();
      // Like JSON.parse, "__proto__" becomes an own property instead of replacing the prototype.
      if (key === "__proto__") {
        Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
      } else {
        out[key] = value;
      }
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) this.fail("expected , or }", -1);
    }
  }

  private skipWhitespace(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      pos++;
    }
    this.pos = pos;
  }

  private fail(reason: string, back = 0): never {
    throw new SyntaxError(`${reason} in JSON at position ${this.pos + back}`);
  }
}

const NUMBER_RE = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

function hasControl(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}
