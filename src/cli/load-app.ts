// Finds the app in a user's task module (-A ./tasks.ts): the default export, an export named `app`,
// or the only exported app. TypeScript modules load directly through tsx, registered by the bin script.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { App } from "../app/app.ts";
import { ConfigError } from "../util/errors.ts";

// Duck-typed, so an app built by another copy of Celeriac (a linked package) is still found.
function isApp(value: unknown): value is App {
  return value instanceof App || (typeof value === "object" && value !== null && "getTask" in value && "getBroker" in value && "config" in value);
}

export async function loadApp(modulePath: string): Promise<App> {
  const url = pathToFileURL(resolve(process.cwd(), modulePath)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`cannot load task module "${modulePath}": ${(error as Error).message}`);
  }
  const candidates = [module["default"], module["app"], ...Object.values(module)].filter(isApp);
  const app = candidates[0];
  if (!app) throw new ConfigError(`task module "${modulePath}" exports no app; export one, e.g. \`export const app = createApp()\``);
  return app;
}
