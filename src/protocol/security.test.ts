// Tests security.ts: Celery's auth serializer layout, signing and every refusal (unsigned, untrusted,
// expired, tampered, malformed), and its use through encodeTaskMessage/decodeTaskMessage.
import { test } from "node:test";
import assert from "node:assert/strict";
import { constants, generateKeyPairSync, verify, type KeyObject } from "node:crypto";
import { decodeTaskMessage, encodeTaskMessage } from "./celery-v2.ts";
import { emptyEmbed, type TaskMessage } from "./message.ts";
import { AUTH_CONTENT_ENCODING, AUTH_CONTENT_TYPE, nodeDigest, openSignedBody, signBody, type MessageSigner, type MessageVerifier } from "./security.ts";
import { isCode } from "./fixtures.test-helper.ts";

const SEP = Buffer.from([0, 1]);

function keyPair(bits = 2048): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("rsa", { modulusLength: bits });
}

const alice = keyPair();
const mallory = keyPair();
const ALICE_ID = "FR Example alice 1234567890123456789012345";
const signer: MessageSigner = { key: alice.privateKey, signerId: ALICE_ID, digest: "sha256" };
const dayAhead = new Date(Date.now() + 86_400_000);
const verifier: MessageVerifier = { digest: "sha256", trusted: new Map([[ALICE_ID, { publicKey: alice.publicKey, signatureBytes: 256, notAfter: dayAhead }]]) };
const BODY = Buffer.from('[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');

const unpack = (signed: Uint8Array): Buffer => Buffer.from(Buffer.from(signed).toString("latin1"), "base64");

test("signBody packs signer, signature, content type, encoding and body with \\x00\\x01, in base64, as Celery's SecureSerializer", () => {
  const signed = signBody(signer, BODY, "application/json", "utf-8");
  assert.match(Buffer.from(signed).toString("latin1"), /^[A-Za-z0-9+/]+=*$/);
  const raw = unpack(signed);
  const idEnd = ALICE_ID.length;
  assert.equal(raw.subarray(0, idEnd).toString(), ALICE_ID);
  assert.deepEqual(raw.subarray(idEnd, idEnd + 2), SEP);
  const signature = raw.subarray(idEnd + 2, idEnd + 2 + 256);
  const rest = raw.subarray(idEnd + 2 + 256);
  assert.deepEqual(rest, Buffer.concat([SEP, Buffer.from("application/json"), SEP, Buffer.from("utf-8"), SEP, BODY]));
  // RSA-PSS, MGF1-SHA256, the longest salt: what cryptography's PSS.MAX_LENGTH verifies.
  const maxSalt = 256 - 32 - 2;
  assert.ok(verify("sha256", BODY, { key: alice.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: maxSalt }, signature), "verify(\"sha256\", BODY, { key: alice.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLeng...");
  assert.equal(AUTH_CONTENT_TYPE, "application/data");
  assert.equal(AUTH_CONTENT_ENCODING, "utf-8");
});

test("openSignedBody returns what was signed, including a binary body that holds the separator", () => {
  const opened = openSignedBody(signBody(signer, BODY, "application/json", "utf-8"), "application/data", verifier);
  assert.deepEqual(Buffer.from(opened.body), BODY);
  assert.deepEqual([opened.contentType, opened.contentEncoding, opened.signerId], ["application/json", "utf-8", ALICE_ID]);
  const binary = Buffer.from([0x93, 0x00, 0x01, 0x00, 0x01, 0xff]);
  assert.deepEqual(Buffer.from(openSignedBody(signBody(signer, binary, "application/x-msgpack", "binary"), "application/data", verifier).body), binary);
});

test("a signature that happens to contain the separator is read by its length, not split", () => {
  // PSS is randomized: about one signature in 250 holds \x00\x01 somewhere.
  for (let i = 0; i < 5000; i++) {
    const signed = signBody(signer, BODY, "application/json", "utf-8");
    const signature = unpack(signed).subarray(ALICE_ID.length + 2, ALICE_ID.length + 2 + 256);
    if (signature.indexOf(SEP) === -1) continue;
    assert.deepEqual(Buffer.from(openSignedBody(signed, "application/data", verifier).body), BODY);
    return;
  }
  assert.fail("no signature with the separator in 5000 tries");
});

test("refusals: unsigned, untrusted, expired, tampered, wrong digest, malformed", () => {
  const signed = signBody(signer, BODY, "application/json", "utf-8");
  assert.throws(() => openSignedBody(BODY, "application/json", verifier), isCode("SECURITY_ERROR", /^unsigned message \(content type application\/json\)/));
  assert.throws(() => openSignedBody(BODY, "", verifier), isCode("SECURITY_ERROR", /^unsigned message \(no content type\)/));
  const forged = signBody({ ...signer, key: mallory.privateKey, signerId: "mallory 1" }, BODY, "application/json", "utf-8");
  assert.throws(() => openSignedBody(forged, "application/data", verifier), isCode("SECURITY_ERROR", /^untrusted signer "mallory 1"/));
  // Mallory's key under Alice's name: the signature does not verify.
  const impostor = signBody({ ...signer, key: mallory.privateKey }, BODY, "application/json", "utf-8");
  assert.throws(() => openSignedBody(impostor, "application/data", verifier), isCode("SECURITY_ERROR", /^bad signature/));
  const raw = unpack(signed);
  raw[raw.length - 3] = (raw[raw.length - 3] as number) ^ 0x01;
  assert.throws(() => openSignedBody(Buffer.from(raw.toString("base64")), "application/data", verifier), isCode("SECURITY_ERROR", /^bad signature/));
  assert.throws(() => openSignedBody(signed, "application/data", verifier, dayAhead.getTime()), isCode("SECURITY_ERROR", /certificate of signer .* expired at/));
  assert.throws(() => openSignedBody(signed, "application/data", { ...verifier, digest: "sha512" }), isCode("SECURITY_ERROR", /^bad signature/));
  assert.throws(() => openSignedBody(Buffer.from("bm90IHNpZ25lZA=="), "application/data", verifier), isCode("SECURITY_ERROR", /no signer id/));
  const truncated = unpack(signed).subarray(0, ALICE_ID.length + 100);
  assert.throws(() => openSignedBody(Buffer.from(truncated.toString("base64")), "application/data", verifier), isCode("SECURITY_ERROR", /truncated signature/));
  const noFields = unpack(signed).subarray(0, ALICE_ID.length + 2 + 256 + 2);
  assert.throws(() => openSignedBody(Buffer.from(noFields.toString("base64")), "application/data", verifier), isCode("SECURITY_ERROR", /no content type and encoding/));
});

test("nodeDigest takes Celery's names and refuses SHA-1 and MD5", () => {
  assert.equal(nodeDigest("sha256"), "sha256");
  assert.equal(nodeDigest("SHA3_256"), "sha3-256");
  assert.equal(nodeDigest("sha1"), null);
  assert.equal(nodeDigest("md5"), null);
});

function message(overrides: Partial<TaskMessage> = {}): TaskMessage {
  return {
    id: "6f1b7a36-0c39-4bb6-8e5e-3b0e3f7d8c11", task: "t.add", args: [2, 3], kwargs: {}, embed: emptyEmbed(), eta: null, expires: null, retries: 0,
    rootId: null, parentId: null, groupId: null, groupIndex: null, timeLimit: [null, null], priority: null, ignoreResult: false, shadow: null,
    origin: null, argsrepr: null, kwargsrepr: null, replyTo: null, correlationId: null, headers: {}, serializer: "json", ...overrides,
  };
}

test("a task message signed by encodeTaskMessage decodes with the verifier, keeping its inner serializer", () => {
  for (const serializer of ["json", "msgpack"] as const) {
    const wire = encodeTaskMessage(message({ serializer }), { signer });
    assert.equal(wire.contentType, "application/data");
    assert.equal(wire.contentEncoding, "utf-8");
    const decoded = decodeTaskMessage(wire, { accept: ["json", "msgpack"], maxBytes: 1 << 20, verifier });
    assert.deepEqual([decoded.task, decoded.args, decoded.serializer], ["t.add", [2, 3], serializer]);
  }
});

test("decodeTaskMessage with a verifier: unsigned refused, size limit on the signed body, accept list on the inner serializer", () => {
  const options = { accept: ["json" as const], maxBytes: 1 << 20, verifier };
  assert.throws(() => decodeTaskMessage(encodeTaskMessage(message()), options), isCode("SECURITY_ERROR", /^unsigned message/));
  const signed = encodeTaskMessage(message({ args: ["x".repeat(2000)] }), { signer });
  assert.throws(() => decodeTaskMessage(signed, { ...options, maxBytes: 1000 }), isCode("MESSAGE_TOO_LARGE"));
  assert.throws(() => decodeTaskMessage(encodeTaskMessage(message({ serializer: "msgpack" }), { signer }), options), isCode("CONTENT_TYPE_NOT_ALLOWED"));
  // Without a verifier a signed message is refused unread, named as such.
  assert.throws(() => decodeTaskMessage(signed, { accept: ["json"], maxBytes: 1 << 20 }), isCode("CONTENT_TYPE_NOT_ALLOWED", /signed \(auth\)/));
});
