// Picks the result backend implementation for a URL scheme. Implementations load lazily, so importing
// Celeriac opens nothing and loads no client library the app does not use.
import type { BackendFactory, BackendOptions, ResultBackend } from "./backend.ts";
import { ConfigError } from "../util/errors.ts";
import { schemeOf } from "../util/url.ts";

type Loader = () => Promise<BackendFactory>;

const loaders: Record<string, Loader> = {
  "memory:": async () => (await import("./memory/memory-backend.ts")).createMemoryBackendFromUrl,
  "rpc:": async () => (await import("./rpc/rpc-backend.ts")).createRpcBackend,
  "redis:": async () => (await import("./redis/backend.ts")).createRedisBackend,
  "rediss:": async () => (await import("./redis/backend.ts")).createRedisBackend,
  "unix:": async () => (await import("./redis/backend.ts")).createRedisBackend,
  "redis+socket:": async () => (await import("./redis/backend.ts")).createRedisBackend,
};

export function backendSchemes(): string[] {
  return Object.keys(loaders);
}

/** Creates the backend for `url`. Example: `await createBackend("redis://localhost:6379/1", options)`. */
export async function createBackend(url: string, options: BackendOptions): Promise<ResultBackend> {
  const scheme = schemeOf(url);
  const load = loaders[scheme];
  if (!load) {
    throw new ConfigError(`resultBackend: no backend for "${scheme}//" URLs; expected one of ${backendSchemes().map((s) => `${s}//`).join(", ")}`);
  }
  return (await load())(url, options);
}

/**
 * Whether results go to the sender's own reply queue (rpc://): that queue must exist before a task is
 * sent, or a fast worker's reply is dropped (Celery declares it in `on_task_call` for the same reason).
 */
export function repliesToSender(url: string | null): boolean {
  return url !== null && schemeOf(url) === "rpc:";
}
