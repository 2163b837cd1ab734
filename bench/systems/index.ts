// The harness's view of the three systems: how to start an agent of each, how its producers stage a
// queue for a drain and how the harness releases it to waiting workers, and which versions are in use.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startAgent, type Agent } from "../children.ts";
import type { AgentParams, SystemName } from "../protocol.ts";
import type { Admin } from "../redis-server.ts";
import { HARNESS_NAME } from "../redis-server.ts";

export const PYTHON = "/usr/bin/python3";
const benchDir = fileURLToPath(new URL("..", import.meta.url));
const repoDir = fileURLToPath(new URL("../..", import.meta.url));

export interface SystemDriver {
  name: SystemName;
  /** Start one agent process. `nodeArgs` go to node (e.g. --cpu-prof) for the Node systems. */
  start(label: string, params: AgentParams, nodeArgs?: readonly string[]): Agent;
  /** The queue producers fill before a drain (workers consume `queue`, released later). */
  stagingQueue(queue: string): string;
  /** BullMQ: producers pause the queue before filling it. */
  pauseWhileFilling: boolean;
  /**
   * Get ready to release a staged queue to the waiting workers; the returned function releases it
   * (kombu layout: RENAME of the staged list onto the queue; BullMQ: Queue.resume()).
   */
  prepareRelease(admin: Admin, brokerUrl: string, queue: string): Promise<() => Promise<void>>;
  /** Worker settings: the same concurrency for both Node systems; Celery: one solo process. */
  worker: { concurrency: number; pool?: string; prefetchMultiplier?: number };
}

function nodeAgent(name: "celeriac" | "bullmq"): (label: string, params: AgentParams, nodeArgs?: readonly string[]) => Agent {
  return (label, params, nodeArgs = []) =>
    startAgent(label, process.execPath, [...nodeArgs, "--import", "tsx", `${benchDir}agent.ts`, name, JSON.stringify(params)]);
}

const renameRelease = async (admin: Admin, _url: string, queue: string): Promise<() => Promise<void>> => async () => {
  await admin.client.rename(`${queue}.staging`, queue);
};

export interface DriverOptions {
  /** The celeriac Redis broker's messageFormat; "celery" (default) is the one Python workers read. */
  celeriacFormat: "celery" | "compact";
}

/** The three drivers. Example: `makeDrivers({ celeriacFormat: "celery" }).bullmq`. */
export const makeDrivers = (options: DriverOptions): Record<SystemName, SystemDriver> => ({
  celeriac: {
    name: "celeriac",
    start: (label, params, nodeArgs) => nodeAgent("celeriac")(label, { ...params, messageFormat: options.celeriacFormat }, nodeArgs),
    stagingQueue: (queue) => `${queue}.staging`,
    pauseWhileFilling: false,
    prepareRelease: renameRelease,
    worker: { concurrency: 100 },
  },
  bullmq: {
    name: "bullmq",
    start: nodeAgent("bullmq"),
    stagingQueue: (queue) => queue,
    pauseWhileFilling: true,
    prepareRelease: async (_admin, url, queue) => (await import("./bullmq.ts")).resumeQueue(url, queue, HARNESS_NAME),
    worker: { concurrency: 100 },
  },
  celery: {
    name: "celery",
    start: (label, params) => startAgent(label, PYTHON, [`${benchDir}python/celery_agent.py`, JSON.stringify(params)]),
    stagingQueue: (queue) => `${queue}.staging`,
    pauseWhileFilling: false,
    prepareRelease: renameRelease,
    // One worker process: the solo pool, Celery's fastest single-process setting for a no-op task
    // here (threads and a larger prefetch were slower), with gossip, mingle and heartbeat off.
    worker: { concurrency: 1, pool: "solo", prefetchMultiplier: 4 },
  },
});

/** Celery's transport library for each broker: the Python module to import and its name in `versions`. */
const CELERY_TRANSPORT = {
  redis: { module: "redis", label: "redis-py" },
  amqp: { module: "amqp", label: "py-amqp" },
} as const;
export type CeleryBroker = keyof typeof CELERY_TRANSPORT;

/** Why Celery cannot run here (null when it can): /usr/bin/python3 must import celery and redis (or amqp). */
export function celeryUnavailable(broker: CeleryBroker = "redis"): string | null {
  const { module } = CELERY_TRANSPORT[broker];
  try {
    execFileSync(PYTHON, ["-c", `import celery, ${module}`], { stdio: "ignore", timeout: 20_000 });
    return null;
  } catch {
    return `${PYTHON} cannot import celery and ${module} (install Debian's python3-celery and python3-${module})`;
  }
}

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** The Node packages measured besides celeriac, per broker. */
const NODE_PACKAGES: Record<CeleryBroker, string[]> = { redis: ["bullmq", "ioredis"], amqp: ["amqplib"] };

/**
 * Versions of everything measured, for the JSON and the README: node, celeriac, the broker's Node
 * packages, then `server` (e.g. { rabbitmq }), then Python's and Celery's when `withCelery`.
 */
export function versions(withCelery: boolean, broker: CeleryBroker = "redis", server: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {
    node: process.version,
    celeriac: packageVersion(`${repoDir}package.json`),
    ...Object.fromEntries(NODE_PACKAGES[broker].map((name) => [name, packageVersion(`${repoDir}node_modules/${name}/package.json`)])),
    ...server,
  };
  if (withCelery) {
    const { module, label } = CELERY_TRANSPORT[broker];
    try {
      const script = `import json, sys, celery, kombu, ${module}; print(json.dumps({'python': sys.version.split()[0], 'celery': celery.__version__, 'kombu': kombu.__version__, '${label}': ${module}.__version__}))`;
      Object.assign(out, JSON.parse(execFileSync(PYTHON, ["-c", script], { encoding: "utf8", timeout: 20_000 })) as Record<string, string>);
    } catch {
      out["celery"] = "unavailable";
    }
  }
  return out;
}
