// Helpers the Node agents share: the agent process's main, JSON-line events to the harness, a completion
// counter with periodic progress, stop-on-stdin, and the two producer loops (concurrent awaited sends,
// sequential round trips).
import type { AgentEvent, AgentParams } from "./protocol.ts";

/** Print one event line for the harness. */
export function emit(event: AgentEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** Counts completed tasks and reports progress every 50 ms while it changes. */
export class Progress {
  done = 0;
  first: number | null = null;
  last: number | null = null;
  private reported = -1;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => this.report(), 50);
    this.timer.unref();
  }

  /** Called by the task body on every run. */
  tick(): void {
    const now = Date.now();
    if (this.first === null) this.first = now;
    this.done++;
    this.last = now;
  }

  report(): void {
    if (this.done === this.reported) return;
    this.reported = this.done;
    emit({ event: "progress", done: this.done, first: this.first, last: this.last });
  }
}

/** Exit on "stop" or when the harness goes away (stdin closes), whatever we are doing. */
export function exitOnStop(): void {
  let buffer = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buffer += chunk;
    if (buffer.split("\n").some((line) => line.trim() === "stop")) process.exit(0);
  });
  process.stdin.on("end", () => process.exit(0));
}

/**
 * An agent process: parse its parameters, exit on "stop", play the role; a producer or client exits
 * when done, a worker keeps consuming until the harness says "stop". Failures become an "error" event.
 */
export function agentMain<P extends AgentParams>(parse: () => P, run: (params: P) => Promise<void>): void {
  const main = async (): Promise<void> => {
    const params = parse();
    exitOnStop();
    await run(params);
    if (params.role !== "worker") process.exit(0);
  };
  main().catch((error: unknown) => {
    emit({ event: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  });
}

/** Run `next` at most `concurrency` at a time over 0..n-1 (each awaited), as concurrent producers do. */
export async function inParallel(n: number, concurrency: number, next: (i: number) => Promise<unknown>): Promise<void> {
  let cursor = 0;
  const lane = async (): Promise<void> => {
    while (cursor < n) await next(cursor++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, lane));
}

/** The latency of each of `warmup + n` sequential calls, warmup dropped. */
export async function sequentialLatencies(n: number, warmup: number, call: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const started = performance.now();
    await call(i);
    if (i >= warmup) latencies.push(performance.now() - started);
  }
  return latencies;
}
