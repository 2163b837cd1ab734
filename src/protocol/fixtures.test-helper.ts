// Test-only loader for the Celery 5.2.6 wire captures in shared/fixtures: turns every captured task
// message into a WireMessage and lists every stored result meta. Not part of the package.

import { readFileSync, readdirSync } from "node:fs";
import assert from "node:assert/strict";
import type { WireMessage, WireProperties } from "./message.ts";
import { ProtocolError } from "../util/errors.ts";

/** shared/ sits beside the repository clone (locally /work/shared, the same in CI). */
export const FIXTURES_DIR = new URL("../../../shared/fixtures/celery-5.2.6/", import.meta.url);

export type Json = Record<string, unknown>;

/** A fixture file parsed with JSON.parse (so integers beyond 2^53 are already rounded here). */
export function loadFixture(relPath: string): Json {
  return JSON.parse(readFileSync(new URL(relPath, FIXTURES_DIR), "utf8")) as Json;
}

export function listFixtures(folder: string): string[] {
  return readdirSync(new URL(`${folder}/`, FIXTURES_DIR))
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => `${folder}/${name}`);
}

export interface TaskFixture {
  /** "redis-broker/add-delay.json#0" */
  source: string;
  wire: WireMessage;
  /** The headers exactly as Celery wrote them. */
  headers: Json;
  /** Raw properties as captured (kombu names). */
  properties: Json;
  /** The fixture's own decoded body; msgpack bin shown as {"$bytes_base64": ...}. */
  body: [unknown[], Json, Json | null];
}

/** Every task message captured from Celery: all redis-broker entries and the AMQP task messages. */
export function taskFixtures(): TaskFixture[] {
  const out: TaskFixture[] = [];
  for (const path of listFixtures("redis-broker")) {
    const file = loadFixture(path);
    const entries = (file.entries ?? []) as Json[];
    entries.forEach((entry, i) => {
      const envelope = JSON.parse(entry.raw as string) as Json;
      const properties = envelope.properties as Json;
      out.push({
        source: `${path}#${i}`,
        wire: {
          body: new Uint8Array(Buffer.from(envelope.body as string, "base64")),
          contentType: envelope["content-type"] as string,
          contentEncoding: envelope["content-encoding"] as string,
          headers: envelope.headers as Json,
          properties: wireProperties(properties),
        },
        headers: envelope.headers as Json,
        properties,
        body: (entry.decoded as Json).body as TaskFixture["body"],
      });
    });
  }
  for (const path of listFixtures("amqp")) {
    const messages = (loadFixture(path).messages ?? []) as Json[];
    messages.forEach((m, i) => {
      const properties = m.properties as Json;
      const headers = properties.application_headers as Json;
      if (typeof headers.task !== "string") return; // rpc replies, not task messages
      out.push({
        source: `${path}#${i}`,
        wire: {
          body: new Uint8Array(Buffer.from(m.body_base64 as string, "base64")),
          contentType: m.content_type as string,
          contentEncoding: m.content_encoding as string,
          headers,
          properties: wireProperties(properties),
        },
        headers,
        properties,
        body: m.body_decoded as TaskFixture["body"],
      });
    });
  }
  return out;
}

function wireProperties(p: Json): WireProperties {
  const known = new Set(["correlation_id", "reply_to", "delivery_mode", "priority", "expiration", "application_headers", "content_type", "content_encoding"]);
  const extra: Json = {};
  for (const [key, value] of Object.entries(p)) if (!known.has(key)) extra[key] = value;
  return {
    correlationId: p.correlation_id as string | undefined,
    replyTo: p.reply_to as string | undefined,
    deliveryMode: p.delivery_mode as number | undefined,
    priority: p.priority as number | undefined,
    expiration: p.expiration as string | undefined,
    extra,
  };
}

export interface MetaFixture {
  source: string;
  /** The exact JSON text Celery stored or published. */
  raw: string;
}

/** Every result meta a worker wrote: SET values, PUBLISHed copies and the captured RETRY state. */
export function resultMetaFixtures(): MetaFixture[] {
  const out: MetaFixture[] = [];
  for (const path of [...listFixtures("redis-backend"), ...listFixtures("redis-backend-extended")]) {
    const file = loadFixture(path);
    const lists: [string, Json[]][] = [
      ["backend_entries", (file.backend_entries ?? []) as Json[]],
      ["pubsub_messages", (file.pubsub_messages ?? []) as Json[]],
      ["retry_state", (file.retry_state_meta_captured_in_worker ?? []) as Json[]],
    ];
    for (const [kind, list] of lists) {
      list.forEach((entry, i) => {
        const key = (entry.redis_key ?? entry.channel) as string;
        if (key.startsWith("celery-task-meta-") && typeof entry.raw === "string") {
          out.push({ source: `${path}#${kind}[${i}]`, raw: entry.raw });
        }
      });
    }
  }
  return out;
}

/** Replaces the fixtures' {"$bytes_base64": ...} stand-ins with Uint8Array, recursively. */
export function reviveBytes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reviveBytes);
  if (typeof value === "object" && value !== null) {
    const record = value as Json;
    if (typeof record.$bytes_base64 === "string" && Object.keys(record).length === 1) {
      return new Uint8Array(Buffer.from(record.$bytes_base64, "base64"));
    }
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, reviveBytes(v)]));
  }
  return value;
}

/** Our decoded values as JSON.parse would have given them: BigInt rounded to a number. */
export function roundBigInts(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(roundBigInts);
  if (typeof value === "object" && value !== null && !ArrayBuffer.isView(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundBigInts(v)]));
  }
  return value;
}

/** Epoch ms of a Celery timestamp string, read independently of our parser (naive = UTC). */
export function epochMs(iso: string): number {
  const aware = /(Z|[+-]\d{2}:\d{2})$/.test(iso);
  return Date.parse(aware ? iso : `${iso}Z`);
}

/** An assert.throws/rejects predicate: a ProtocolError with `code` (and a message matching `pattern`). */
export function isCode(code: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}
