// Celeriac's compact Redis message format, for queues only Celeriac workers read: the same message as
// kombu's JSON envelope in about a third of the bytes (no repeated key names, no routing block, no
// display-only headers). A Python worker cannot read it; see docs/brokers.md.
//
// Layout (one Redis string, always valid UTF-8):
//   marker   1 char   "\x01" fresh, "\x02" redelivered (restored after a crash or a requeue)
//   tag     12 chars  delivery tag (kombu's delivery_tag), fixed width so Lua reads it with string.sub;
//                     ASCII when we write it (a foreign one that is not is claimed by compactTag())
//   meta     JSON     [id, task] or [id, task, {options}] (never contains a raw newline)
//   "\n"
//   body     rest     the serialized body: JSON text with an all-null embed written as `{}` (restored on
//                     read, see trimEmptyEmbed), or base64 when it is not UTF-8
// Options, each left out when it holds its default: h = headers beyond task and id, r = reply_to,
// c = correlation_id (default: the id), p = priority (0), x = expiration, e = other properties,
// t = content-type (application/json), n = content-encoding (utf-8), b = 1 when the body is base64.
import { type WireMessage, type WireProperties, storedBodyWire } from "./message.ts";
import type { DecodedEnvelope } from "./kombu-envelope.ts";
import { clashesWithTrim, expandEmptyEmbed, isDefaultHeader, trimEmptyEmbed } from "./kombu-envelope.ts";
import { parseJson } from "./json.ts";
import { reprArgs, reprKwargs } from "./pyrepr.ts";
import { isUtf8 } from "node:buffer";
import { ProtocolError } from "../util/errors.ts";
import { setOwn } from "./guards.ts";

export const COMPACT_FRESH = "\x01";
export const COMPACT_REDELIVERED = "\x02";
/** Width of the delivery tag: our tags are 9 random bytes in base64url. */
export const COMPACT_TAG_LENGTH = 12;

/** Whether a stored Redis item is in the compact format (else it should be a kombu JSON envelope). */
export function isCompact(raw: string): boolean {
  return raw.startsWith(COMPACT_FRESH) || raw.startsWith(COMPACT_REDELIVERED);
}

/**
 * The tag a compact message is claimed and acknowledged under. Lua (fetch.lua) reads the 12 bytes after
 * the marker, JavaScript reads characters: the same string only while they are ASCII, so a tag that is
 * not is spelled in hex (24 characters, never a 12-byte tag) on both sides, or its ack would never
 * match its claim. Example: `compactTag("\x01AbCdEfGhIjKl[...]")` is "AbCdEfGhIjKl".
 */
export function compactTag(raw: string): string {
  for (let i = 1; i <= COMPACT_TAG_LENGTH; i++) {
    if (raw.charCodeAt(i) >= 0x80) {
      // Two more UTF-16 units than needed, so the 13th byte is never half of a cut surrogate pair.
      return Buffer.from(raw.slice(0, COMPACT_TAG_LENGTH + 2), "utf8").toString("hex", 1, 1 + COMPACT_TAG_LENGTH);
    }
  }
  return raw.slice(1, 1 + COMPACT_TAG_LENGTH);
}

// Headers only people and Celery's events read (celery/worker/request.py reads them with .get()).
const DISPLAY_HEADERS = new Set(["origin"]);

/**
 * The compact string for `wire`. Example: `toCompact(wire, "AbCdEfGhIjKl")`. Leaves out what the
 * lean kombu envelope leaves out, plus `origin`, and `argsrepr`/`kwargsrepr` when they are just the
 * default repr of the arguments (a custom one, e.g. redacting a secret, is kept).
 */
export function toCompact(wire: WireMessage, deliveryTag: string): string {
  if (deliveryTag.length !== COMPACT_TAG_LENGTH) throw new ProtocolError("ENCODE_ERROR", `compact messages need a ${COMPACT_TAG_LENGTH}-character delivery tag`);
  const id = wire.headers["id"];
  const task = wire.headers["task"];
  if (typeof id !== "string" || typeof task !== "string") throw new ProtocolError("ENCODE_ERROR", "compact messages need string headers.id and headers.task");
  const bytes = Buffer.from(wire.body.buffer, wire.body.byteOffset, wire.body.byteLength);
  const isJson = wire.contentType === "application/json";
  const decoded = isUtf8(bytes) ? bytes.toString("utf8") : null;
  // A JSON body has its empty embed trimmed (reversed on read); one that ends like a trimmed one goes base64.
  const text = decoded !== null && !(isJson && clashesWithTrim(decoded)) ? decoded : null;
  const defaults = isJson && text !== null ? defaultReprs(text) : null;
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(wire.headers)) {
    if (key === "id" || key === "task" || DISPLAY_HEADERS.has(key) || isDefaultHeader(key, value, id)) continue;
    if ((key === "argsrepr" || key === "kwargsrepr") && defaults?.[key] === value) continue;
    setOwn(headers, key, value);
  }
  const p = wire.properties;
  const options: Record<string, unknown> = {};
  if (Object.keys(headers).length > 0) options["h"] = headers;
  if (p.replyTo) options["r"] = p.replyTo;
  if (p.correlationId && p.correlationId !== id) options["c"] = p.correlationId;
  if (p.priority) options["p"] = p.priority;
  if (p.expiration !== undefined) options["x"] = p.expiration;
  if (p.extra && Object.keys(p.extra).length > 0) options["e"] = p.extra;
  if (!isJson) options["t"] = wire.contentType;
  if (wire.contentEncoding !== "utf-8") options["n"] = wire.contentEncoding;
  if (text === null) options["b"] = 1;
  const meta = Object.keys(options).length > 0 ? [id, task, options] : [id, task];
  const body = text === null ? bytes.toString("base64") : isJson ? trimEmptyEmbed(text) : text;
  return `${COMPACT_FRESH}${deliveryTag}${JSON.stringify(meta)}\n${body}`;
}

/** Celery's default argsrepr/kwargsrepr for a JSON body, or null when it does not parse as one. */
function defaultReprs(text: string): { argsrepr: string; kwargsrepr: string } | null {
  try {
    const body = parseJson(text);
    if (!Array.isArray(body) || !Array.isArray(body[0]) || typeof body[1] !== "object" || body[1] === null) return null;
    return { argsrepr: reprArgs(body[0] as unknown[]), kwargsrepr: reprKwargs(body[1] as Record<string, unknown>) };
  } catch {
    return null;
  }
}

function malformed(reason: string): ProtocolError {
  return new ProtocolError("MALFORMED_MESSAGE", `not a compact Celeriac message: ${reason}`);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Reads a compact message back into the message it was made from (routing key: the list it sat in). */
export function fromCompact(raw: string, routingKey: string): DecodedEnvelope {
  if (!isCompact(raw)) throw malformed("no marker");
  const cut = raw.indexOf("\n", 1 + COMPACT_TAG_LENGTH);
  if (cut === -1) throw malformed("truncated");
  const deliveryTag = compactTag(raw);
  let meta: unknown;
  try {
    meta = JSON.parse(raw.slice(1 + COMPACT_TAG_LENGTH, cut));
  } catch (error) {
    throw malformed(`invalid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(meta) || typeof meta[0] !== "string" || typeof meta[1] !== "string") throw malformed("meta is not [id, task, ...]");
  const [id, task] = meta as [string, string];
  const options = isObject(meta[2]) ? meta[2] : {};
  const headers: Record<string, unknown> = { lang: "js", task, id, root_id: id, ...(isObject(options["h"]) ? options["h"] : {}) };
  const properties: WireProperties = { correlationId: typeof options["c"] === "string" ? options["c"] : id, priority: typeof options["p"] === "number" ? options["p"] : 0 };
  if (typeof options["r"] === "string") properties.replyTo = options["r"];
  if (typeof options["x"] === "string") properties.expiration = options["x"];
  if (isObject(options["e"])) properties.extra = options["e"];
  const text = raw.slice(cut + 1);
  const isJson = typeof options["t"] !== "string";
  const contentType = isJson ? "application/json" : String(options["t"]);
  const contentEncoding = typeof options["n"] === "string" ? options["n"] : "utf-8";
  const bodyText = options["b"] === 1 ? null : isJson ? expandEmptyEmbed(text) : text;
  const wire = storedBodyWire(bodyText, text, contentType, contentEncoding, headers, properties);
  return {
    wire,
    deliveryTag,
    exchange: "",
    routingKey,
    redelivered: raw.startsWith(COMPACT_REDELIVERED),
  };
}
