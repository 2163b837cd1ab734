// Poison messages stop: a message the broker has delivered more often than `workerMaxDeliveries`
// allows is dead-lettered (TOO_MANY_DELIVERIES, FAILURE stored) instead of run again, and a message whose
// outcome could not be settled goes back to its queue only after a backoff that doubles with each
// delivery, so a failing backend or broker is not hammered by the same message in a tight loop.
import type { Config } from "../app/config.ts";
import { TooManyDeliveries } from "../app/errors.ts";
import type { Delivery } from "../broker/broker.ts";
import type { TaskMessage } from "../protocol/message.ts";
import { exponentialBackoff } from "../util/backoff.ts";
import { sleep } from "../util/wait.ts";
import { settleUnrunnable, type SettleContext } from "./settle.ts";

/** The longest a settle failure's requeue waits, whatever the delivery count. */
const MAX_REQUEUE_DELAY_SECONDS = 60;

/**
 * The error to dead-letter `delivery` with when the broker has delivered it more often than allowed,
 * else null. Example: `const over = overDeliveryLimit(app.config, delivery); if (over) settleUnrunnable(ctx, delivery, message, over)`.
 */
export function overDeliveryLimit(config: Pick<Config, "workerMaxDeliveries">, delivery: Delivery): TooManyDeliveries | null {
  if (delivery.deliveryCount <= config.workerMaxDeliveries) return null;
  return new TooManyDeliveries(`delivered ${delivery.deliveryCount} times, more than workerMaxDeliveries (${config.workerMaxDeliveries}): its outcome could not be settled, or its worker was lost, each time`);
}

/**
 * Milliseconds to wait before requeueing a delivery whose settle failed: workerRequeueDelaySeconds,
 * doubled for each earlier delivery, at most 60 s. Example: `requeueDelayMs(config, 3) === 4000` with the default 1 s.
 */
export function requeueDelayMs(config: Pick<Config, "workerRequeueDelaySeconds">, deliveryCount: number): number {
  return exponentialBackoff(config.workerRequeueDelaySeconds, Math.max(0, deliveryCount - 1), MAX_REQUEUE_DELAY_SECONDS, false) * 1000;
}

/**
 * A delivery whose outcome could not be settled (`error`: a result store or a follow-up publish that
 * failed): on its last allowed delivery it is dead-lettered (FAILURE stored where possible), else it
 * is requeued after requeueDelayMs(); `stopping` cuts the wait short (the message goes back at once).
 * Never rejects.
 */
export async function giveBackUnsettled(ctx: SettleContext, delivery: Delivery, message: TaskMessage, error: unknown, stopping: AbortSignal): Promise<void> {
  const { config } = ctx.app;
  const reason = error instanceof Error ? error.message : String(error);
  if (delivery.deliveryCount >= config.workerMaxDeliveries) {
    const limit = new TooManyDeliveries(`delivered ${delivery.deliveryCount} times (workerMaxDeliveries ${config.workerMaxDeliveries}) and could not be settled the last time: ${reason}`);
    return settleUnrunnable(ctx, delivery, message, limit);
  }
  await sleep(requeueDelayMs(config, delivery.deliveryCount), stopping).catch(() => {});
  await delivery.reject({ requeue: true }).catch(() => {});
}
