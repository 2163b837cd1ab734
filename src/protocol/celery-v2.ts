// Maps our TaskMessage to and from Celery's task message protocol v2 (headers + `[args, kwargs, embed]`
// body), byte-compatible with what Celery 5.2.6 sends and strict about what it accepts.

import type { Embed, Signature, TaskMessage, WireMessage, WireProperties } from "./message.ts";
import { ProtocolError } from "../util/errors.ts";
import { decodeWireBody, encodeBody, serializerFor, type DecodeOptions } from "./codecs.ts";
import { AUTH_CONTENT_ENCODING, AUTH_CONTENT_TYPE, openSignedBody, signBody, type MessageSigner, type MessageVerifier } from "./security.ts";
import { describe, isRecord, setOwn } from "./guards.ts";
import { formatIsoUtcOffset, parseIsoDate } from "./iso-time.ts";
import { reprArgs, reprKwargs } from "./pyrepr.ts";
import { signatureFromWire, signatureToWire } from "./signature.ts";

/** The protocol v2 headers, in the order Celery 5.2.6 writes them (celery/app/amqp.py `as_task_v2`). */
export const PROTOCOL_HEADERS = Object.freeze([
  "lang",
  "task",
  "id",
  "shadow",
  "eta",
  "expires",
  "group",
  "group_index",
  "retries",
  "timelimit",
  "root_id",
  "parent_id",
  "argsrepr",
  "kwargsrepr",
  "origin",
  "ignore_result",
] as const);

export type ProtocolHeader = (typeof PROTOCOL_HEADERS)[number];

const PROTOCOL_HEADER_SET: ReadonlySet<string> = new Set(PROTOCOL_HEADERS);

/**
 * Our `lang` header. Celery workers never read it (only `hybrid_to_proto2` copies it for protocol 1),
 * so it just tells a human reading the queue who sent the message.
 */
export const LANG = "js";

/** Celery's AMQP delivery_mode for every task: persistent. */
const PERSISTENT = 2;

export interface EncodeTaskOptions {
  /** Clock for `properties.expiration` (ms until `expires`), in ms since the epoch; default Date.now(). */
  now?: number;
  /** Sign the body with Celery's auth serializer (message signing); default: unsigned. */
  signer?: MessageSigner | null | undefined;
}

export interface DecodeTaskOptions extends DecodeOptions {
  /** Accept only bodies signed by one of its trusted certificates (message signing); default: unsigned. */
  verifier?: MessageVerifier | null | undefined;
}

/**
 * Encodes a task message as Celery 5.2.6 would: protocol headers in Celery's order, then the custom
 * `msg.headers` (a custom header never replaces a protocol one), properties `correlation_id`,
 * `reply_to`, `delivery_mode` 2, `priority` (0 when unset, as kombu sends) and `expiration` (remaining
 * ms as a string) when `expires` is set. A null `argsrepr`/`kwargsrepr` is filled with Celery's repr.
 *
 * @example encodeTaskMessage(msg).headers.eta // "2026-11-21T20:16:11.123000+00:00"
 */
export function encodeTaskMessage(msg: TaskMessage, options?: EncodeTaskOptions): WireMessage {
  if (typeof msg.task !== "string" || msg.task === "" || typeof msg.id !== "string" || msg.id === "") {
    throw new ProtocolError("ENCODE_ERROR", "a task message needs a non-empty task name and id");
  }
  const headers: Record<string, unknown> = {
    lang: LANG,
    task: msg.task,
    id: msg.id,
    shadow: msg.shadow,
    eta: msg.eta === null ? null : formatIsoUtcOffset(msg.eta),
    expires: msg.expires === null ? null : formatIsoUtcOffset(msg.expires),
    group: msg.groupId,
    group_index: msg.groupIndex,
    retries: msg.retries,
    timelimit: [msg.timeLimit[0], msg.timeLimit[1]],
    root_id: msg.rootId,
    parent_id: msg.parentId,
    argsrepr: msg.argsrepr ?? reprArgs(msg.args),
    kwargsrepr: msg.kwargsrepr ?? reprKwargs(msg.kwargs),
    origin: msg.origin,
    ignore_result: msg.ignoreResult,
  };
  // Celery lets apply_async(headers=...) overwrite protocol headers (amqp.py: headers2.update(headers));
  // we don't, so a stray "id" or "task" header cannot re-route or re-key a task.
  for (const key of Object.keys(msg.headers)) {
    const value = msg.headers[key];
    if (value !== undefined && !PROTOCOL_HEADER_SET.has(key)) setOwn(headers, key, value);
  }

  let { body, contentType, contentEncoding } = encodeBody(
    [msg.args, msg.kwargs, embedToWire(msg.embed)],
    msg.serializer,
  );
  if (options?.signer) {
    body = signBody(options.signer, body, contentType, contentEncoding);
    contentType = AUTH_CONTENT_TYPE;
    contentEncoding = AUTH_CONTENT_ENCODING;
  }

  const properties: WireProperties = {
    correlationId: msg.correlationId ?? msg.id,
    // Celery sends reply_to "" when there is none (as_task_v2: `reply_to or ''`).
    replyTo: msg.replyTo ?? "",
    deliveryMode: PERSISTENT,
    priority: msg.priority ?? 0,
  };
  if (msg.expires !== null) {
    // celery/app/base.py send_task: remaining seconds, clamped at 0; kombu: str(int(s * 1000)).
    const remaining = msg.expires.getTime() - (options?.now ?? Date.now());
    properties.expiration = String(Math.max(0, Math.floor(remaining)));
  }
  return { body, contentType, contentEncoding, headers, properties };
}

/**
 * Decodes and validates a protocol v2 task message. Throws ProtocolError: CONTENT_TYPE_NOT_ALLOWED or
 * MESSAGE_TOO_LARGE from the body codec, MALFORMED_MESSAGE (with the reason) for anything that is not
 * exactly headers with string `task` and `id` plus a body `[array, object, object | null]`, and with
 * `options.verifier` SECURITY_ERROR for a body that is not signed by a trusted certificate (checked
 * first; the size limit applies to the signed body, `accept` to the serializer inside it).
 *
 * @example decodeTaskMessage(wire, { accept: ["json", "msgpack"], maxBytes: 1 << 20 }).task // "interop.add"
 */
export function decodeTaskMessage(signedOrPlain: WireMessage, options: DecodeTaskOptions): TaskMessage {
  const wire = options.verifier ? openSigned(signedOrPlain, options.verifier, options.maxBytes) : signedOrPlain;
  const h = wire.headers;
  if (!isRecord(h)) throw malformed(`headers must be an object, got ${describe(h)}`);
  const task = h.task;
  if (typeof task !== "string" || task === "") {
    const body = decodeWireBody(wire, options);
    if (isRecord(body) && typeof body.task === "string") {
      // Celery < 4 (task_protocol=1) put everything in a body dict; Celery 4+ sends v2 by default.
      throw malformed(
        `task protocol v1 message (task ${JSON.stringify(body.task)} in the body, no headers.task) ` +
          "is not supported: send with task_protocol=2",
      );
    }
    throw malformed(`headers.task must be a non-empty string, got ${describe(task)}`);
  }
  const id = h.id;
  if (typeof id !== "string" || id === "") {
    throw malformed(`headers.id must be a non-empty string, got ${describe(id)}`);
  }

  const body = decodeWireBody(wire, options);
  if (!Array.isArray(body) || body.length !== 3) {
    // A Python worker crashes on these (fixtures README, "Surprises" 9); we reject them instead.
    throw malformed(`body must be [args, kwargs, embed], got ${describe(body)}`);
  }
  const [args, kwargs, embed] = body as [unknown, unknown, unknown];
  if (!Array.isArray(args)) throw malformed(`body[0] (args) must be an array, got ${describe(args)}`);
  if (!isRecord(kwargs)) throw malformed(`body[1] (kwargs) must be an object, got ${describe(kwargs)}`);
  if (embed !== null && !isRecord(embed)) {
    throw malformed(`body[2] (embed) must be an object or null, got ${describe(embed)}`);
  }

  const custom: Record<string, unknown> = {};
  for (const key of Object.keys(h)) {
    if (!PROTOCOL_HEADER_SET.has(key)) setOwn(custom, key, h[key]);
  }
  const p: WireProperties = wire.properties ?? {};
  return {
    id,
    task,
    args,
    kwargs,
    embed: embedFromWire(embed),
    eta: dateHeader(h, "eta"),
    expires: dateHeader(h, "expires"),
    retries: retriesHeader(h.retries),
    rootId: idHeader(h, "root_id"),
    parentId: idHeader(h, "parent_id"),
    groupId: idHeader(h, "group"),
    groupIndex: groupIndexHeader(h.group_index),
    timeLimit: timeLimitHeader(h.timelimit),
    priority: typeof p.priority === "number" ? p.priority : null,
    ignoreResult: ignoreResultHeader(h.ignore_result),
    shadow: displayHeader(h.shadow),
    origin: displayHeader(h.origin),
    argsrepr: displayHeader(h.argsrepr),
    kwargsrepr: displayHeader(h.kwargsrepr),
    replyTo: typeof p.replyTo === "string" && p.replyTo !== "" ? p.replyTo : null,
    correlationId: typeof p.correlationId === "string" ? p.correlationId : null,
    headers: custom,
    serializer: serializerFor(wire.contentType) ?? "json",
  };
}

/** `wire` with its signed body replaced by the body that was signed. */
function openSigned(wire: WireMessage, verifier: MessageVerifier, maxBytes: number): WireMessage {
  const signed = wire.body;
  if (signed.byteLength > maxBytes) {
    throw new ProtocolError("MESSAGE_TOO_LARGE", `message body is ${signed.byteLength} bytes, over the ${maxBytes}-byte limit`);
  }
  const { body, contentType, contentEncoding } = openSignedBody(signed, wire.contentType, verifier);
  return { body, contentType, contentEncoding, headers: wire.headers, properties: wire.properties };
}

function embedToWire(embed: Embed): Record<string, unknown> {
  return {
    callbacks: embed.callbacks === null ? null : embed.callbacks.map(signatureToWire),
    errbacks: embed.errbacks === null ? null : embed.errbacks.map(signatureToWire),
    chain: embed.chain === null ? null : embed.chain.map(signatureToWire),
    chord: embed.chord === null ? null : signatureToWire(embed.chord),
  };
}

function embedFromWire(embed: Record<string, unknown> | null): Embed {
  if (embed === null) return { callbacks: null, errbacks: null, chain: null, chord: null };
  const chord = embed.chord;
  return {
    callbacks: signatureList(embed.callbacks, "embed.callbacks"),
    errbacks: signatureList(embed.errbacks, "embed.errbacks"),
    // Kept in Celery's reversed order: the next step to run is the last element.
    chain: signatureList(embed.chain, "embed.chain"),
    chord: chord === null || chord === undefined ? null : signatureFromWire(chord, "embed.chord"),
  };
}

function signatureList(value: unknown, where: string): Signature[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value)) throw malformed(`${where} must be a list or null, got ${describe(value)}`);
  const out: Signature[] = new Array<Signature>(value.length);
  for (let i = 0; i < value.length; i++) out[i] = signatureFromWire(value[i], `${where}[${i}]`);
  return out;
}

function dateHeader(h: Record<string, unknown>, name: "eta" | "expires"): Date | null {
  const value = h[name];
  if (value === null || value === undefined) return null;
  // A naive string (no offset) is UTC, as Celery 5.2 reads it (see parseIsoDate).
  const date = typeof value === "string" ? parseIsoDate(value) : null;
  if (date === null) throw malformed(`headers.${name} must be an ISO-8601 date-time or null, got ${describe(value)}`);
  return date;
}

function idHeader(h: Record<string, unknown>, name: "root_id" | "parent_id" | "group"): string | null {
  const value = h[name];
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") throw malformed(`headers.${name} must be a string or null, got ${describe(value)}`);
  return value;
}

function retriesHeader(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(`headers.retries must be a non-negative integer, got ${describe(value)}`);
  }
  return value;
}

function groupIndexHeader(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(`headers.group_index must be a non-negative integer or null, got ${describe(value)}`);
  }
  return value;
}

function timeLimitHeader(value: unknown): [number | null, number | null] {
  if (value === null || value === undefined) return [null, null];
  if (Array.isArray(value) && value.length === 2) {
    const [hard, soft] = value as [unknown, unknown];
    if (isLimit(hard) && isLimit(soft)) return [hard, soft];
  }
  throw malformed(`headers.timelimit must be [hard, soft] seconds or nulls, got ${describe(value)}`);
}

function isLimit(value: unknown): value is number | null {
  return value === null || (typeof value === "number" && Number.isFinite(value) && value >= 0);
}

function ignoreResultHeader(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value !== "boolean") {
    throw malformed(`headers.ignore_result must be a boolean, got ${describe(value)}`);
  }
  return value;
}

/** shadow, origin, argsrepr, kwargsrepr only label the task: a wrong type is dropped, not fatal. */
function displayHeader(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function malformed(reason: string): ProtocolError {
  return new ProtocolError("MALFORMED_MESSAGE", reason);
}
