// Picks the result backend implementation for a URL scheme. Built-in implementations load lazily, so
// importing Celeriac opens nothing and loads no client library the app does not use; a third-party
// backend joins with registerBackend (docs/plugins.md).
import type { BackendFactory, BackendOptions, ResultBackend } from "./backend.ts";
import { SchemeRegistry } from "../util/scheme-registry.ts";
import { schemeOf } from "../util/url.ts";

const registry = new SchemeRegistry<BackendFactory>("backend", "resultBackend", {
  "memory:": async () => (await import("./memory/memory-backend.ts")).createMemoryBackendFromUrl,
  "rpc:": async () => (await import("./rpc/rpc-backend.ts")).createRpcBackend,
  "redis:": async () => (await import("./redis/backend.ts")).createRedisBackend,
  "rediss:": async () => (await import("./redis/backend.ts")).createRedisBackend,
  "unix:": async () => (await import("./redis/backend.ts")).createRedisBackend,
  "redis+socket:": async () => (await import("./redis/backend.ts")).createRedisBackend,
});

/**
 * Makes `resultBackend` URLs with `scheme` use `factory`, for a result store shipped as its own
 * package. The factory gets the URL and the app's BackendOptions and must not connect (connect() does).
 * A built-in or already registered scheme is a ConfigError. Returns a function that removes it.
 *
 * @example registerBackend("myresults", (url, options) => new MyResultsBackend(url, options))
 */
export function registerBackend(scheme: string, factory: BackendFactory): () => void {
  return registry.register(scheme, factory);
}

export function backendSchemes(): string[] {
  return registry.schemes();
}

/** Creates the backend for `url`. Example: `await createBackend("redis://localhost:6379/1", options)`. */
export async function createBackend(url: string, options: BackendOptions): Promise<ResultBackend> {
  return (await registry.factoryFor(url))(url, options);
}

/**
 * Whether results go to the sender's own reply queue (rpc://): that queue must exist before a task is
 * sent, or a fast worker's reply is dropped (Celery declares it in `on_task_call` for the same reason).
 */
export function repliesToSender(url: string | null): boolean {
  return url !== null && schemeOf(url) === "rpc:";
}
