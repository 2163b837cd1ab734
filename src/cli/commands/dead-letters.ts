// `celeriac dead-letters list|redrive|purge`: read, replay or empty one queue's dead letters (messages
// workers gave up on, with their reason) through the broker's DeadLetterStore.
import { createInterface } from "node:readline/promises";
import type { App } from "../../app/app.ts";
import type { DeadLetter, DeadLetterStore } from "../../broker/broker.ts";
import { CeleriacError } from "../../util/errors.ts";
import { maskUrl } from "../../util/url.ts";
import { appFor } from "./call.ts";

export interface DeadLettersCommandOptions {
  app?: string;
  broker?: string;
  /** Default: the app's taskDefaultQueue ("celery"). */
  queue?: string;
}

/** Where a command asks and answers: the process's own streams, or test doubles. */
export interface Terminal {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream;
}

const processTerminal = (): Terminal => ({ input: process.stdin, output: process.stdout });

/**
 * `dead-letters list`: the oldest `limit` dead letters of the queue, one line each (time, id, task,
 * code: reason), or with `json` a JSON array. Bodies are never printed (arguments may hold secrets);
 * `argsrepr`/`kwargsrepr` are, as Celery shows them. Example: `celeriac dead-letters list -Q celery --json`.
 */
export async function runDeadLettersList(options: DeadLettersCommandOptions & { limit: number; json: boolean }, terminal = processTerminal()): Promise<number> {
  return withDeadLetters(options, async (store, queue) => {
    const letters = await store.list(queue, options.limit);
    if (options.json) {
      terminal.output.write(`${JSON.stringify(letters.map(summary))}\n`);
    } else if (letters.length === 0) {
      terminal.output.write(`no dead letters in queue "${queue}"\n`);
    } else {
      for (const letter of letters.map(summary)) terminal.output.write(`${letter.at}  ${letter.id ?? "(no id)"}  ${letter.task ?? "(no task)"}  ${letter.code}: ${letter.reason}\n`);
    }
    return 0;
  });
}

/** `dead-letters redrive`: the oldest `limit` (default all) go back to their queue, as received. */
export async function runDeadLettersRedrive(options: DeadLettersCommandOptions & { limit?: number }, terminal = processTerminal()): Promise<number> {
  return withDeadLetters(options, async (store, queue) => {
    const moved = await store.redrive(queue, options.limit ?? Infinity);
    terminal.output.write(`redrove ${moved} dead letter(s) to queue "${queue}"\n`);
    return 0;
  });
}

/**
 * `dead-letters purge`: deletes every dead letter of the queue, after a y/N confirmation on a
 * terminal unless `force`. Without a terminal to ask on (a script, a pipe) it refuses instead of
 * waiting for an answer that never comes.
 */
export async function runDeadLettersPurge(options: DeadLettersCommandOptions & { force: boolean }, terminal = processTerminal()): Promise<number> {
  // Refused before connecting: no terminal means no one to answer.
  if (!options.force) requireTerminal(terminal);
  return withDeadLetters(options, async (store, queue) => {
    if (!options.force && !(await confirm(terminal, `Delete every dead letter of queue "${queue}"? [y/N] `))) {
      terminal.output.write("nothing purged\n");
      return 1;
    }
    const purged = await store.purge(queue);
    terminal.output.write(`purged ${purged} dead letter(s) of queue "${queue}"\n`);
    return 0;
  });
}

/**
 * Asks a yes/no question on the terminal; true only for "y" or "yes". Throws CONFIRMATION_REQUIRED,
 * reading nothing, when the input is not a terminal.
 */
export async function confirm(terminal: Terminal, question: string): Promise<boolean> {
  requireTerminal(terminal);
  const prompt = createInterface({ input: terminal.input, output: terminal.output });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

function requireTerminal(terminal: Terminal): void {
  if (!terminal.input.isTTY) {
    throw new CeleriacError("CONFIRMATION_REQUIRED", "refusing to purge without --force: standard input is not a terminal to confirm on");
  }
}

async function withDeadLetters(options: DeadLettersCommandOptions, fn: (store: DeadLetterStore, queue: string) => Promise<number>): Promise<number> {
  const app: App = await appFor(options);
  try {
    const broker = await app.getBroker();
    if (!broker.capabilities.deadLetters || !broker.deadLetters) {
      throw new CeleriacError("NOT_SUPPORTED", `the broker at ${maskUrl(app.config.brokerUrl)} keeps no dead letters`);
    }
    return await fn(broker.deadLetters, options.queue ?? app.config.taskDefaultQueue);
  } finally {
    await app.close();
  }
}

function summary(letter: DeadLetter) {
  const headers = letter.message?.headers ?? {};
  const text = (name: string): string | null => (typeof headers[name] === "string" ? headers[name] : null);
  return {
    queue: letter.queue,
    at: letter.at.toISOString(),
    id: text("id"),
    task: text("task"),
    code: letter.code,
    reason: letter.reason,
    argsrepr: text("argsrepr"),
    kwargsrepr: text("kwargsrepr"),
  };
}
