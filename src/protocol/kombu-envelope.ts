// kombu's Redis JSON envelope: how a message sits in a Redis list (body, content-type, headers,
// properties with delivery_info/delivery_tag), mapped to and from our WireMessage.
import { type WireMessage, type WireProperties, storedBodyWire } from "./message.ts";
import { isUtf8 } from "node:buffer";
import { ProtocolError } from "../util/errors.ts";
import { setOwn } from "./guards.ts";

export interface KombuEnvelopeOptions {
  queue: string;
  deliveryTag: string;
  /** Celery publishes to the default exchange "" with the queue name as routing key. */
  exchange?: string;
  /** Write every header and property as Celery does (default false: lean, see toKombuEnvelope). */
  full?: boolean;
}

export interface DecodedEnvelope {
  wire: WireMessage;
  deliveryTag: string;
  exchange: string;
  routingKey: string;
  /** kombu sets properties.delivery_info.redelivered when it restores an unacked message. */
  redelivered: boolean;
}

// Properties we map to WireProperties fields, or that belong to the transport and not the message.
const OWN_PROPERTIES = new Set(["correlation_id", "reply_to", "delivery_mode", "priority", "expiration", "delivery_info", "delivery_tag", "body_encoding"]);

/**
 * The envelope string to LPUSH for `wire`. Example: `toKombuEnvelope(wire, {queue: "celery", deliveryTag})`.
 * By default the envelope is lean, and still read by a Python worker: Celery's worker reads every
 * optional header with `.get()` (only `id` and `task` are required; celery/worker/request.py) and kombu
 * reads only `delivery_tag`, `delivery_info` and `body_encoding` from properties. So headers and
 * properties that hold their default are left out (null, lang "js", retries 0, ignore_result false, timelimit
 * [null, null], root_id and correlation_id equal to the id, delivery_mode, priority 0, content-encoding
 * utf-8), and a UTF-8 JSON body is stored as text without base64 (kombu decodes a body without
 * `body_encoding` as-is), with an empty embed written as `{}` (see trimEmptyEmbed).
 * `full: true` writes every field as Celery 5.2.6 does.
 */
export function toKombuEnvelope(wire: WireMessage, options: KombuEnvelopeOptions): string {
  const full = options.full === true;
  const id = wire.headers["id"];
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(wire.headers)) {
    if (!full && isDefaultHeader(key, value, id)) continue;
    // setOwn: a "__proto__" header or property read from a peer's message must travel on, not vanish.
    setOwn(headers, key, value);
  }
  const p = wire.properties;
  const properties: Record<string, unknown> = {};
  if (p.correlationId && (full || p.correlationId !== id)) properties["correlation_id"] = p.correlationId;
  if (p.replyTo) properties["reply_to"] = p.replyTo;
  if (full && p.deliveryMode !== undefined) properties["delivery_mode"] = p.deliveryMode;
  if (p.expiration !== undefined) properties["expiration"] = p.expiration;
  if (p.extra) for (const [key, value] of Object.entries(p.extra)) if (!OWN_PROPERTIES.has(key)) setOwn(properties, key, value);
  properties["delivery_info"] = { exchange: options.exchange ?? "", routing_key: options.queue };
  if (full || p.priority) properties["priority"] = p.priority ?? 0;
  const bytes = Buffer.from(wire.body.buffer, wire.body.byteOffset, wire.body.byteLength);
  const text = !full && wire.contentType === "application/json" && wire.contentEncoding === "utf-8" && isUtf8(bytes) ? bytes.toString("utf8") : null;
  const asText = text !== null && !clashesWithTrim(text);
  if (!asText) properties["body_encoding"] = "base64";
  properties["delivery_tag"] = options.deliveryTag;
  const envelope: Record<string, unknown> = { body: asText ? trimEmptyEmbed(text) : bytes.toString("base64") };
  // kombu's serialization.loads reads a missing content-encoding as "utf-8".
  if (full || wire.contentEncoding !== "utf-8") envelope["content-encoding"] = wire.contentEncoding;
  envelope["content-type"] = wire.contentType;
  envelope["headers"] = headers;
  envelope["properties"] = properties;
  return JSON.stringify(envelope);
}

/** A header whose absence a Celery worker reads the same way (`.get()` default, or derivable from `id`). */
export function isDefaultHeader(key: string, value: unknown, id: unknown): boolean {
  if (value === null || value === undefined) return true;
  switch (key) {
    case "retries":
      return value === 0;
    case "ignore_result":
      return value === false;
    case "root_id":
      return value === id;
    // Celery never reads `lang`, and Celery always sends "py": absent means ours (restored on decode).
    case "lang":
      return value === "js";
    case "timelimit":
      return Array.isArray(value) && value.every((v) => v === null);
    default:
      return false;
  }
}

/** Celery 5.2.6's `embed` when a task has no callbacks, errbacks, chain or chord, as our encoder writes it. */
const EMPTY_EMBED_TAIL = ',{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]';

const TRIMMED_TAIL = ",{}]";

/**
 * A JSON body `[args, kwargs, embed]` with an all-null embed written as `{}` (56 bytes less per task).
 * A Celery worker reads the same: it only ever does `embed.get(...)` and `**embed` (celery/app/trace.py,
 * celery/worker/request.py), and so does our decoder. Any other body is returned unchanged. Reversed
 * exactly by expandEmptyEmbed, so callers store a body that already ends in `,{}]` some other way.
 */
export function trimEmptyEmbed(json: string): string {
  return json.endsWith(EMPTY_EMBED_TAIL) ? `${json.slice(0, -EMPTY_EMBED_TAIL.length)}${TRIMMED_TAIL}` : json;
}

/** The body trimEmptyEmbed was given (a broker delivers exactly the bytes it was handed). */
export function expandEmptyEmbed(json: string): string {
  return json.endsWith(TRIMMED_TAIL) ? `${json.slice(0, -TRIMMED_TAIL.length)}${EMPTY_EMBED_TAIL}` : json;
}

/** Whether a text body would not survive trimEmptyEmbed/expandEmptyEmbed unchanged (store it as base64). */
export function clashesWithTrim(json: string): boolean {
  return json.endsWith(TRIMMED_TAIL);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function malformed(reason: string): ProtocolError {
  return new ProtocolError("MALFORMED_MESSAGE", `not a kombu Redis envelope: ${reason}`);
}

/** Parses an envelope as kombu or Celery wrote it; throws ProtocolError("MALFORMED_MESSAGE") otherwise. */
export function fromKombuEnvelope(raw: string): DecodedEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw malformed(`invalid JSON (${(error as Error).message})`);
  }
  if (!isObject(parsed)) throw malformed("not a JSON object");
  const props = parsed["properties"];
  if (!isObject(props)) throw malformed("no properties object");
  const deliveryTag = props["delivery_tag"];
  if (typeof deliveryTag !== "string" || deliveryTag === "") throw malformed("no properties.delivery_tag");
  const info = isObject(props["delivery_info"]) ? props["delivery_info"] : {};
  const rawBody = parsed["body"] ?? "";
  if (typeof rawBody !== "string") throw malformed("body is not a string");
  // kombu base64-encodes by default; without body_encoding the body string is the payload itself.
  // A text body is one of ours (kombu always uses base64), so its embed may have been trimmed.
  const base64 = props["body_encoding"] === "base64";
  const text = base64 ? null : expandEmptyEmbed(rawBody);
  // The envelope was parsed just now: its headers object is ours to complete (no copy).
  const headers = isObject(parsed["headers"]) ? parsed["headers"] : {};
  if (headers["redelivered"] !== undefined) delete headers["redelivered"];
  const properties: WireProperties = {};
  // A lean envelope leaves out the defaults; give them back so a re-publish carries them again.
  if (typeof props["correlation_id"] === "string") properties.correlationId = props["correlation_id"];
  else if (typeof headers["id"] === "string") properties.correlationId = headers["id"];
  if (headers["root_id"] === undefined && typeof headers["id"] === "string") headers["root_id"] = headers["id"];
  if (headers["lang"] === undefined) headers["lang"] = "js";
  if (typeof props["reply_to"] === "string") properties.replyTo = props["reply_to"];
  if (typeof props["delivery_mode"] === "number") properties.deliveryMode = props["delivery_mode"];
  properties.priority = typeof props["priority"] === "number" ? props["priority"] : 0;
  if (typeof props["expiration"] === "string") properties.expiration = props["expiration"];
  let extra: Record<string, unknown> | undefined;
  for (const key in props) {
    if (OWN_PROPERTIES.has(key) || !Object.hasOwn(props, key)) continue;
    extra ??= {};
    setOwn(extra, key, props[key]);
  }
  if (extra) properties.extra = extra;
  const rawType = parsed["content-type"];
  const rawEncoding = parsed["content-encoding"];
  const contentType = typeof rawType === "string" ? rawType : "application/json";
  const contentEncoding = typeof rawEncoding === "string" ? rawEncoding : "utf-8";
  const wire = storedBodyWire(text, rawBody, contentType, contentEncoding, headers, properties);
  return {
    wire,
    deliveryTag,
    exchange: typeof info["exchange"] === "string" ? info["exchange"] : "",
    routingKey: typeof info["routing_key"] === "string" ? info["routing_key"] : "",
    redelivered: info["redelivered"] === true,
  };
}
