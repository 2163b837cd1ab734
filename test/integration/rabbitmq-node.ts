// A throw-away RabbitMQ node for the tests that must stop or restart the server (the shared one on 5672
// is never touched): its own node name, AMQP and distribution ports, data, logs and Erlang cookie in a
// temp dir, no plugins, /etc/rabbitmq ignored. Stopped and its directory deleted by the caller.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
// The scripts themselves: /usr/sbin's wrappers switch to the rabbitmq user and its /var/lib home.
const BIN = "/usr/lib/rabbitmq/bin";
// rabbitmqctl's own distribution ports for the shared node (its default range): never ours.
const SHARED_CTL_PORTS = [35672, 35682];

export interface RabbitNode {
  readonly nodeName: string;
  readonly port: number;
  /** amqp:// URL of this node (guest/guest, default vhost). */
  readonly url: string;
  /** `rabbitmqctl stop_app`: RabbitMQ closes every connection (CONNECTION_FORCED); the Erlang node lives on. */
  stopApp(): Promise<void>;
  /** `rabbitmqctl start_app`: resolves once the node accepts connections again, durable queues recovered. */
  startApp(): Promise<void>;
  /** Halts the node and deletes its directory. */
  stop(): Promise<void>;
  output(): string;
}

/**
 * A free loopback port below the kernel's ephemeral range (32768 and up here), so no outgoing
 * connection can take it while the node is stopped and RabbitMQ can listen on it again.
 */
async function freeLowPort(avoid: readonly number[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (avoid.some((p) => Math.abs(p - port) <= 10)) continue;
    if (port >= (SHARED_CTL_PORTS[0] ?? 0) && port <= (SHARED_CTL_PORTS[1] ?? 0)) continue;
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) {
      server.close();
      await once(server, "close");
      return port;
    }
  }
  throw new Error("no free port for a private RabbitMQ node");
}

/** Boots a private node (about 5 s here); resolves once it accepts AMQP connections. */
export async function startRabbitNode(): Promise<RabbitNode> {
  const port = await freeLowPort([]);
  const distPort = await freeLowPort([port]);
  const ctlPort = await freeLowPort([port, distPort]);
  const dir = mkdtempSync(join(tmpdir(), "celeriac-rabbit-"));
  const nodeName = `celeriac-test-${port}@localhost`;
  writeFileSync(join(dir, "enabled_plugins"), "[].\n");
  writeFileSync(join(dir, "rabbitmq-env.conf"), "");
  writeFileSync(join(dir, "rabbitmq.conf"), `listeners.tcp.local = 127.0.0.1:${port}\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CTL_DIST_PORT_MIN: String(ctlPort),
    RABBITMQ_CTL_DIST_PORT_MAX: String(ctlPort + 10),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_PLUGINS_EXPAND_DIR: join(dir, "plugins-expand"),
    ERL_EPMD_ADDRESS: "127.0.0.1",
  };
  const child: ChildProcess = spawn(join(BIN, "rabbitmq-server"), [], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const ctl = async (...args: string[]): Promise<void> => {
    await run(join(BIN, "rabbitmqctl"), ["-n", nodeName, ...args], { env, timeout: 60_000 });
  };
  const exited = once(child, "exit");
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      await ctl("stop").catch(() => child.kill("SIGKILL"));
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (!/Starting broker\.\.\. completed/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`private RabbitMQ node ${nodeName} did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    nodeName,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}//`,
    stopApp: () => ctl("stop_app"),
    startApp: () => ctl("start_app"),
    stop,
    output: () => output,
  };
}
