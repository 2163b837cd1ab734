// failure.ts: which connection errors are refusals that will not heal (never retried), and which are
// left to the bounded retries.
import { test } from "node:test";
import assert from "node:assert/strict";
import { amqpRefusal, redisRefusal } from "./failure.ts";
import { ConnectionError, ConnectionRefusedPermanently } from "../util/errors.ts";

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });
const REDIS = "redis://:****@h:6379/0";
const AMQP = "amqp://guest:****@h:5672//";

test("Redis refusals that will not heal, with the server's own reason and the reason kind", () => {
  const cases: [string, string][] = [
    ["WRONGPASS invalid username-password pair or user is disabled.", "auth"],
    ["ERR invalid password", "auth"],
    ["NOAUTH Authentication required.", "auth"],
    ["NOPERM this user has no permissions to run the 'info' command", "permission"],
    ["ERR DB index is out of range", "db"],
    ["ERR max number of clients reached", "maxclients"],
    ["DENIED Redis is running in protected mode because protected mode is enabled", "denied"],
  ];
  for (const [message, reason] of cases) {
    const refusal = redisRefusal(new Error(message), REDIS);
    assert.ok(refusal instanceof ConnectionRefusedPermanently, message);
    assert.ok(refusal instanceof ConnectionError, "still a ConnectionError for callers catching those");
    assert.equal(refusal.code, "CONNECTION_REFUSED_PERMANENTLY");
    assert.equal(refusal.reason, reason);
    assert.ok(refusal.message.startsWith(`cannot connect to ${REDIS}: ${message}`), refusal.message);
    assert.match(refusal.message, /not retried\)$/);
  }
});

test("TLS verification failures are refusals named as such, on both transports", () => {
  const selfSigned = withCode("self-signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT");
  const redis = redisRefusal(selfSigned, REDIS);
  assert.equal(redis?.reason, "tls");
  assert.match(redis?.message ?? "", /TLS certificate verification failed: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\).*ssl_ca_certs=<file>/);
  const altname = amqpRefusal(withCode("Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: ", "ERR_TLS_CERT_ALTNAME_INVALID"), AMQP, "/");
  assert.equal(altname?.reason, "tls");
  assert.match(altname?.message ?? "", /connect by a name the certificate was issued for/);
  assert.match(redisRefusal(withCode("ssl3_get_record:wrong version number", "ERR_SSL_WRONG_VERSION_NUMBER"), REDIS)?.message ?? "", /ERR_SSL_WRONG_VERSION_NUMBER \(the port does not speak TLS/);
});

test("RabbitMQ refusals: ACCESS_REFUSED, NOT_ALLOWED, and a vhost refused at connection.open", () => {
  const login = amqpRefusal(new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."'), AMQP, "/");
  assert.equal(login?.reason, "auth");
  assert.match(login?.message ?? "", /^cannot connect to amqp:\/\/guest:\*\*\*\*@h:5672\/\/: Handshake terminated by server: 403/);
  assert.equal(amqpRefusal(new Error('Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - access to vhost \'x\' refused"'), AMQP, "x")?.reason, "vhost");
  // amqplib drops RabbitMQ's text here: the vhost is named from the URL instead.
  const vhost = amqpRefusal(new Error("Expected ConnectionOpenOk; got <ConnectionClose channel:0>"), AMQP, "prod");
  assert.equal(vhost?.reason, "vhost");
  assert.match(vhost?.message ?? "", /RabbitMQ refused to open vhost "prod" \(530 NOT_ALLOWED\) \(the vhost does not exist/);
});

test("what may heal is left to the retries: refused, reset or timed-out sockets, a server loading or gone", () => {
  const transient = [
    withCode("connect ECONNREFUSED 127.0.0.1:403", "ECONNREFUSED"),
    withCode("read ECONNRESET", "ECONNRESET"),
    withCode("write EPIPE", "EPIPE"),
    withCode("connect ETIMEDOUT", "ETIMEDOUT"),
    withCode("getaddrinfo EAI_AGAIN redis", "EAI_AGAIN"),
    new Error("LOADING Redis is loading the dataset in memory"),
    new Error("Connection is closed."),
    new Error("Socket closed abruptly during opening handshake"),
  ];
  for (const error of transient) {
    assert.equal(redisRefusal(error, REDIS), null, error.message);
    assert.equal(amqpRefusal(error, AMQP, "/"), null, error.message);
  }
});
