// Tests security.ts and the `security` config: keys and certificates from PEM text, files and
// directories, and every mistake failing at app creation with a ConfigError that names it and never
// shows a key.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../util/errors.ts";
import { createApp } from "./app.ts";
import { resolveConfig } from "./config.ts";
import { loadSecurity, type SecurityOptions } from "./security.ts";
import { certificateDir, makeCertificate } from "./security.test-helper.ts";

const dir = certificateDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const alice = makeCertificate(dir, "alice", { subject: "/O=Example/CN=alice" });
const bob = makeCertificate(dir, "bob");
const DAY = 86_400_000;

/** A predicate for assert.throws: a ConfigError matching `pattern`, showing no private key. */
const configError = (pattern: RegExp) => (error: unknown): boolean => {
  assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
  assert.match(error.message, pattern);
  assert.doesNotMatch(error.message, /PRIVATE KEY|MII/);
  return true;
};

describe("loadSecurity", () => {
  test("files, PEM text and directories; the signer id and trusted ids follow the certificates", () => {
    const trustedDir = join(dir, "trusted");
    mkdirSync(trustedDir);
    writeFileSync(join(trustedDir, "alice.pem"), alice.certPem);
    writeFileSync(join(trustedDir, "bob.pem"), bob.certPem);
    const fromFiles = loadSecurity({ key: alice.keyPath, cert: alice.certPath, trustedCerts: trustedDir });
    assert.match(fromFiles.signer.signerId, /^Example alice \d+$/);
    assert.equal(fromFiles.signer.digest, "sha256");
    assert.equal(fromFiles.verifier.trusted.size, 2);
    assert.equal(fromFiles.verifier.trusted.get(fromFiles.signer.signerId)?.signatureBytes, 256);

    // Two certificates in one PEM text, and the same one listed twice: both read once.
    const fromText = loadSecurity({ key: alice.keyPem, cert: alice.certPem, trustedCerts: [`${alice.certPem}\n${bob.certPem}`, bob.certPath], digest: "SHA512" });
    assert.deepEqual([...fromText.verifier.trusted.keys()].sort(), [...fromFiles.verifier.trusted.keys()].sort());
    assert.equal(fromText.verifier.digest, "sha512");
  });

  test("unreadable files, a key that does not match, bad PEM, unknown keys and digests", () => {
    const base: SecurityOptions = { key: alice.keyPath, cert: alice.certPath, trustedCerts: alice.certPath };
    assert.throws(() => loadSecurity({ ...base, key: join(dir, "missing.key") }), configError(/"security\.key": cannot read ".*missing\.key" \(ENOENT\)/));
    assert.throws(() => loadSecurity({ ...base, trustedCerts: [alice.certPath, join(dir, "nope")] }), configError(/"security\.trustedCerts": cannot read .*nope/));
    assert.throws(() => loadSecurity({ ...base, key: bob.keyPath }), configError(/"security\.key" does not match "security\.cert"/));
    assert.throws(() => loadSecurity({ ...base, key: "-----BEGIN PRIVATE KEY-----\nMIIbroken\n-----END PRIVATE KEY-----\n" }), configError(/"security\.key" \(PEM text\) is not a usable PEM private key/));
    assert.throws(() => loadSecurity({ ...base, cert: alice.keyPath }), configError(/"security\.cert" \(".*alice\.key"\) holds no PEM certificate/));
    assert.throws(() => loadSecurity({ ...base, trustedCerts: [] }), configError(/must name at least one certificate/));
    assert.throws(() => loadSecurity({ ...base, digest: "sha1" }), configError(/"security\.digest" is "sha1"; expected one of sha224, sha256/));
    assert.throws(() => loadSecurity({ ...base, trustedCert: "x" } as never), configError(/unknown config key "security\.trustedCert" \(did you mean "trustedCerts"\?\)/));
    const small = makeCertificate(dir, "small", { bits: 1024 });
    assert.throws(() => loadSecurity({ key: small.keyPath, cert: small.certPath, trustedCerts: small.certPath }), configError(/1024-bit RSA key; use 2048 bits or more/));
  });

  test("expired and not-yet-valid certificates, ours or trusted, fail at load", () => {
    const expired = makeCertificate(dir, "expired", { notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
    const future = makeCertificate(dir, "future", { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 3 * DAY) });
    assert.throws(() => loadSecurity({ key: expired.keyPath, cert: expired.certPath, trustedCerts: alice.certPath }), configError(/"security\.cert": the certificate "expired \d+" .* expired at/));
    assert.throws(() => loadSecurity({ key: alice.keyPath, cert: alice.certPath, trustedCerts: [alice.certPath, expired.certPath] }), configError(/"security\.trustedCerts": the certificate "expired \d+" .* expired at/));
    assert.throws(() => loadSecurity({ key: future.keyPath, cert: future.certPath, trustedCerts: alice.certPath }), configError(/is not valid before/));
    // The clock is a parameter: the same files load on a day they are valid.
    assert.equal(loadSecurity({ key: future.keyPath, cert: future.certPath, trustedCerts: future.certPath }, Date.now() + 2 * DAY).verifier.trusted.size, 1);
  });

  test("two different certificates with the same issuer and serial number are refused", () => {
    const one = makeCertificate(dir, "twin1", { subject: "/CN=twin", serial: 7 });
    const two = makeCertificate(dir, "twin2", { subject: "/CN=twin", serial: 7 });
    assert.notEqual(one.certPem, two.certPem);
    assert.throws(() => loadSecurity({ key: alice.keyPath, cert: alice.certPath, trustedCerts: [one.certPath, two.certPath] }), configError(/two different certificates share issuer and serial number \("twin 7"\)/));
  });
});

describe("the security config", () => {
  test("createApp fails at once on a bad security config, not at the first send", () => {
    assert.throws(() => createApp({ readEnv: false, security: { key: join(dir, "missing.key"), cert: alice.certPath, trustedCerts: alice.certPath } }), configError(/cannot read/));
    assert.throws(() => resolveConfig({ security: "on" as never }), configError(/config "security" must be null or \{ key, cert, trustedCerts, digest\? \}/));
    const app = createApp({ readEnv: false, security: { key: alice.keyPem, cert: alice.certPem, trustedCerts: [alice.certPem] } });
    assert.ok(Object.isFrozen(app.config.security), "Object.isFrozen(app.config.security)");
    assert.match(app.security?.signer.signerId ?? "", /^Example alice/);
    assert.equal(createApp({ readEnv: false }).security, null);
  });
});
