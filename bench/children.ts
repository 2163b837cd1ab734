// Child processes of the harness (agents and Redis): started with a pipe on stdin (they exit when it
// closes), their JSON events parsed, every wait bounded, and every child killed when the harness exits.
import { spawn, type ChildProcess } from "node:child_process";
import { parseEvent, type AgentEvent } from "./protocol.ts";

const live = new Set<ChildProcess>();

function killAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

let hooked = false;
/** Kill every child on exit, on SIGINT/SIGTERM and on an uncaught error (then exit 1 or 130). */
export function killChildrenOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

export class Agent {
  readonly events: AgentEvent[] = [];
  private readonly listeners = new Set<() => void>();
  private tail: string[] = [];
  private exitCode: number | null | undefined = undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    live.add(child);
    let pending = "";
    const onData = (chunk: Buffer): void => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) this.onLine(line);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => this.keep(chunk.toString("utf8")));
    this.exited = new Promise<void>((resolve) => {
      child.on("exit", (code) => {
        this.exitCode = code;
        live.delete(child);
        this.notify();
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private onLine(line: string): void {
    const event = parseEvent(line);
    if (!event) return this.keep(line);
    this.events.push(event);
    this.notify();
  }

  private keep(text: string): void {
    this.tail.push(text);
    if (this.tail.length > 40) this.tail = this.tail.slice(-40);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** The latest event of a kind, if any. */
  latest<K extends AgentEvent["event"]>(kind: K): Extract<AgentEvent, { event: K }> | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]?.event === kind) return this.events[i] as Extract<AgentEvent, { event: K }>;
    return undefined;
  }

  /** Resolve once `check` holds (re-checked on every event); fail on timeout, on an error event or on exit. */
  async until<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(test);
        fn();
      };
      const test = (): void => {
        const error = this.latest("error");
        if (error) return done(() => reject(new Error(`${this.label}: ${error.message}`)));
        const value = check();
        if (value !== undefined) return done(() => resolve(value));
        if (this.exitCode !== undefined) done(() => reject(new Error(`${this.label} exited (${this.exitCode}) before ${what}:\n${this.tail.join("").slice(-3000)}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}:\n${this.tail.join("").slice(-3000)}`))), timeoutMs);
      this.listeners.add(test);
      test();
    });
  }

  /** Throw when it has reported an error or has exited (naming `what` it was doing). */
  assertAlive(what: string): void {
    const error = this.latest("error");
    if (error) throw new Error(`${this.label}: ${error.message}`);
    if (this.exitCode !== undefined) throw new Error(`${this.label} exited (${this.exitCode}) before ${what}:\n${this.tail.join("").slice(-3000)}`);
  }

  /** Wait for an event of a kind. */
  waitFor<K extends AgentEvent["event"]>(kind: K, timeoutMs: number): Promise<Extract<AgentEvent, { event: K }>> {
    return this.until(`"${kind}"`, timeoutMs, () => this.latest(kind));
  }

  /** Ask it to stop, then kill it if it has not exited within `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.stdin?.end("stop\n");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Start a child with stdin piped (closing it stops the child) and its output parsed. */
export function startAgent(label: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Agent {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], env });
  child.stdin?.on("error", () => undefined);
  return new Agent(label, child);
}
