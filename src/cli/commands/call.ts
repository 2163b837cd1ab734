// `celeriac call NAME`: send a task by name and print its id, and with --wait its result.
import { App } from "../../app/app.ts";
import { ConfigError } from "../../util/errors.ts";
import { connectionOverrides, type ConnectionFlags } from "../connection-flags.ts";
import { loadApp } from "../load-app.ts";

export interface CallCommandOptions {
  app?: string;
  args: string;
  kwargs: string;
  queue?: string;
  countdown?: number;
  wait: boolean;
  timeout?: number;
  broker?: string;
  backend?: string;
}

function parseJson<T>(text: string, flag: string, check: (value: unknown) => value is T, expected: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(`${flag} is not valid JSON: ${text}`);
  }
  if (!check(value)) throw new ConfigError(`${flag} must be ${expected}, got ${text}`);
  return value;
}

/** The app named by -A (with flag overrides), or one built from the environment and flags alone. */
export async function appFor(options: ConnectionFlags & { app?: string | undefined }): Promise<App> {
  const overrides = connectionOverrides(options);
  const app = options.app ? (await loadApp(options.app)).withConfig(overrides) : new App(overrides);
  if (app.config.brokerUrl.startsWith("memory:")) {
    throw new ConfigError("the embedded memory:// broker lives inside one process; give --broker (or CELERIAC_BROKER_URL) to reach a worker");
  }
  return app;
}

export async function runCall(name: string, options: CallCommandOptions): Promise<number> {
  const args = parseJson(options.args, "--args", Array.isArray, "a JSON array");
  const kwargs = parseJson(options.kwargs, "--kwargs", (v): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v), "a JSON object");
  const app = await appFor(options);
  // Refuse before sending: a task sent only to report that its result cannot be read is a surprise.
  if (options.wait && app.config.resultBackend === null) {
    throw new ConfigError('--wait needs a result backend and none is configured: give --backend (e.g. "redis://localhost:6379/1") or set CELERIAC_RESULT_BACKEND');
  }
  try {
    const result = await app.sendTask(name, args, {
      kwargs,
      ...(options.queue ? { queue: options.queue } : {}),
      ...(options.countdown !== undefined ? { countdown: options.countdown } : {}),
    });
    process.stdout.write(`${result.id}\n`);
    if (options.wait) {
      const value = await result.get(options.timeout !== undefined ? { timeout: options.timeout } : {});
      process.stdout.write(`${JSON.stringify(value)}\n`);
    }
    return 0;
  } finally {
    await app.close();
  }
}
