// How often RabbitMQ has delivered a message. Quorum queues count it themselves (`x-delivery-count`,
// set from the second delivery on, RabbitMQ 3.10+). Classic queues count nothing beyond the
// `redelivered` flag, so a requeue there is a re-publish carrying `x-celeriac-delivery-count` (the
// deliveries so far), confirmed before the original is acked (consumer.ts). Both headers are removed
// from the message handed on: a retry, a dead letter or a redrive made from it starts counting afresh.
import type { WireMessage } from "../../protocol/message.ts";

/** Set by RabbitMQ on quorum queues: how often the message was returned before. */
const QUORUM_COUNT = "x-delivery-count";
/** Set by our classic-queue requeue: deliveries before the re-publish. */
export const CLASSIC_COUNT = "x-celeriac-delivery-count";

/**
 * The delivery count of a received message, taking its count headers out of `headers`: 1 + the
 * deliveries a classic requeue carried + the returns RabbitMQ counted (at least one when `redelivered`:
 * a classic queue's crash return, which no header counts). Example: `takeDeliveryCount({ "x-delivery-count": 2 }, true) === 3`.
 */
export function takeDeliveryCount(headers: Record<string, unknown>, redelivered: boolean): number {
  const carried = countHeader(headers[CLASSIC_COUNT]);
  const returned = countHeader(headers[QUORUM_COUNT]);
  dropDeliveryCount(headers);
  return 1 + carried + Math.max(returned, redelivered ? 1 : 0);
}

/** Removes both count headers (a dead letter read back from its own quorum queue gets RabbitMQ's too). */
export function dropDeliveryCount(headers: Record<string, unknown>): void {
  delete headers[CLASSIC_COUNT];
  delete headers[QUORUM_COUNT];
}

/** `message` with the deliveries so far in its headers, for a classic queue's requeue by re-publish. */
export function withDeliveryCount(message: WireMessage, deliveries: number): WireMessage {
  return { ...message, headers: { ...message.headers, [CLASSIC_COUNT]: deliveries } };
}

/** A count header's value, or 0 for anything else (a producer may send anything under any name). */
function countHeader(value: unknown): number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : 0;
}
