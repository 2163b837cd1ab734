// The embedded in-process broker (`memory://`): queues live in this process, so a newcomer runs a
// producer and a worker with zero servers. It orders priorities as kombu's Redis transport does, and
// keeps dead letters in memory (the last DEAD_LETTER_LIMIT per queue).
import {
  DEAD_LETTER_LIMIT,
  type Broker,
  type BrokerCapabilities,
  type ConsumeOptions,
  type Consumer,
  type ControlMessage,
  type DeadLetter,
  type DeadLetterStore,
  type Delivery,
  type DeliveryHandler,
  type PublishOptions,
} from "../broker.ts";
import type { WireMessage } from "../../protocol/message.ts";
import { PRIORITY_STEPS, priorityStep } from "../../protocol/priority.ts";
import { Deque } from "../../util/deque.ts";

interface Stored {
  message: WireMessage;
  /** Deliveries so far: 0 until first delivered, one more for each delivery. */
  deliveries: number;
}

class MemoryQueue {
  readonly buckets = PRIORITY_STEPS.map(() => new Deque<Stored>());

  get length(): number {
    return this.buckets.reduce((sum, bucket) => sum + bucket.length, 0);
  }

  bucketFor(message: WireMessage): Deque<Stored> {
    return this.buckets[PRIORITY_STEPS.indexOf(priorityStep(message.properties.priority))] as Deque<Stored>;
  }

  take(): Stored | undefined {
    for (const bucket of this.buckets) if (bucket.length) return bucket.shift();
    return undefined;
  }
}

interface MemoryConsumer {
  queues: readonly string[];
  handler: DeliveryHandler;
  prefetch: number;
  unsettled: number;
  active: boolean;
}

export class MemoryBroker implements Broker {
  readonly capabilities: BrokerCapabilities = { nativeDelay: true, priorities: true, confirms: true, control: true, deadLetters: true };
  private readonly queues = new Map<string, MemoryQueue>();
  private readonly dead = new Map<string, Deque<DeadLetter>>();
  private readonly consumers: MemoryConsumer[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly controlListeners = new Set<(message: ControlMessage) => void>();
  private dispatching = false;
  private closed = false;

  async connect(): Promise<void> {
    this.closed = false;
  }

  async declareQueue(queue: string): Promise<void> {
    this.queue(queue);
  }

  async publish(queue: string, message: WireMessage, options: PublishOptions = {}): Promise<void> {
    this.assertOpen();
    const delay = options.notBefore === undefined ? 0 : options.notBefore - Date.now();
    if (delay > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.enqueue(queue, { message, deliveries: 0 }, false);
      }, delay);
      timer.unref();
      this.timers.add(timer);
      return;
    }
    this.enqueue(queue, { message, deliveries: 0 }, false);
  }

  /** Bulk publish: in-process, so simply one publish after another, in order. */
  async publishMany(queue: string, messages: readonly WireMessage[]): Promise<void> {
    for (const message of messages) await this.publish(queue, message);
  }

  async consume(queues: readonly string[], handler: DeliveryHandler, options: ConsumeOptions): Promise<Consumer> {
    this.assertOpen();
    for (const name of queues) this.queue(name);
    const consumer: MemoryConsumer = { queues, handler, prefetch: Math.max(1, options.prefetch), unsettled: 0, active: true };
    this.consumers.push(consumer);
    this.scheduleDispatch();
    return {
      cancel: async () => {
        consumer.active = false;
        const index = this.consumers.indexOf(consumer);
        if (index >= 0) this.consumers.splice(index, 1);
      },
    };
  }

  async purge(queue: string): Promise<number> {
    return this.queue(queue).buckets.reduce((sum, bucket) => sum + bucket.clear(), 0);
  }

  async length(queue: string): Promise<number> {
    return this.queue(queue).length;
  }

  readonly deadLetters: DeadLetterStore = {
    list: async (queue, limit) => this.dead.get(queue)?.peek(limit) ?? [],
    redrive: async (queue, limit) => {
      const letters = this.dead.get(queue);
      // At most what is there now: a message dead-lettered again while this runs is not taken twice.
      const wanted = Math.min(limit, letters?.length ?? 0);
      let moved = 0;
      while (letters?.length && moved < wanted) {
        const letter = letters.shift() as DeadLetter;
        // Undecodable letters cannot occur here: the memory broker never decodes what it holds.
        if (letter.message) this.enqueue(queue, { message: letter.message, deliveries: 0 }, false);
        moved++;
      }
      return moved;
    },
    purge: async (queue) => this.dead.get(queue)?.clear() ?? 0,
  };

  async broadcast(message: ControlMessage): Promise<void> {
    for (const listener of this.controlListeners) queueMicrotask(() => listener(message));
  }

  async onControl(listener: (message: ControlMessage) => void): Promise<() => Promise<void>> {
    this.controlListeners.add(listener);
    return async () => {
      this.controlListeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.consumers.length = 0;
    this.controlListeners.clear();
  }

  private queue(name: string): MemoryQueue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new MemoryQueue();
      this.queues.set(name, queue);
    }
    return queue;
  }

  private enqueue(queue: string, stored: Stored, atFront: boolean): void {
    if (this.closed) return;
    const bucket = this.queue(queue).bucketFor(stored.message);
    if (atFront) bucket.unshift(stored);
    else bucket.push(stored);
    this.scheduleDispatch();
  }

  // Dispatch on a microtask so publish() never runs consumer code synchronously inside the caller.
  private scheduleDispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    queueMicrotask(() => {
      this.dispatching = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (const consumer of this.consumers) {
        if (!consumer.active || consumer.unsettled >= consumer.prefetch) continue;
        for (const name of consumer.queues) {
          const stored = this.queue(name).take();
          if (!stored) continue;
          consumer.unsettled++;
          stored.deliveries++;
          consumer.handler(this.delivery(consumer, name, stored));
          progressed = true;
          break;
        }
      }
    }
  }

  private delivery(consumer: MemoryConsumer, queue: string, stored: Stored): Delivery {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      consumer.unsettled--;
      this.scheduleDispatch();
      return true;
    };
    return {
      message: stored.message,
      queue,
      redelivered: stored.deliveries > 1,
      deliveryCount: stored.deliveries,
      stale: false,
      ack: async () => {
        settle();
      },
      reject: async ({ requeue, reason }) => {
        if (!settle()) return;
        if (requeue) this.enqueue(queue, stored, true);
        else if (reason) this.bury({ queue, code: reason.code, reason: reason.message, at: new Date(), message: stored.message });
      },
    };
  }

  private bury(letter: DeadLetter): void {
    let letters = this.dead.get(letter.queue);
    if (!letters) this.dead.set(letter.queue, (letters = new Deque<DeadLetter>()));
    letters.push(letter);
    if (letters.length > DEAD_LETTER_LIMIT) letters.shift();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("memory broker is closed");
  }
}

/** Creates the embedded broker. Example: `createMemoryBroker()`; the URL is `memory://`. */
export function createMemoryBroker(): MemoryBroker {
  return new MemoryBroker();
}
