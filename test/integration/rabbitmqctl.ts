// Test helpers that act on the RabbitMQ server itself through rabbitmqctl: find a connection by the
// name its client gave, count its channels, close it from the server side, change runtime settings.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
const RABBITMQCTL = "/usr/sbin/rabbitmqctl";

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run(RABBITMQCTL, args, { timeout: 60_000 });
  return stdout;
}

export interface ServerConnection {
  pid: string;
  name: string;
  channels: number;
}

/** Connections whose client announced `connection_name` = `name`. */
export async function connectionsNamed(name: string): Promise<ServerConnection[]> {
  // JSON shows client properties but prints pids as "#PID<…>", which close_connection does not accept;
  // the table prints "<rabbit@host.1.2>". Join the two on the peer address ("name").
  const out = await rabbitmqctl("--formatter", "json", "-q", "list_connections", "name", "client_properties", "channels");
  const rows = JSON.parse(out) as { name: string; client_properties: unknown[]; channels: number }[];
  const table = await rabbitmqctl("-q", "--no-table-headers", "list_connections", "name", "pid");
  const pids = new Map(table.trim().split("\n").map((line) => line.split("\t") as [string, string]));
  return rows
    .filter((row) => row.client_properties.some((p) => Array.isArray(p) && p[0] === "connection_name" && p[2] === name))
    .map((row) => ({ pid: pids.get(row.name) ?? "", name, channels: row.channels }));
}

/** Closes a client connection from the server side, as a broker restart or an operator would. */
export async function closeConnection(pid: string, reason = "celeriac reconnect test"): Promise<void> {
  await rabbitmqctl("close_connection", pid, reason);
}

/** Sets a `rabbit` application setting at runtime (new channels pick it up). */
export async function setRabbitEnv(key: string, value: number): Promise<void> {
  await rabbitmqctl("eval", `application:set_env(rabbit, ${key}, ${value}).`);
}
