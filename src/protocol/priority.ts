// How kombu's virtual transports (Redis, and our in-memory broker, which mirrors them) read a message
// priority: lower numbers first, grouped into the steps 0, 3, 6 and 9. AMQP reads priorities the other
// way round (higher first) and needs no mapping: RabbitMQ does it natively.

/** kombu's default `priority_steps`. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;
export type PriorityStep = (typeof PRIORITY_STEPS)[number];

/** The step a priority falls into: the largest step not above it (kombu `Channel.priority`). */
export function priorityStep(priority: number | null | undefined): PriorityStep {
  const p = priority ?? 0;
  let step: PriorityStep = 0;
  for (const candidate of PRIORITY_STEPS) if (p >= candidate) step = candidate;
  return step;
}
