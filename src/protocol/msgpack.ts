// msgpack as kombu uses it (`packb(use_bin_type=True)` / `unpackb(raw=False)`): bytes travel as bin,
// integers keep their exact value (BigInt beyond 2^53), dates become the same ISO strings as in JSON.

import { Decoder, Encoder } from "@msgpack/msgpack";
import { ProtocolError } from "../util/errors.ts";
import { setOwn } from "./guards.ts";
import { formatKombuDate } from "./iso-time.ts";

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_DEPTH = 100; // @msgpack/msgpack's own default maxDepth

let plainEncoder: Encoder | undefined;
let bigEncoder: Encoder | undefined;
let plainDecoder: Decoder | undefined;
let bigDecoder: Decoder | undefined;

/**
 * Serializes `value` to msgpack. Uint8Array/Buffer become bin (Python bytes), an ArrayBuffer too;
 * a Date becomes kombu's ISO string (Python's msgpack cannot pack datetimes, and a timestamp ext
 * would reach Python tasks as a msgpack.Timestamp); a BigInt must fit int64/uint64; undefined object
 * members are dropped as in JSON; Map/Set, functions and symbols throw ENCODE_ERROR.
 *
 * @example encodeMsgpack([[new Uint8Array([0, 255])], {}, null])
 */
export function encodeMsgpack(value: unknown): Uint8Array {
  try {
    const found = scan(value, 0, { special: false, unsafeBigInt: false });
    if (!found.special) {
      plainEncoder ??= new Encoder({ ignoreUndefined: true });
      return plainEncoder.encode(value);
    }
    // The library writes a BigInt as int64/uint64 only in useBigInt64 mode, where it also writes safe
    // integers above 32 bits as float64, which Python would read back as float. So that mode is used
    // only when an unsafe BigInt exists, and such integers are then turned into BigInt first.
    const useBig = found.unsafeBigInt;
    const prepared = prepare(value, useBig);
    if (useBig) {
      bigEncoder ??= new Encoder({ useBigInt64: true, ignoreUndefined: true });
      return bigEncoder.encode(prepared);
    }
    plainEncoder ??= new Encoder({ ignoreUndefined: true });
    return plainEncoder.encode(prepared);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError("ENCODE_ERROR", `cannot encode as msgpack: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Parses msgpack bytes. bin values come back as Uint8Array views of `bytes` (not copies: do not
 * reuse the buffer while the result is alive); int64/uint64 values outside the safe range as BigInt.
 *
 * @example decodeMsgpack(encodeMsgpack([1, "a"])) // [1, "a"]
 */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  // A plain Uint8Array view (no copy), so bin values are Uint8Array even when the body is a Buffer.
  const view =
    Object.getPrototypeOf(bytes) === Uint8Array.prototype
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Python packs an integer in 64 bits (0xcf uint64, 0xd3 int64) only above 32 bits. Without either
  // byte anywhere there is no such integer, and the plain decoder is exact.
  if (view.indexOf(0xcf) === -1 && view.indexOf(0xd3) === -1) {
    plainDecoder ??= new Decoder();
    return plainDecoder.decode(view);
  }
  bigDecoder ??= new Decoder({ useBigInt64: true });
  return narrowBigInts(bigDecoder.decode(view));
}

interface ScanResult {
  special: boolean;
  unsafeBigInt: boolean;
}

function scan(value: unknown, depth: number, out: ScanResult): ScanResult {
  if (typeof value === "bigint") {
    out.special = true;
    if (value > MAX_SAFE || value < MIN_SAFE) {
      out.unsafeBigInt = true;
    }
    return out;
  }
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return out;
  if (depth > MAX_DEPTH) throw new ProtocolError("ENCODE_ERROR", "cannot encode as msgpack: too deep or circular");
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) scan(value[i], depth + 1, out);
    return out;
  }
  if (value instanceof Date || value instanceof ArrayBuffer) {
    out.special = true;
    return out;
  }
  if (value instanceof Map || value instanceof Set) {
    throw new ProtocolError(
      "ENCODE_ERROR",
      `cannot encode as msgpack: ${value instanceof Map ? "Map" : "Set"} is not supported, use an object or array`,
    );
  }
  for (const key of Object.keys(value)) scan((value as Record<string, unknown>)[key], depth + 1, out);
  return out;
}

/** Copy-on-write: returns `value` itself when nothing inside needed converting. */
function prepare(value: unknown, useBig: boolean): unknown {
  switch (typeof value) {
    case "bigint":
      if (!useBig) return Number(value); // only safe BigInts exist in this mode
      if (value > UINT64_MAX || value < INT64_MIN) {
        throw new ProtocolError("ENCODE_ERROR", `cannot encode as msgpack: ${value} does not fit in 64 bits`);
      }
      return value;
    case "number":
      return useBig && Number.isSafeInteger(value) && (value > 0xffffffff || value < -0x80000000)
        ? BigInt(value)
        : value;
    case "object":
      break;
    default:
      return value;
  }
  if (value === null || ArrayBuffer.isView(value)) return value;
  if (value instanceof Date) return formatKombuDate(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const next = prepare(item, useBig);
      if (next !== item || copy !== undefined) (copy ??= value.slice(0, i)).push(next);
    }
    return copy ?? value;
  }
  const source = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  const keys = Object.keys(source);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const item = source[key];
    const next = prepare(item, useBig);
    if (next !== item && copy === undefined) {
      copy = {};
      for (let j = 0; j < i; j++) setOwn(copy, keys[j] as string, source[keys[j] as string]);
    }
    if (copy !== undefined) setOwn(copy, key, next);
  }
  return copy ?? value;
}

/** In place: the decoder built these containers, nobody else holds them yet. */
function narrowBigInts(value: unknown): unknown {
  if (typeof value === "bigint") {
    return value <= MAX_SAFE && value >= MIN_SAFE ? Number(value) : value;
  }
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = narrowBigInts(value[i]);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = narrowBigInts(record[key]);
  }
  return value;
}
