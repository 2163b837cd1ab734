// The `celeriac` command line: parses arguments and calls one library function per command. Nothing
// here knows how a worker or a broker works.
import { Command, InvalidArgumentError, Option } from "commander";
import { CeleriacError } from "../util/errors.ts";
import { runCall } from "./commands/call.ts";
import { runDeadLettersList, runDeadLettersPurge, runDeadLettersRedrive } from "./commands/dead-letters.ts";
import { runDemo } from "./commands/demo.ts";
import { runResult } from "./commands/result.ts";
import { runWorker } from "./commands/worker.ts";

const integer = (min: number) => (text: string): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
  return value;
};
const seconds = (text: string): number => {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError("expected a number of seconds >= 0");
  return value;
};
const list = (text: string): string[] => text.split(",").map((s) => s.trim()).filter(Boolean);

export function buildProgram(): Command {
  const program = new Command("celeriac")
    .description("A distributed task queue for Node.js that speaks Celery's protocol")
    .version("0.1.0")
    .showHelpAfterError();

  const connection = (command: Command): Command =>
    command
      .option("--broker <url>", "broker URL (overrides CELERIAC_BROKER_URL / CELERY_BROKER_URL / BROKER_URL)")
      .option("--backend <url>", "result backend URL, or none to store no results (overrides CELERIAC_RESULT_BACKEND / CELERY_RESULT_BACKEND)");

  connection(
    program
      .command("worker")
      .description("start a worker that runs the tasks of an app module")
      .requiredOption("-A, --app <module>", "module exporting the app (.ts or .js)")
      .option("-Q, --queues <names>", "comma-separated queues to consume", list)
      .option("-c, --concurrency <n>", "tasks run at once", integer(1))
      .option("--prefetch-multiplier <n>", "unstarted messages held per unit of concurrency", integer(1))
      .option("-n, --hostname <name>", "worker name")
      .option("--shutdown-timeout <seconds>", "seconds running tasks get on SIGTERM", seconds)
      .addOption(new Option("-l, --loglevel <level>", "log level").choices(["debug", "info", "warn", "error"]).default("info"))
      .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]).default("text")),
  ).action(async (options) => {
    try {
      process.exitCode = await runWorker(options);
    } catch (error) {
      fail(error);
    }
    // The worker has stopped, run the stop hooks and closed its connections: whatever the task module
    // still holds open (a database pool, a client, a timer) must not keep the process alive.
    process.exit();
  });

  connection(
    program
      .command("call <name>")
      .description("send a task by name and print its id")
      .option("-A, --app <module>", "module exporting the app (for its config)")
      .option("--args <json>", "positional arguments as a JSON array", "[]")
      .option("--kwargs <json>", "keyword arguments as a JSON object", "{}")
      .option("--queue <name>", "queue to send to")
      .option("--countdown <seconds>", "seconds before the task may run", seconds)
      .option("--wait", "wait for the result and print it", false)
      .option("--timeout <seconds>", "with --wait, give up after this many seconds", seconds),
  ).action(async (name: string, options) => {
    process.exitCode = await runCall(name, options);
  });

  connection(
    program
      .command("result <id>")
      .description("print a task's state and result")
      .option("-A, --app <module>", "module exporting the app (for its config)")
      .option("--wait", "wait until the task is finished", false)
      .option("--timeout <seconds>", "with --wait, give up after this many seconds", seconds),
  ).action(async (id: string, options) => {
    process.exitCode = await runResult(id, options);
  });

  const deadLetters = program.command("dead-letters").description("list, redrive or purge a queue's dead letters: messages workers gave up on, with the reason");
  const queueOf = (command: Command): Command =>
    command
      .option("-A, --app <module>", "module exporting the app (for its config)")
      .option("--broker <url>", "broker URL (overrides CELERIAC_BROKER_URL / CELERY_BROKER_URL / BROKER_URL)")
      .option("-Q, --queue <name>", "the queue the messages came from (default: the app's default queue)");
  queueOf(deadLetters.command("list").description("print the oldest dead letters: time, id, task, code and reason"))
    .option("--limit <n>", "at most this many", integer(1), 20)
    .option("--json", "print a JSON array", false)
    .action(async (options) => {
      process.exitCode = await runDeadLettersList(options);
    });
  queueOf(deadLetters.command("redrive").description("put dead letters back on their queue, as received, oldest first"))
    .option("--limit <n>", "at most this many (default: all)", integer(1))
    .action(async (options) => {
      process.exitCode = await runDeadLettersRedrive(options);
    });
  queueOf(deadLetters.command("purge").description("delete every dead letter of the queue (asks first)"))
    .option("--force", "do not ask; required when standard input is not a terminal", false)
    .action(async (options) => {
      process.exitCode = await runDeadLettersPurge(options);
    });

  program
    .command("demo")
    .description("run a worker and a realistic task mix in this process on the embedded broker")
    .option("--quiet", "no live progress lines", false)
    .action(async (options) => {
      process.exitCode = await runDemo(options);
    });

  return program;
}

/** Run the CLI with `argv` (as process.argv). Errors print one clear line and exit non-zero. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    fail(error);
  }
}

/** Print one clear line for a failure and set exit code 2. */
function fail(error: unknown): void {
  const message = error instanceof CeleriacError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
  process.stderr.write(`celeriac: ${message}\n`);
  process.exitCode = 2;
}
