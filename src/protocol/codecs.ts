// Turns message bodies into bytes and back for the serializers we allow (json, msgpack), enforcing the
// accept list and the size limit before anything is parsed; pickle and YAML are never deserialized.

import { TextDecoder } from "node:util";
import type { Serializer } from "./message.ts";
import { ProtocolError } from "../util/errors.ts";
import { parseJson, stringifyJson } from "./json.ts";
import { decodeMsgpack, encodeMsgpack } from "./msgpack.ts";

/** kombu's MIME names and content encodings (kombu/serialization.py `register_*`). */
export const JSON_CONTENT_TYPE = "application/json";
export const MSGPACK_CONTENT_TYPE = "application/x-msgpack";
export const PICKLE_CONTENT_TYPE = "application/x-python-serialize";
export const YAML_CONTENT_TYPE = "application/x-yaml";
export const JSON_CONTENT_ENCODING = "utf-8";
export const MSGPACK_CONTENT_ENCODING = "binary";

export const CONTENT_TYPES: Readonly<Record<Serializer, string>> = Object.freeze({
  json: JSON_CONTENT_TYPE,
  msgpack: MSGPACK_CONTENT_TYPE,
});

export interface DecodeOptions {
  /** Serializers a consumer accepts (Celery's `accept_content`). */
  accept: readonly Serializer[];
  /** Largest body accepted, in bytes; checked before parsing. */
  maxBytes: number;
}

/**
 * Serializes a body. The result's bytes are a Buffer, which brokers can hand to their clients as is.
 *
 * @example encodeBody([[2, 3], {}, null], "json").contentType // "application/json" (contentEncoding "utf-8")
 */
export function encodeBody(
  value: unknown,
  serializer: Serializer,
): { body: Uint8Array; contentType: string; contentEncoding: string } {
  if (serializer === "json") {
    return {
      body: Buffer.from(stringifyJson(value), "utf8"),
      contentType: JSON_CONTENT_TYPE,
      contentEncoding: JSON_CONTENT_ENCODING,
    };
  }
  if (serializer === "msgpack") {
    const packed = encodeMsgpack(value);
    return {
      body: Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength),
      contentType: MSGPACK_CONTENT_TYPE,
      contentEncoding: MSGPACK_CONTENT_ENCODING,
    };
  }
  throw new ProtocolError("ENCODE_ERROR", `unknown serializer ${JSON.stringify(serializer)}: use "json" or "msgpack"`);
}

/**
 * Deserializes a body after checking its content type against `options.accept` and its size against
 * `options.maxBytes`. Integers beyond 2^53 come back as BigInt; msgpack bin as Uint8Array.
 *
 * @example decodeBody(body, "application/json", { accept: ["json"], maxBytes: 1 << 20 })
 */
export function decodeBody(body: Uint8Array, contentType: string, options: DecodeOptions): unknown {
  const serializer = serializerFor(contentType);
  if (serializer === null || !options.accept.includes(serializer)) {
    throw notAllowed(contentType, options.accept);
  }
  if (body.byteLength > options.maxBytes) {
    throw new ProtocolError(
      "MESSAGE_TOO_LARGE",
      `message body is ${body.byteLength} bytes, over the ${options.maxBytes}-byte limit`,
    );
  }
  try {
    return serializer === "json" ? parseJson(decodeText(body, contentType)) : decodeMsgpack(body);
  } catch (err) {
    throw new ProtocolError("MALFORMED_MESSAGE", `invalid ${serializer} body: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * decodeBody for a WireMessage: when the broker handed the body over as text (`bodyText`) and it is
 * UTF-8 JSON, parses that text directly (no bytes round trip), with the same accept and size checks
 * (the size is the text's UTF-8 byte length).
 *
 * @example decodeWireBody(wire, { accept: ["json"], maxBytes: 1 << 20 })
 */
export function decodeWireBody(
  wire: { body: Uint8Array; bodyText?: string | undefined; contentType: string },
  options: DecodeOptions,
): unknown {
  const text = wire.bodyText;
  const contentType = wire.contentType;
  if (text === undefined || !(contentType === JSON_CONTENT_TYPE || isUtf8Json(contentType))) {
    return decodeBody(wire.body, contentType, options);
  }
  if (!options.accept.includes("json")) throw notAllowed(contentType, options.accept);
  // UTF-8 takes at least one byte per UTF-16 unit and at most three: count only when it matters.
  if (text.length * 3 > options.maxBytes) {
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > options.maxBytes) {
      throw new ProtocolError("MESSAGE_TOO_LARGE", `message body is ${bytes} bytes, over the ${options.maxBytes}-byte limit`);
    }
  }
  try {
    return parseJson(text);
  } catch (err) {
    throw new ProtocolError("MALFORMED_MESSAGE", `invalid json body: ${(err as Error).message}`, { cause: err });
  }
}

function isUtf8Json(contentType: string): boolean {
  if (serializerFor(contentType) !== "json") return false;
  const charset = charsetOf(contentType);
  return charset === null || charset === "utf-8" || charset === "utf8";
}

/**
 * The serializer for a MIME type, or null when it is not one we decode. Parameters such as
 * `; charset=utf-8` are allowed after application/json.
 *
 * @example serializerFor("application/json; charset=utf-8") // "json"
 */
export function serializerFor(contentType: string): Serializer | null {
  // Exact matches first: that is what kombu always sends.
  if (contentType === JSON_CONTENT_TYPE) return "json";
  if (contentType === MSGPACK_CONTENT_TYPE) return "msgpack";
  const base = mediaType(contentType);
  if (base === JSON_CONTENT_TYPE) return "json";
  if (base === MSGPACK_CONTENT_TYPE) return "msgpack";
  return null;
}

/** Names kombu gives the content types we refuse, for error messages. */
const KNOWN_NAMES: Readonly<Record<string, string>> = {
  [PICKLE_CONTENT_TYPE]: "pickle",
  [YAML_CONTENT_TYPE]: "yaml",
  // Celery's auth serializer (message signing) and kombu's raw bytes share this type.
  "application/data": "signed (auth) or raw bytes",
};

function notAllowed(contentType: string, accept: readonly Serializer[]): ProtocolError {
  const base = mediaType(contentType);
  const what =
    base === ""
      ? "a message without a content type"
      : `content of type ${KNOWN_NAMES[base] ?? base} (${contentType})`;
  const accepted =
    accept.length === 0 ? "nothing" : accept.map((s) => `${s} (${CONTENT_TYPES[s]})`).join(", ");
  // Same wording as kombu's ContentDisallowed ("Refusing to deserialize untrusted content of type ...").
  return new ProtocolError(
    "CONTENT_TYPE_NOT_ALLOWED",
    `Refusing to deserialize ${what}: accepted are ${accepted}`,
  );
}

/** The media type of a Content-Type value, lower case, without parameters; "" for a non-string. */
export function mediaType(contentType: string): string {
  if (typeof contentType !== "string") return "";
  const semi = contentType.indexOf(";");
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

let utf8: TextDecoder | undefined;

function decodeText(body: Uint8Array, contentType: string): string {
  const charset = contentType === JSON_CONTENT_TYPE ? null : charsetOf(contentType);
  if (charset === null || charset === "utf-8" || charset === "utf8") {
    // fatal: invalid UTF-8 is a malformed message, not text with U+FFFD in it.
    utf8 ??= new TextDecoder("utf-8", { fatal: true });
    return utf8.decode(body);
  }
  return new TextDecoder(charset, { fatal: true }).decode(body);
}

function charsetOf(contentType: string): string | null {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  return m?.[1] === undefined ? null : m[1].toLowerCase();
}
