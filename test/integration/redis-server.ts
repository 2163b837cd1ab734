// Throw-away redis-server children for the tests that must kill, restart or reconfigure a server (the
// shared one on 6379 is never touched): a free loopback port, no persistence, stopped by the caller.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisChild {
  port: number;
  process: ChildProcess;
  output(): string;
}

/** A TCP port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

/**
 * Starts `redis-server` on 127.0.0.1:`port` without persistence (`--save "" --appendonly no`), plus any
 * `extra` arguments; resolves once it accepts connections.
 */
export async function startRedisServer(port: number, extra: string[] = []): Promise<RedisChild> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "/tmp", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const deadline = Date.now() + 10_000;
  while (!/Ready to accept connections/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server on port ${port} did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { port, process: child, output: () => output };
}

/** SIGKILL (a crash, not a clean shutdown) and wait until the process is gone. */
export async function killRedisServer(server: RedisChild): Promise<void> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return;
  const exited = once(server.process, "exit");
  server.process.kill("SIGKILL");
  await exited;
}

export interface TlsRedisChild extends RedisChild {
  /** The server's self-signed certificate (PEM file), to trust with `ssl_ca_certs`. */
  cert: string;
  /** Kills the server and removes the certificate. */
  stop(): Promise<void>;
}

/**
 * A TLS-only `redis-server` (the plain port off) with a self-signed certificate for 127.0.0.1, made with
 * openssl in a temp dir: a client verifies it only when given `cert` as its CA.
 */
export async function startTlsRedisServer(): Promise<TlsRedisChild> {
  const dir = mkdtempSync(join(tmpdir(), "celeriac-tls-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  const port = await freePort();
  const server = await startRedisServer(0, ["--tls-port", String(port), "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert, "--tls-auth-clients", "no"]);
  return {
    ...server,
    port,
    cert,
    stop: async () => {
      await killRedisServer(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
