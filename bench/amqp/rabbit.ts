// The AMQP harness's view of the shared RabbitMQ: one named admin connection to delete the queues and
// exchanges each run created, and per-process connection/channel counts from `rabbitmqctl
// list_connections` matched to a child's pid through its sockets (`ss -tnp`) or its connection name.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import amqplib from "amqplib";
import type { Channel, ChannelModel } from "amqplib";

const run = promisify(execFile);
export const RABBITMQCTL = "/usr/sbin/rabbitmqctl";
export const HARNESS_CONNECTION = "celeriac-bench-harness";

/** Connections and channels RabbitMQ lists for one process. */
export interface ProcessConnections {
  connections: number;
  channels: number;
  /** The names RabbitMQ shows (user-provided name when set, else "ip:port -> ip:port"). */
  names: string[];
}

interface ListedConnection {
  name: string;
  peerPort: number;
  channels: number;
  userName: string | null;
}

export class RabbitAdmin {
  private channel: Channel | null = null;

  private constructor(private readonly model: ChannelModel) {}

  static async connect(url: string): Promise<RabbitAdmin> {
    const model = await amqplib.connect(url, { clientProperties: { connection_name: HARNESS_CONNECTION } });
    model.on("error", () => undefined);
    return new RabbitAdmin(model);
  }

  /** RabbitMQ's version, from the server properties of our connection. */
  get serverVersion(): string {
    const version = this.model.connection.serverProperties["version"];
    return typeof version === "string" ? version : "unknown";
  }

  private async open(): Promise<Channel> {
    if (this.channel) return this.channel;
    const channel = await this.model.createChannel();
    channel.on("error", () => undefined);
    channel.on("close", () => {
      if (this.channel === channel) this.channel = null;
    });
    this.channel = channel;
    return channel;
  }

  /** Messages ready in a queue (0 when it does not exist). */
  async depth(queue: string): Promise<number> {
    try {
      return (await (await this.open()).checkQueue(queue)).messageCount;
    } catch {
      return 0;
    }
  }

  /** Delete queues and same-named exchanges (both idempotent on RabbitMQ); returns what failed. */
  async remove(names: readonly string[]): Promise<string[]> {
    const failed: string[] = [];
    for (const name of names) {
      try {
        const channel = await this.open();
        await channel.deleteQueue(name);
        await channel.deleteExchange(name);
      } catch (error) {
        failed.push(`${name}: ${(error as Error).message}`);
      }
    }
    return failed;
  }

  async close(): Promise<void> {
    await this.model.close().catch(() => undefined);
  }
}

/** Every connection RabbitMQ lists, with its peer (client) port, channel count and user-provided name. */
async function listConnections(): Promise<ListedConnection[]> {
  const { stdout } = await run(RABBITMQCTL, ["list_connections", "name", "peer_port", "channels", "client_properties", "-q", "--formatter", "json"], { timeout: 30_000 });
  const rows = JSON.parse(stdout) as { name: string; peer_port: number; channels: number; client_properties: unknown }[];
  return rows.map((row) => ({ name: row.name, peerPort: row.peer_port, channels: row.channels, userName: connectionName(row.client_properties) }));
}

/** client_properties' connection_name, in either shape rabbitmqctl's JSON formatter uses. */
function connectionName(properties: unknown): string | null {
  if (properties && typeof properties === "object" && !Array.isArray(properties)) {
    const value = (properties as Record<string, unknown>)["connection_name"];
    return typeof value === "string" ? value : null;
  }
  if (Array.isArray(properties)) {
    for (const entry of properties as unknown[]) {
      if (Array.isArray(entry) && entry[0] === "connection_name" && typeof entry[2] === "string") return entry[2];
    }
  }
  return null;
}

/** Local ports of `pid`'s TCP connections to `port` (the broker's), from `ss -tnp`. */
async function localPortsOf(pid: number, port: number): Promise<Set<number>> {
  const { stdout } = await run("ss", ["-Htnp", "state", "established", `( dport = :${port} )`], { timeout: 10_000 });
  const ports = new Set<number>();
  for (const line of stdout.split("\n")) {
    if (!line.includes(`pid=${pid},`)) continue;
    const local = line.trim().split(/\s+/)[2] ?? "";
    const localPort = Number(local.slice(local.lastIndexOf(":") + 1));
    if (Number.isInteger(localPort) && localPort > 0) ports.add(localPort);
  }
  return ports;
}

/**
 * Connections and channels of one process: those whose client port is one of its sockets, or whose
 * user-provided name is `name`. Example: `await connectionsOf(worker.pid, 5672, "celeriac-bench-1")`.
 */
export async function connectionsOf(pid: number, brokerPort: number, name?: string): Promise<ProcessConnections> {
  const [ports, listed] = await Promise.all([localPortsOf(pid, brokerPort), listConnections()]);
  const mine = listed.filter((c) => ports.has(c.peerPort) || (name !== undefined && c.userName === name));
  return { connections: mine.length, channels: mine.reduce((sum, c) => sum + c.channels, 0), names: mine.map((c) => c.userName ?? c.name) };
}

/** Names of the queues whose name starts with `prefix` (to check that a run left nothing behind). */
export async function queuesWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run(RABBITMQCTL, ["list_queues", "name", "-q", "--formatter", "json"], { timeout: 30_000 });
  return (JSON.parse(stdout) as { name: string }[]).map((q) => q.name).filter((n) => n.startsWith(prefix));
}
