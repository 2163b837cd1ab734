// Child processes for the end-to-end tests: the `celeriac` command or a script, run as a user runs it,
// with its output collected and its end timed. A child still running past its limit is SIGKILLed and
// reported as such, so a hang fails the test instead of the whole run.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CELERIAC_BIN = fileURLToPath(new URL("../../bin/celeriac.js", import.meta.url));

export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed by us after its limit: it would not end by itself. */
  killed: boolean;
  stdout: string;
  stderr: string;
}

export interface Child {
  readonly process: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when `pattern` appears on stderr; rejects after `timeoutMs` or when the child ends first. */
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** Resolves when the child has exited (SIGKILLed after `limitMs` from now). */
  ended(limitMs: number): Promise<Ended>;
}

/** Starts `node <args>` with `env` added to this process's environment. */
function startNode(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let killed = false;
  return {
    process: child,
    stdout: () => out,
    stderr: () => err,
    async waitForStderr(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(err)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the child ended before printing ${pattern}:\n${err}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} on stderr within ${timeoutMs} ms:\n${err}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async ended(limitMs) {
      const timer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, limitMs);
      const { code, signal } = await exit;
      clearTimeout(timer);
      return { code, signal, killed, stdout: out, stderr: err };
    },
  };
}

/** Starts `celeriac <args>` (the bin loads TypeScript task modules itself). */
export function startCeleriac(args: string[], env: Record<string, string> = {}): Child {
  return startNode([CELERIAC_BIN, ...args], env);
}

/** Starts a TypeScript script through tsx, as `node --import tsx script.ts`. */
export function startScript(path: string, env: Record<string, string> = {}): Child {
  return startNode(["--import", "tsx", path], env);
}
