// The two ways the Redis broker stores a message, in one place: kombu's JSON envelope ("celery", read
// by Python workers too) and Celeriac's compact format (see protocol/compact-envelope.ts). Publishing
// uses the broker's configured format; reading accepts both, whatever the configuration.
import { randomBytes } from "node:crypto";
import type { WireMessage } from "../../protocol/message.ts";
import { type DecodedEnvelope, fromKombuEnvelope, toKombuEnvelope } from "../../protocol/kombu-envelope.ts";
import { fromCompact, isCompact, toCompact } from "../../protocol/compact-envelope.ts";
import type { RedisMessageFormat } from "./transport-options.ts";

/** A delivery tag: kombu uses uuid4 strings, but any unique string works; 72 random bits in 12 characters. */
export function newDeliveryTag(): string {
  return randomBytes(9).toString("base64url");
}

/** The string to store for `message` published to `queue`, with a fresh delivery tag. */
export function encodeStored(format: RedisMessageFormat, queue: string, message: WireMessage): string {
  const deliveryTag = newDeliveryTag();
  return format === "compact" ? toCompact(message, deliveryTag) : toKombuEnvelope(message, { queue, deliveryTag });
}

/** Reads a stored item of either format; `queue` is the queue of the list it was taken from. */
export function decodeStored(raw: string, queue: string): DecodedEnvelope & { compact: boolean } {
  if (isCompact(raw)) return { ...fromCompact(raw, queue), compact: true };
  return { ...fromKombuEnvelope(raw), compact: false };
}

/** The delivery tag of an item fetch.lua claimed but that did not decode, so its claim can be dropped. */
export function tagOfUndecodable(raw: string): string | undefined {
  if (isCompact(raw)) return raw.slice(1, 13);
  return /"delivery_tag":\s*"([^"]+)"/.exec(raw)?.[1];
}
