// What a user sees when the broker cannot be used: `celeriac call` and a script's `delay()` against a
// wrong Redis password, a missing one, a Redis at maxclients, a Redis db that does not exist, a wrong
// RabbitMQ password, an unknown vhost, an unverifiable TLS certificate, and closed ports. Refusals that
// will not heal fail at once with ConnectionRefusedPermanently and the server's own reason; closed ports
// fail with ConnectionError after brokerConnectionTimeout. The CLI prints one line (password masked) and
// exits 2; the script's delay() rejects, and the script ends by itself. Private redis-servers for the
// reconfigured ones; the shared Redis (db 99, which it does not have) and RabbitMQ are only read.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { RefusalReason } from "../../src/index.ts";
import { freePort, killRedisServer, startRedisServer, startTlsRedisServer, type RedisChild, type TlsRedisChild } from "../integration/redis-server.ts";
import { startCeleriac, startScript } from "./child.ts";

const tasks = fileURLToPath(new URL("./fixtures/connect-tasks.ts", import.meta.url));
const script = fileURLToPath(new URL("./fixtures/delay-script.ts", import.meta.url));
const SECRET = "not-the-password";
/** Liveness only: a child that has not ended by then never would. */
const LIMIT_MS = 60_000;

let protectedServer: RedisChild;
let fullServer: RedisChild;
let tlsServer: TlsRedisChild;
let holder: Redis;
let closedRedisPort = 0;
let closedAmqpPort = 0;

before(async () => {
  [protectedServer, fullServer, tlsServer, closedRedisPort, closedAmqpPort] = await Promise.all([
    freePort().then((port) => startRedisServer(port, ["--requirepass", "the-right-one"])),
    freePort().then((port) => startRedisServer(port, ["--maxclients", "1"])),
    startTlsRedisServer(),
    freePort(),
    freePort(),
  ]);
  // The one client the full server takes.
  holder = new Redis({ port: fullServer.port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null });
  await holder.connect();
});

after(async () => {
  holder.disconnect();
  await Promise.all([killRedisServer(protectedServer), killRedisServer(fullServer), tlsServer.stop()]);
});

interface Case {
  name: string;
  broker: () => string;
  backend: () => string;
  /** Permanent: the refusal reason; transient (closed port): null. */
  refusal: RefusalReason | null;
  /** The CLI's one line on stderr. */
  line: () => RegExp;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const redisAt = (port: number, auth = "", db = 0): string => `redis://${auth}127.0.0.1:${port}/${db}`;
const refused = (url: string, reason: string): RegExp => new RegExp(`^celeriac: CONNECTION_REFUSED_PERMANENTLY: cannot connect to ${escape(url)}: ${reason}.*not retried\\)$`);

const cases: Case[] = [
  {
    name: "a wrong Redis password",
    broker: () => redisAt(protectedServer.port, `:${SECRET}@`),
    backend: () => redisAt(protectedServer.port, `:${SECRET}@`),
    refusal: "auth",
    line: () => refused(redisAt(protectedServer.port, ":****@"), "WRONGPASS invalid username-password pair"),
  },
  {
    name: "no password for a Redis that requires one",
    broker: () => redisAt(protectedServer.port),
    backend: () => redisAt(protectedServer.port),
    refusal: "auth",
    line: () => refused(redisAt(protectedServer.port), "NOAUTH Authentication required"),
  },
  {
    name: "a Redis at maxclients",
    broker: () => redisAt(fullServer.port),
    backend: () => redisAt(fullServer.port),
    refusal: "maxclients",
    line: () => refused(redisAt(fullServer.port), "ERR max number of clients reached"),
  },
  {
    name: "a Redis db the server does not have (99)",
    broker: () => "redis://127.0.0.1:6379/99",
    backend: () => "redis://127.0.0.1:6379/99",
    refusal: "db",
    line: () => refused("redis://127.0.0.1:6379/99", "ERR DB index is out of range"),
  },
  {
    name: "an unverifiable TLS certificate",
    broker: () => `rediss://127.0.0.1:${tlsServer.port}/0`,
    backend: () => `rediss://127.0.0.1:${tlsServer.port}/0`,
    refusal: "tls",
    line: () => refused(`rediss://127.0.0.1:${tlsServer.port}/0`, "TLS certificate verification failed: self[- ]signed certificate \\(DEPTH_ZERO_SELF_SIGNED_CERT\\)"),
  },
  {
    name: "a wrong RabbitMQ password",
    broker: () => `amqp://guest:${SECRET}@127.0.0.1:5672//`,
    backend: () => "rpc://",
    refusal: "auth",
    line: () => refused("amqp://guest:****@127.0.0.1:5672//", "Handshake terminated by server: 403 \\(ACCESS-REFUSED\\) with message \"ACCESS_REFUSED - Login was refused"),
  },
  {
    name: "an unknown RabbitMQ vhost",
    broker: () => "amqp://guest:guest@127.0.0.1:5672/celeriac-no-such-vhost",
    backend: () => "rpc://",
    refusal: "vhost",
    line: () => refused("amqp://guest:****@127.0.0.1:5672/celeriac-no-such-vhost", 'RabbitMQ refused to open vhost "celeriac-no-such-vhost" \\(530 NOT_ALLOWED\\)'),
  },
  {
    name: "a closed Redis port",
    broker: () => redisAt(closedRedisPort),
    backend: () => redisAt(closedRedisPort),
    refusal: null,
    line: () => new RegExp(`^celeriac: CONNECTION_ERROR: connect to ${escape(redisAt(closedRedisPort))}: Redis unreachable for 2000 ms \\(brokerConnectionTimeout\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${closedRedisPort}$`),
  },
  {
    name: "a closed RabbitMQ port",
    broker: () => `amqp://guest:guest@127.0.0.1:${closedAmqpPort}//`,
    backend: () => "rpc://",
    refusal: null,
    line: () => new RegExp(`^celeriac: CONNECTION_ERROR: no connection to amqp://guest:\\*\\*\\*\\*@127\\.0\\.0\\.1:${closedAmqpPort}// within 2000 ms \\(brokerConnectionTimeout\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${closedAmqpPort}$`),
  },
];

interface DelayOutcome {
  name?: string;
  code?: string;
  reason?: string;
  message?: string;
  ms?: number;
  sent?: string;
}

for (const c of cases) {
  describe(c.name, () => {
    // Refusals must not wait for the timeout: give them a long one, so only failing fast passes.
    const env = (): Record<string, string> => ({ CELERIAC_BROKER_URL: c.broker(), CELERIAC_RESULT_BACKEND: c.backend(), E2E_CONNECT_TIMEOUT: c.refusal ? "30" : "2" });

    test("celeriac call exits 2 with one line naming the reason, the password masked", async () => {
      const queue = `connect-fail-${randomUUID().slice(0, 8)}`;
      const ended = await startCeleriac(["call", "e2e.connect.add", "-A", tasks, "--args", "[2, 3]", "--queue", queue], env()).ended(LIMIT_MS);
      assert.equal(ended.killed, false, `celeriac call did not end:\n${ended.stderr}`);
      assert.equal(ended.code, 2, ended.stderr);
      assert.equal(ended.stdout, "", "no task id: nothing was sent");
      const lines = ended.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, ended.stderr);
      assert.match(lines[0] as string, c.line());
      assert.doesNotMatch(ended.stderr, new RegExp(SECRET));
      if (c.refusal === "db") {
        // Before: ioredis carried on in db 0 after the failed SELECT, and the task landed there.
        const db0 = new Redis({ host: "127.0.0.1", port: 6379, db: 0 });
        assert.equal(await db0.exists(queue), 0, "the task was written to db 0");
        db0.disconnect();
      }
    });

    test("delay() in a script rejects with the error class, and the script ends by itself", async () => {
      const ended = await startScript(script, env()).ended(LIMIT_MS);
      assert.equal(ended.killed, false, `the script did not end by itself:\n${ended.stdout}\n${ended.stderr}`);
      assert.equal(ended.code, 0, ended.stderr);
      const outcome = JSON.parse(ended.stdout) as DelayOutcome;
      assert.equal(outcome.sent, undefined, "delay() resolved");
      assert.doesNotMatch(outcome.message ?? "", new RegExp(SECRET));
      if (c.refusal) {
        assert.equal(outcome.name, "ConnectionRefusedPermanently", outcome.message);
        assert.equal(outcome.code, "CONNECTION_REFUSED_PERMANENTLY");
        assert.equal(outcome.reason, c.refusal);
        assert.match(`celeriac: ${outcome.code}: ${outcome.message}`, c.line());
      } else {
        assert.equal(outcome.name, "ConnectionError", outcome.message);
        assert.equal(outcome.code, "CONNECTION_ERROR");
        assert.match(`celeriac: ${outcome.code}: ${outcome.message}`, c.line());
        // It kept retrying until brokerConnectionTimeout rather than failing on the first refused socket.
        assert.ok((outcome.ms ?? 0) >= 1900, `rejected after ${outcome.ms} ms`);
      }
    });
  });
}
