// What the harness and its agent processes say to each other: the parameters an agent is started with
// (one JSON argument) and the JSON lines it prints on stdout. The Python agent speaks the same.

export type SystemName = "celeriac" | "bullmq" | "celery";

interface Common {
  /** Redis URL (db included) for the broker. */
  broker: string;
  /** Queue to produce to or consume from. */
  queue: string;
  /** celeriac only: the Redis broker's messageFormat ("celery", the default and Python-readable, or "compact"). */
  messageFormat?: "celery" | "compact";
}

/** A worker: consumes `queue` until told "stop", printing progress. */
export interface WorkerParams extends Common {
  role: "worker";
  /** Result backend URL (same Redis), or null for results off. */
  backend: string | null;
  /** Tasks at once (Node: async concurrency; Celery: pool size). */
  concurrency: number;
  /** Celery only: the pool ("solo" is one process). */
  pool?: string;
  prefetchMultiplier?: number;
}

/** A producer: sends `n` add(i, i) calls and reports the elapsed time. */
export interface ProduceParams extends Common {
  role: "produce";
  mode: "single" | "bulk";
  n: number;
  /** single: awaited sends in flight at once. */
  concurrency: number;
  /** bulk: calls per batch. */
  chunk: number;
  /** The tasks' results will be stored (ignore_result false). */
  results: boolean;
  /** BullMQ only: pause the queue before filling it, so workers started later wait for resume(). */
  pause?: boolean;
}

/** A client: `warmup` + `n` sequential calls, each awaited to its result, reporting each latency. */
export interface RoundtripParams extends Common {
  role: "roundtrip";
  backend: string;
  n: number;
  warmup: number;
}

export type AgentParams = WorkerParams | ProduceParams | RoundtripParams;

export type AgentEvent =
  | { event: "ready"; pid: number }
  /** Tasks completed so far in this process; first/last completion as epoch ms. */
  | { event: "progress"; done: number; first: number | null; last: number | null }
  | { event: "done"; elapsedMs?: number; latenciesMs?: number[] }
  | { event: "error"; message: string };

/** The one task every system runs: add(x, y) -> x + y. */
export const TASK_NAME = "bench.add";

/** Parse one stdout line of an agent; null for anything that is not one of our events (banners, logs). */
export function parseEvent(line: string): AgentEvent | null {
  if (!line.startsWith("{")) return null;
  try {
    const value = JSON.parse(line) as { event?: unknown };
    return typeof value.event === "string" ? (value as AgentEvent) : null;
  } catch {
    return null;
  }
}
