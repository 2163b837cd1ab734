// Tests certificate-id.ts (and der.ts under it) on certificates made by openssl: Celery's signer id
// (issuer values, then the serial in decimal, negative ones too) and both DER time forms.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { rmSync } from "node:fs";
import { certificateDir, makeCertificate } from "../app/security.test-helper.ts";
import { certificateIdentity } from "./certificate-id.ts";
import { derChildren, derInteger } from "./der.ts";
import { isCode } from "./fixtures.test-helper.ts";

const dir = certificateDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const serialOf = (pem: string): string => BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString();

test("the signer id is the issuer's values in order, a space, and the serial number in decimal", () => {
  const cert = makeCertificate(dir, "a", { subject: "/C=FR/O=Célèriac, Inc./OU=Ops\\+Dev/CN=worker a\\+b" });
  assert.equal(certificateIdentity(new X509Certificate(cert.certPem).raw).signerId, `FR Célèriac, Inc. Ops+Dev worker a+b ${serialOf(cert.certPem)}`);
});

test("a negative serial number is written with its sign, as Python prints the int", () => {
  const cert = makeCertificate(dir, "neg", { serial: -5 });
  assert.equal(certificateIdentity(new X509Certificate(cert.certPem).raw).signerId, "neg -5");
});

test("validity: UTCTime before 2050, GeneralizedTime from 2050", () => {
  const notBefore = new Date("2020-01-01T00:00:00Z");
  const old = makeCertificate(dir, "old", { notBefore, notAfter: new Date("2020-01-02T00:00:00Z") });
  const identity = certificateIdentity(new X509Certificate(old.certPem).raw);
  assert.deepEqual([identity.notBefore.toISOString(), identity.notAfter.toISOString()], ["2020-01-01T00:00:00.000Z", "2020-01-02T00:00:00.000Z"]);
  const far = makeCertificate(dir, "far", { notBefore, notAfter: new Date("2051-06-30T12:34:56Z") });
  assert.equal(certificateIdentity(new X509Certificate(far.certPem).raw).notAfter.toISOString(), "2051-06-30T12:34:56.000Z");
});

test("DER: integers in two's complement; truncated or non-certificate input is a ProtocolError", () => {
  assert.equal(derInteger(Uint8Array.from([0x00, 0xff])), 255n);
  assert.equal(derInteger(Uint8Array.from([0xff, 0x01])), -255n);
  assert.throws(() => derChildren(Uint8Array.from([0x30, 0x05, 0x01])), isCode("MALFORMED_MESSAGE", /runs past its parent/));
  assert.throws(() => derChildren(Uint8Array.from([0x30, 0x80])), isCode("MALFORMED_MESSAGE", /indefinite/));
  assert.throws(() => certificateIdentity(Uint8Array.from([0x02, 0x01, 0x05])), isCode("MALFORMED_MESSAGE", /not an X.509 certificate/));
});
