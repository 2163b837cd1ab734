// Small builders shared by the conformance specs (and the project's own tests): unique queue names,
// wire messages to publish, and polling for a condition.
import { randomUUID } from "node:crypto";
import type { WireMessage } from "../protocol/message.ts";

export function uniqueQueue(prefix = "conformance"): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A small JSON wire message whose body says `label`, so tests can tell messages apart. */
export function wireMessage(label: string, priority?: number): WireMessage {
  return {
    body: new TextEncoder().encode(JSON.stringify([[label], {}, { callbacks: null, errbacks: null, chain: null, chord: null }])),
    contentType: "application/json",
    contentEncoding: "utf-8",
    headers: { task: "conformance.echo", id: randomUUID(), lang: "js", retries: 0 },
    properties: { correlationId: label, priority: priority ?? 0, deliveryMode: 2 },
  };
}

export function labelOf(message: WireMessage): string {
  const body = JSON.parse(new TextDecoder().decode(message.body)) as [[string]];
  return body[0][0];
}

/** Resolves once `predicate` holds, polling every 5 ms; rejects after `timeoutMs`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
