// Tasks with an eta or countdown: short waits are held in worker memory (a bounded number of them),
// longer ones are parked back in the broker until due when the broker can delay natively, so the
// worker neither blocks other work nor holds thousands of messages, and RabbitMQ's consumer timeout
// and Redis's visibility timeout never see a message held for long.
import type { Broker, Delivery } from "../broker/broker.ts";
import { sleep } from "../util/wait.ts";

export type EtaDecision = "due" | "parked";

export interface EtaPolicy {
  /** Longest wait held in memory, in ms. */
  holdMs: number;
  /** Most deliveries held at once; beyond it, waits are parked even when short. */
  maxHeld: number;
}

export class EtaScheduler {
  private held = 0;

  constructor(
    private readonly broker: Broker,
    private readonly policy: EtaPolicy,
  ) {}

  get heldCount(): number {
    return this.held;
  }

  /**
   * Wait until `eta` or park the message in the broker. "parked" means the delivery was
   * acknowledged after a delayed copy was published; "due" means run it now. Rejects if `signal`
   * aborts while holding (the caller gives the message back).
   */
  async waitOrPark(delivery: Delivery, eta: Date, signal: AbortSignal): Promise<EtaDecision> {
    const wait = eta.getTime() - Date.now();
    if (wait <= 0) return "due";
    const canPark = this.broker.capabilities.nativeDelay;
    if (canPark && (wait > this.policy.holdMs || this.held >= this.policy.maxHeld)) {
      await this.broker.publish(delivery.queue, delivery.message, { notBefore: eta.getTime() });
      await delivery.ack();
      return "parked";
    }
    this.held++;
    try {
      await sleep(wait, signal);
    } finally {
      this.held--;
    }
    return "due";
  }
}
