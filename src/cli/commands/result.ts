// `celeriac result ID`: print a task's state and result, and with --wait wait for it to finish.
import { appFor } from "./call.ts";

export interface ResultCommandOptions {
  app?: string;
  wait: boolean;
  timeout?: number;
  broker?: string;
  backend?: string;
}

export async function runResult(id: string, options: ResultCommandOptions): Promise<number> {
  const app = await appFor(options);
  try {
    const result = app.asyncResult(id);
    if (options.wait) await result.get({ propagate: false, ...(options.timeout !== undefined ? { timeout: options.timeout } : {}) });
    const record = await result.record();
    const state = record?.state ?? "PENDING";
    const output = { id, state, result: record?.error ?? record?.value ?? null, ...(record?.traceback ? { traceback: record.traceback } : {}) };
    process.stdout.write(`${JSON.stringify(output)}\n`);
    return state === "FAILURE" || state === "REVOKED" ? 1 : 0;
  } finally {
    await app.close();
  }
}
