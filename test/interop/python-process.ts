// The real Python Celery as a child process, for every interop test: Debian's python3-celery under
// /usr/bin/python3 (never the `python3` first on PATH, which cannot see Debian's packages), read line
// by line as JSON, and `celery worker` started and awaited until it is consuming.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { parseJson } from "../../src/protocol/json.ts";

export const PYTHON = "/usr/bin/python3";

export interface PythonProcess {
  child: ChildProcess;
  /** Resolves with the next JSON line printed on stdout (big integers as BigInt). */
  nextLine(): Promise<Record<string, unknown>>;
  stderr(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** Runs `python3 args` in `cwd` with `env` added to this process's environment. */
export function spawnPython(args: string[], cwd: string, env: Record<string, string>): PythonProcess {
  const child = spawn(PYTHON, args, { cwd, env: { ...process.env, PYTHONPATH: cwd, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    stderr: () => err,
    nextLine: () =>
      new Promise((resolve, reject) => {
        const take = (line: string): void => {
          try {
            // parseJson: integers beyond 2^53 come back exact, as BigInt.
            resolve(parseJson(line) as Record<string, unknown>);
          } catch {
            reject(new Error(`python printed a non-JSON line: ${line}\nstderr: ${err}`));
          }
        };
        const buffered = lines.shift();
        if (buffered !== undefined) return take(buffered);
        if (child.exitCode !== null) return reject(new Error(`python exited (${child.exitCode}); stderr:\n${err}`));
        const onExit = (code: number | null): void => reject(new Error(`python exited (${code}) before printing; stderr:\n${err}`));
        child.once("exit", onExit);
        waiting.push((line) => {
          child.off("exit", onExit);
          take(line);
        });
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The arguments of `celery -A <appModule> worker --pool=solo` on one queue, with no chatter. */
export function celeryWorkerArgs(queue: string, name: string, appModule = "interop_app"): string[] {
  return ["-m", "celery", "-A", appModule, "worker", "--pool=solo", "-Q", queue, "-n", `${name}@%h`, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"];
}

/** Resolves once a started `celery worker` logged "ready"; stops it and throws if it never does. */
export async function untilCeleryReady(worker: PythonProcess, timeoutMs = 30_000): Promise<PythonProcess> {
  const deadline = Date.now() + timeoutMs;
  while (!/ready\./.test(worker.stderr())) {
    if (worker.child.exitCode !== null) throw new Error(`celery worker exited:\n${worker.stderr()}`);
    if (Date.now() > deadline) {
      await worker.stop();
      throw new Error(`celery worker did not start:\n${worker.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return worker;
}
