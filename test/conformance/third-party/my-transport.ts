// A stand-in for a third-party package: "mytransport://<bus>", an in-process message bus shared by every
// client of the same bus name, and "myresults://<store>", a result store shared the same way. Written
// against Celeriac's public types only; the bus itself borrows the embedded broker and backend.
import type { Broker, BrokerCapabilities, BrokerOptions, ConsumeOptions, Consumer, ControlMessage, DeadLetterStore, DeliveryHandler, PublishOptions, ResultBackend, ResultRecord, WaitOptions, WireMessage } from "../../../src/index.ts";
import { MemoryBroker } from "../../../src/broker/memory/memory-broker.ts";
import { MemoryBackend } from "../../../src/backend/memory/memory-backend.ts";

/** One shared bus per name, alive while a client of it is connected. */
const buses = new Map<string, { bus: MemoryBroker; clients: number }>();

/** The transport's Broker: a client of the bus its URL names; close() ends only what it opened. */
export class MyTransportBroker implements Broker {
  readonly capabilities: BrokerCapabilities;
  readonly deadLetters: DeadLetterStore;
  private readonly name: string;
  private readonly bus: MemoryBroker;
  private readonly consumers = new Set<Consumer>();
  private readonly listeners = new Set<() => Promise<void>>();
  private connected = false;

  constructor(url: string, readonly options: BrokerOptions) {
    this.name = new URL(url).host;
    const entry = buses.get(this.name) ?? { bus: new MemoryBroker(), clients: 0 };
    buses.set(this.name, entry);
    this.bus = entry.bus;
    this.capabilities = { ...this.bus.capabilities };
    this.deadLetters = this.bus.deadLetters;
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    this.connected = true;
    const entry = buses.get(this.name) ?? { bus: this.bus, clients: 0 };
    entry.clients++;
    buses.set(this.name, entry);
    await this.bus.connect();
  }

  declareQueue(queue: string): Promise<void> {
    return this.bus.declareQueue(queue);
  }

  publish(queue: string, message: WireMessage, options?: PublishOptions): Promise<void> {
    return this.bus.publish(queue, message, options);
  }

  async consume(queues: readonly string[], handler: DeliveryHandler, options: ConsumeOptions): Promise<Consumer> {
    const inner = await this.bus.consume(queues, handler, options);
    const consumer: Consumer = {
      cancel: async () => {
        this.consumers.delete(consumer);
        await inner.cancel();
      },
    };
    this.consumers.add(consumer);
    return consumer;
  }

  purge(queue: string): Promise<number> {
    return this.bus.purge(queue);
  }

  length(queue: string): Promise<number> {
    return this.bus.length(queue);
  }

  broadcast(message: ControlMessage): Promise<void> {
    return this.bus.broadcast(message);
  }

  async onControl(listener: (message: ControlMessage) => void): Promise<() => Promise<void>> {
    const stop = await this.bus.onControl(listener);
    this.listeners.add(stop);
    return async () => {
      this.listeners.delete(stop);
      await stop();
    };
  }

  async close(): Promise<void> {
    for (const consumer of [...this.consumers]) await consumer.cancel();
    for (const stop of [...this.listeners]) await stop();
    this.listeners.clear();
    if (!this.connected) return;
    this.connected = false;
    const entry = buses.get(this.name);
    if (entry && --entry.clients === 0) {
      buses.delete(this.name);
      await entry.bus.close();
    }
  }
}

const stores = new Map<string, MemoryBackend>();

/** The package's ResultBackend: results shared by every client of the same store name. */
export class MyResultsBackend implements ResultBackend {
  private readonly results: MemoryBackend;

  constructor(url: string, expiresSeconds: number) {
    const name = new URL(url).host;
    this.results = stores.get(name) ?? new MemoryBackend(expiresSeconds);
    stores.set(name, this.results);
  }

  async connect(): Promise<void> {}

  store(record: ResultRecord): Promise<void> {
    return this.results.store(record);
  }

  get(taskId: string): Promise<ResultRecord | null> {
    return this.results.get(taskId);
  }

  waitForReady(taskId: string, options?: WaitOptions): Promise<ResultRecord> {
    return this.results.waitForReady(taskId, options);
  }

  forget(taskId: string): Promise<void> {
    return this.results.forget(taskId);
  }

  /** The store outlives its clients (another one may still read it). */
  async close(): Promise<void> {}
}
