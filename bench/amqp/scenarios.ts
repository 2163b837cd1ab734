// The RabbitMQ benchmark's measurements (bench/amqp/run.ts drives them): awaited enqueue, fill-then-drain
// with one worker process, rpc:// round trips, and the connections and channels a worker opens.
import type { Agent } from "../children.ts";
import type { AgentParams, ProduceParams, WorkerParams } from "../protocol.ts";
import { percentile, type Sizes } from "../scenarios.ts";
import { RabbitAdmin, connectionsOf } from "./rabbit.ts";
import { PERCENTILE_UNITS, type AmqpScenario, type AmqpSystem, type AmqpUnit } from "./report.ts";

/** The harness's units of work: each measures some scenarios on its own queue. */
export type Block = "enqueue" | "drain" | "roundtrip";

export interface Measurement {
  scenario: AmqpScenario;
  unit: AmqpUnit;
  value: number;
  detail?: string;
}

/** How the harness starts one agent of a system, and the worker settings of the Redis benchmark. */
export interface Driver {
  name: AmqpSystem;
  start(label: string, params: AgentParams, connectionName: string): Agent;
  worker: { concurrency: number; pool?: string; prefetchMultiplier?: number };
  /** rpc:// for both: results travel over the broker connection. */
  backend: string;
}

export const log = (line: string): void => void process.stderr.write(`${line}\n`);
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function brokerPort(url: string): number {
  const parsed = new URL(url.replace(/^pyamqp:/, "amqp:"));
  return Number(parsed.port || (parsed.protocol === "amqps:" ? 5671 : 5672));
}

/** The measurements, one agent set at a time, each on fresh queues deleted afterwards. */
export class Bench {
  private seq = 0;
  constructor(
    private readonly admin: RabbitAdmin,
    private readonly url: string,
    readonly prefix: string,
  ) {}

  /** A fresh queue name for one measurement, and the names to delete after it (Celery's warm-up queue too). */
  private queue(system: AmqpSystem, block: Block): { queue: string; created: string[] } {
    const queue = `${this.prefix}.${++this.seq}.${block}.${system}`;
    return { queue, created: [queue, `${queue}.warmup`] };
  }

  /** Messages in `queue` once it holds `n` (publishes without confirms may still be in flight), or after 5 s. */
  private async settledDepth(queue: string, n: number): Promise<number> {
    const deadline = Date.now() + 5000;
    let depth = await this.admin.depth(queue);
    while (depth < n && Date.now() < deadline) {
      await sleep(50);
      depth = await this.admin.depth(queue);
    }
    return depth;
  }

  private async cleanup(created: readonly string[]): Promise<void> {
    const failed = await this.admin.remove(created);
    if (failed.length) log(`could not delete: ${failed.join("; ")}`);
  }

  private producer(sys: Driver, queue: string, overrides: Partial<ProduceParams>): Agent {
    const params: ProduceParams = { role: "produce", broker: this.url, queue, mode: "single", n: 0, concurrency: 1, chunk: 1000, results: false, ...overrides };
    return sys.start(`${sys.name} producer`, params, `${this.prefix}-${sys.name}-producer`);
  }

  private worker(sys: Driver, queue: string, results: boolean, connectionName: string): Agent {
    const params: WorkerParams = { role: "worker", broker: this.url, queue, backend: results ? sys.backend : null, ...sys.worker };
    return sys.start(`${sys.name} worker`, params, connectionName);
  }

  private async connections(sys: Driver, agent: Agent, connectionName: string, detail: string): Promise<Measurement[]> {
    const seen = await connectionsOf(agent.pid, brokerPort(this.url), sys.name === "celeriac" ? connectionName : undefined);
    if (process.env["BENCH_DEBUG"]) log(`${sys.name} ${detail}: ${JSON.stringify(seen)}`);
    return [
      { scenario: "connections", unit: "connections", value: seen.connections, detail },
      { scenario: "connections", unit: "channels", value: seen.channels, detail },
    ];
  }

  /** Awaited single sends (celeriac: 50 in flight, each confirmed; Celery: sequential, as on Redis). */
  async enqueue(sys: Driver, sizes: Sizes): Promise<Measurement[]> {
    const { queue, created } = this.queue(sys.name, "enqueue");
    const agent = this.producer(sys, queue, { mode: "single", n: sizes.enqueue, concurrency: sizes.producerConcurrency });
    try {
      const { elapsedMs = NaN } = await agent.waitFor("done", 120_000 + sizes.enqueue * 5);
      const queued = await this.settledDepth(queue, sizes.enqueue);
      if (queued !== sizes.enqueue) throw new Error(`${sys.name}: ${queued} messages queued for ${sizes.enqueue} sent`);
      return [{ scenario: "enqueue", unit: "tasks/s", value: (sizes.enqueue / elapsedMs) * 1000 }];
    } finally {
      await agent.stop();
      await this.cleanup(created);
    }
  }

  /**
   * Fill the queue (timed: enqueue_bulk), then start one worker process on it (results off) and time
   * its first to its last completed task; producer and worker never overlap.
   */
  async drain(sys: Driver, sizes: Sizes, measureConnections: boolean): Promise<Measurement[]> {
    const n = sizes.drain;
    const { queue, created } = this.queue(sys.name, "drain");
    let w: Agent | null = null;
    try {
      const fill = this.producer(sys, queue, { mode: "bulk", n, chunk: sizes.chunk });
      const { elapsedMs: fillMs = NaN } = await fill.waitFor("done", 120_000 + n * 2).finally(() => fill.stop());
      const queued = await this.settledDepth(queue, n);
      if (queued !== n) throw new Error(`${sys.name}: ${queued} messages queued for ${n} sent`);
      const name = `${this.prefix}-${sys.name}-worker-${this.seq}`;
      const worker = this.worker(sys, queue, false, name);
      w = worker;
      await worker.until(`${n} tasks done`, 300_000, () => ((worker.latest("progress")?.done ?? 0) >= n ? true : undefined));
      const last = worker.latest("progress");
      const firstAt = last?.first ?? NaN;
      const lastAt = last?.last ?? NaN;
      if (last?.done !== n) throw new Error(`${sys.name}: ${last?.done ?? 0} tasks ran for ${n} sent`);
      if (process.env["BENCH_DEBUG"]) log(`${sys.name} drain: first → last ${lastAt - firstAt} ms`);
      const out: Measurement[] = [
        { scenario: "enqueue_bulk", unit: "tasks/s", value: (n / fillMs) * 1000 },
        { scenario: "drain", unit: "tasks/s", value: (n / (lastAt - firstAt)) * 1000 },
      ];
      if (measureConnections) out.push(...(await this.connections(sys, worker, name, "worker")));
      return out;
    } finally {
      await w?.stop();
      await this.cleanup(created);
    }
  }

  /** Sequential calls awaited to their rpc:// result; then the worker's connections with results on. */
  async roundtrip(sys: Driver, sizes: Sizes, measureConnections: boolean): Promise<Measurement[]> {
    const { queue, created } = this.queue(sys.name, "roundtrip");
    const name = `${this.prefix}-${sys.name}-worker-${this.seq}`;
    const w = this.worker(sys, queue, true, name);
    let client: Agent | null = null;
    try {
      await w.waitFor("ready", 60_000);
      client = sys.start(`${sys.name} client`, { role: "roundtrip", broker: this.url, backend: sys.backend, queue, n: sizes.roundtrip, warmup: sizes.warmup }, `${this.prefix}-${sys.name}-client`);
      const { latenciesMs = [] } = await client.waitFor("done", 60_000 + (sizes.roundtrip + sizes.warmup) * 100);
      const sorted = [...latenciesMs].sort((a, b) => a - b);
      const out: Measurement[] = PERCENTILE_UNITS.map((unit) => ({ scenario: "roundtrip", unit, value: percentile(sorted, Number(unit.slice(4))) }));
      if (measureConnections) out.push(...(await this.connections(sys, w, name, "worker_results")));
      return out;
    } finally {
      await Promise.all([w.stop(), client?.stop()]);
      await this.cleanup(created);
    }
  }
}
