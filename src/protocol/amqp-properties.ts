// Maps a WireMessage to AMQP basic properties and back, with the header value types Celery's py-amqp
// reads correctly (fixtures amqp/*.json, content_header_decoded_with_wire_types).
import type { WireMessage, WireProperties } from "./message.ts";

/** Header value as handed to the AMQP client: plain values, or amqplib's `{"!": type, value}` typed form. */
export type AmqpFieldValue = unknown;

/** The basic properties we publish (a structural subset of amqplib's `Options.Publish`). */
export interface AmqpPublishProperties {
  contentType: string;
  contentEncoding: string;
  headers: Record<string, AmqpFieldValue>;
  deliveryMode: number;
  priority: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  type?: string;
  appId?: string;
  timestamp?: number;
}

/** The basic properties of a received message, as the AMQP client decoded them. */
export interface AmqpReceivedProperties {
  contentType?: unknown;
  contentEncoding?: unknown;
  headers?: Record<string, unknown> | undefined;
  deliveryMode?: unknown;
  priority?: unknown;
  correlationId?: unknown;
  replyTo?: unknown;
  expiration?: unknown;
  messageId?: unknown;
  type?: unknown;
  appId?: unknown;
  timestamp?: unknown;
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/**
 * Types a header value for the wire. py-amqp (Celery's client) writes Python ints as `I` (int32) and
 * reads `b` as UNSIGNED and `s` as a short STRING, so amqplib's default of the smallest int type would
 * turn `-1` into 255 and corrupt a `retries: 300` header. Every integer therefore goes as `I`, and
 * larger ones as 64-bit `l` (py-amqp reads it unsigned, which is right for the non-negative counters
 * and timestamps Celery sends). `null` goes as `V` (void), arrays as `A`: `timelimit: [null, null]`
 * arrives in Python as `[None, None]`.
 */
export function typeHeaderValue(value: unknown): AmqpFieldValue {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return value; // amqplib sends non-integers as double `d`, as py-amqp does
    if (value >= INT32_MIN && value <= INT32_MAX) return { "!": "int", value };
    // py-amqp would read a negative `l` as a huge unsigned number; a double keeps the sign.
    return value < 0 ? { "!": "double", value } : { "!": "long", value };
  }
  if (typeof value === "bigint") return { "!": "long", value: Number(value) };
  if (Array.isArray(value)) return value.map(typeHeaderValue);
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === "object") {
    // Already typed (e.g. an x-death timestamp read from the broker): pass it through untouched.
    if (Object.hasOwn(value, "!")) return value;
    const out: Record<string, AmqpFieldValue> = {};
    for (const [key, inner] of Object.entries(value)) if (inner !== undefined) out[key] = typeHeaderValue(inner);
    return out;
  }
  return value;
}

/** Reverses the typed forms amqplib decodes (timestamps, decimals) into plain JSON-friendly values. */
function untypeHeaderValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untypeHeaderValue);
  if (Buffer.isBuffer(value)) return new Uint8Array(value);
  if (value !== null && typeof value === "object") {
    const typed = value as { "!"?: unknown; value?: unknown };
    if (typed["!"] === "timestamp" && typeof typed.value === "number") return typed.value;
    if (typed["!"] === "decimal" && typed.value && typeof typed.value === "object") {
      const { places, digits } = typed.value as { places: number; digits: number };
      return digits / 10 ** places;
    }
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = untypeHeaderValue(inner);
    return out;
  }
  return value;
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/**
 * The AMQP properties Celery's producer sets (kombu `Producer.publish` + celery `amqp.send_task_message`):
 * delivery_mode 2 (persistent) and priority always present (0 by default), correlation_id and reply_to
 * when known, expiration only for `expires`.
 */
export function toAmqpProperties(message: WireMessage): AmqpPublishProperties {
  const p: WireProperties = message.properties;
  const headers: Record<string, AmqpFieldValue> = {};
  for (const [key, value] of Object.entries(message.headers)) if (value !== undefined) headers[key] = typeHeaderValue(value);
  const props: AmqpPublishProperties = {
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    headers,
    deliveryMode: p.deliveryMode ?? 2,
    priority: Math.max(0, Math.min(255, Math.trunc(p.priority ?? 0))),
  };
  if (p.correlationId) props.correlationId = p.correlationId;
  if (p.replyTo) props.replyTo = p.replyTo;
  if (p.expiration !== undefined && p.expiration !== "") props.expiration = String(p.expiration);
  // Only real AMQP properties survive; kombu-only "properties" (origin, argsrepr…) have no AMQP slot.
  const extra = p.extra ?? {};
  if (typeof extra["messageId"] === "string") props.messageId = extra["messageId"];
  if (typeof extra["type"] === "string") props.type = extra["type"];
  if (typeof extra["appId"] === "string") props.appId = extra["appId"];
  if (typeof extra["timestamp"] === "number") props.timestamp = extra["timestamp"];
  return props;
}

/** Builds the WireMessage for a received AMQP message. Never throws: absent fields become defaults. */
export function fromAmqpMessage(content: Uint8Array, props: AmqpReceivedProperties): WireMessage {
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(props.headers ?? {})) headers[key] = untypeHeaderValue(value);
  const properties: WireProperties = {};
  const correlationId = str(props.correlationId);
  if (correlationId !== undefined) properties.correlationId = correlationId;
  const replyTo = str(props.replyTo);
  if (replyTo !== undefined) properties.replyTo = replyTo;
  if (typeof props.deliveryMode === "number") properties.deliveryMode = props.deliveryMode;
  properties.priority = typeof props.priority === "number" ? props.priority : 0;
  const expiration = props.expiration;
  if (typeof expiration === "string" || typeof expiration === "number") properties.expiration = String(expiration);
  const extra: Record<string, unknown> = {};
  for (const key of ["messageId", "type", "appId", "timestamp"] as const) if (props[key] !== undefined && props[key] !== null) extra[key] = props[key];
  if (Object.keys(extra).length) properties.extra = extra;
  return {
    body: content,
    contentType: str(props.contentType) ?? "",
    contentEncoding: str(props.contentEncoding) ?? "",
    headers,
    properties,
  };
}

/** RabbitMQ's dead-lettering bookkeeping headers: broker detail, not part of the task. */
export function isDeathHeader(name: string): boolean {
  return name === "x-death" || name.startsWith("x-first-death-") || name.startsWith("x-last-death-");
}
