// amqps:// client side, against a throw-away TLS listener on loopback (the shared RabbitMQ has no TLS
// listener and must not be reconfigured): certificates made by openssl for this run prove that the URL's
// cafile, certfile/keyfile, servername and ssl_cert_reqs reach the TLS handshake, that AMQP starts only
// inside TLS, and that every failure surfaces as one clear ConnectionError with the password masked.
// The listener hangs up after the AMQP protocol header, so no test here reaches a real AMQP session.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { ConnectionError } from "../../src/util/errors.ts";
import { brokerOptions } from "../interop/amqp-helpers.ts";

const run = promisify(execFile);
const SERVER_NAME = "mq.celeriac.test";
const AMQP_HEADER = Buffer.from("AMQP\x00\x00\x09\x01", "latin1");

let dir = "";
let server: Server;
let port = 0;
/** What the listener saw per TLS connection: SNI, the client certificate's CN, the first bytes inside TLS. */
const seen: { sni: string | null; clientCn: string | null; firstBytes: Buffer }[] = [];

async function openssl(...args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir });
}

/** A CA, a server certificate for SERVER_NAME and a client certificate, all signed by that CA. */
async function makeCertificates(): Promise<void> {
  await openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=celeriac test CA", "-keyout", "ca.key", "-out", "ca.pem");
  for (const [name, cn, ext] of [["server", SERVER_NAME, `subjectAltName=DNS:${SERVER_NAME}`], ["client", "celeriac-client", "extendedKeyUsage=clientAuth"]] as const) {
    await writeFile(join(dir, `${name}.ext`), `${ext}\n`);
    await openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${cn}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
    await openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "celeriac-tls-"));
  await makeCertificates();
  const [key, cert, ca] = await Promise.all(["server.key", "server.pem", "ca.pem"].map((f) => readFile(join(dir, f))));
  // requestCert without rejectUnauthorized: a client certificate is recorded when sent, never required.
  server = createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: false }, (socket: TLSSocket) => {
    const sni = (socket as TLSSocket & { servername?: string | false }).servername;
    const peer = socket.getPeerCertificate();
    const entry = { sni: typeof sni === "string" ? sni : null, clientCn: typeof peer?.subject?.CN === "string" ? peer.subject.CN : null, firstBytes: Buffer.alloc(0) };
    seen.push(entry);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      entry.firstBytes = Buffer.concat([entry.firstBytes, chunk]);
      // A real broker would answer connection.start; hanging up instead ends the client's opening handshake.
      if (entry.firstBytes.length >= AMQP_HEADER.length) socket.destroy();
    });
  });
  server.on("tlsClientError", () => undefined);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Connects a broker once (no retries) to `amqps://guest:tls-secret@<host>:<port>//?<query>`; returns the error. */
async function connectError(host: string, query: Record<string, string>): Promise<ConnectionError> {
  const params = new URLSearchParams(query).toString();
  const broker = new AmqpBroker(`amqps://guest:tls-secret@${host}:${port}//?${params}`, { ...brokerOptions(), connectionMaxRetries: 0, connectionTimeoutMs: 10_000 });
  try {
    await broker.connect();
  } catch (error) {
    assert.ok(error instanceof ConnectionError, `a ConnectionError, got ${String(error)}`);
    assert.match(error.message, new RegExp(`^cannot connect to amqps://guest:\\*\\*\\*\\*@${host.replace(/\./g, "\\.")}:${port}//`));
    assert.doesNotMatch(error.message, /tls-secret/, "the password is masked");
    return error;
  } finally {
    await broker.close();
  }
  throw new Error("connect() succeeded against a listener that cannot speak AMQP");
}

const file = (name: string): string => join(dir, name);
// Node verifies the server certificate once the TLS handshake is over, so the listener may count a
// connection that the client then refuses; what matters is that no AMQP byte went through it.
const nothingSentSince = (index: number): boolean => seen.slice(index).every((entry) => entry.firstBytes.length === 0);

test("cafile, certfile/keyfile and servername reach the handshake; AMQP then starts inside TLS", async () => {
  const before = seen.length;
  const error = await connectError("127.0.0.1", { cafile: file("ca.pem"), certfile: file("client.pem"), keyfile: file("client.key"), servername: SERVER_NAME });
  const connection = seen[before];
  assert.ok(connection, "the TLS handshake completed: the client trusted the server through cafile");
  assert.equal(connection.sni, SERVER_NAME, "SNI is the servername option, not the IP in the URL");
  assert.equal(connection.clientCn, "celeriac-client", "the client certificate from certfile/keyfile was presented");
  assert.deepEqual(connection.firstBytes.subarray(0, AMQP_HEADER.length), AMQP_HEADER, "the AMQP 0-9-1 protocol header came inside TLS");
  assert.match(error.message, /after 1 attempt\(s\)/);
});

test("without the CA, a self-signed server is refused during the handshake with a certificate error", async () => {
  const before = seen.length;
  const error = await connectError("127.0.0.1", { servername: SERVER_NAME });
  assert.match(error.message, /certificate/i);
  assert.ok(nothingSentSince(before), "no AMQP byte was sent to an unverified server");
});

test("the certificate is checked against the host: a name it was not issued for is refused", async () => {
  const before = seen.length;
  // No servername: Node checks the URL's host (127.0.0.1), which is not in the certificate.
  const error = await connectError("127.0.0.1", { cafile: file("ca.pem") });
  assert.match(error.message, /does not match certificate's altnames/);
  assert.ok(nothingSentSince(before), "nothingSentSince(before)");
});

test("ssl_cert_reqs=CERT_NONE skips verification (kombu's spelling), so the handshake completes", async () => {
  const before = seen.length;
  await connectError("127.0.0.1", { ssl_cert_reqs: "CERT_NONE" });
  assert.deepEqual(seen[before]?.firstBytes.subarray(0, AMQP_HEADER.length), AMQP_HEADER);
});
