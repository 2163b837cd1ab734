// The two ways the Redis broker stores a message, in one place: kombu's JSON envelope ("celery", read
// by Python workers too) and Celeriac's compact format (see protocol/compact-envelope.ts). Publishing
// uses the broker's configured format; reading accepts both, whatever the configuration.
import { randomBytes } from "node:crypto";
import type { WireMessage } from "../../protocol/message.ts";
import { type DecodedEnvelope, fromKombuEnvelope, toKombuEnvelope } from "../../protocol/kombu-envelope.ts";
import { fromCompact, isCompact, toCompact } from "../../protocol/compact-envelope.ts";
import type { RedisMessageFormat } from "./transport-options.ts";

const TAG_BYTES = 9;
/** Tags per randomBytes() call: one syscall per 512 tags instead of one per tag. */
const TAGS_PER_POOL = 512;
let pool: Buffer = Buffer.alloc(0);
let poolAt = 0;

/**
 * A delivery tag: kombu uses uuid4 strings, but any unique string works; 72 random bits in 12 characters
 * (base64url), taken from a pooled CSPRNG buffer, each byte used once.
 */
export function newDeliveryTag(): string {
  if (poolAt + TAG_BYTES > pool.length) {
    pool = randomBytes(TAG_BYTES * TAGS_PER_POOL);
    poolAt = 0;
  }
  const tag = pool.toString("base64url", poolAt, poolAt + TAG_BYTES);
  poolAt += TAG_BYTES;
  return tag;
}

/** The string to store for `message` published to `queue`, with a fresh delivery tag. */
export function encodeStored(format: RedisMessageFormat, queue: string, message: WireMessage): string {
  const deliveryTag = newDeliveryTag();
  return format === "compact" ? toCompact(message, deliveryTag) : toKombuEnvelope(message, { queue, deliveryTag });
}

/** Reads a stored item of either format; `queue` is the queue of the list it was taken from. */
export function decodeStored(raw: string, queue: string): DecodedEnvelope {
  return isCompact(raw) ? fromCompact(raw, queue) : fromKombuEnvelope(raw);
}
