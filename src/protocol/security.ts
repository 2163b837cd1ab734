// Celery's `auth` serializer (celery/security/serialization.py), re-implemented: a serialized body
// signed with RSA-PSS, packed as signer id, signature, content type, content encoding and body joined
// by "\x00\x01", base64-encoded, sent as content type "application/data". Signing and verification;
// loading keys and certificates is the app's job (app/security.ts).
import { constants, sign, verify, type KeyObject } from "node:crypto";
import { ProtocolError } from "../util/errors.ts";
import { mediaType } from "./codecs.ts";

/** The content type and encoding Celery registers the auth serializer under (`register_auth`). */
export const AUTH_CONTENT_TYPE = "application/data";
export const AUTH_CONTENT_ENCODING = "utf-8";

const SEP = Buffer.from([0x00, 0x01]);

/**
 * Celery's `security_digest` names (cryptography's hash classes, lower case) and node:crypto's. SHA-1
 * and MD5, which Celery also takes, are refused: a signature is only as strong as its digest.
 */
const DIGESTS: Readonly<Record<string, string>> = Object.freeze({
  sha224: "sha224",
  sha256: "sha256",
  sha384: "sha384",
  sha512: "sha512",
  sha512_224: "sha512-224",
  sha512_256: "sha512-256",
  sha3_224: "sha3-224",
  sha3_256: "sha3-256",
  sha3_384: "sha3-384",
  sha3_512: "sha3-512",
});

/** The digests a signer and its verifiers may agree on, by Celery's names ("sha256" is Celery's default). */
export const DIGEST_NAMES: readonly string[] = Object.freeze(Object.keys(DIGESTS));

/** node:crypto's name for Celery's digest `name`, or null when it is not one we allow. */
export function nodeDigest(name: string): string | null {
  return DIGESTS[name.toLowerCase()] ?? null;
}

/** What a producer signs with: its private key and the id of its certificate. */
export interface MessageSigner {
  readonly key: KeyObject;
  /** The certificate's Celery id (certificate-id.ts). */
  readonly signerId: string;
  /** node:crypto digest name (see nodeDigest). */
  readonly digest: string;
}

/** A certificate a worker trusts, keyed by its signer id in MessageVerifier.trusted. */
export interface TrustedCertificate {
  readonly publicKey: KeyObject;
  /** Bytes in its key's signatures: the RSA modulus length, rounded up to whole bytes. */
  readonly signatureBytes: number;
  readonly notAfter: Date;
}

/** What a consumer verifies with: the trusted certificates by signer id, and the agreed digest. */
export interface MessageVerifier {
  readonly trusted: ReadonlyMap<string, TrustedCertificate>;
  readonly digest: string;
}

/** A body as it was before signing. */
export interface OpenedBody {
  body: Uint8Array;
  contentType: string;
  contentEncoding: string;
  signerId: string;
}

/**
 * Signs a serialized body as Celery's SecureSerializer.serialize does: the returned body (base64 text
 * as bytes) goes out with AUTH_CONTENT_TYPE and AUTH_CONTENT_ENCODING. Only `body` is signed, not the
 * message headers, and not the content type and encoding packed beside it.
 *
 * @example signBody(signer, Buffer.from("[[2,3],{},{}]"), "application/json", "utf-8")
 */
export function signBody(signer: MessageSigner, body: Uint8Array, contentType: string, contentEncoding: string): Uint8Array {
  // Celery signs with PSS, MGF1 over the same digest, and the longest salt (PSS.MAX_LENGTH).
  const signature = sign(signer.digest, body, { key: signer.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN });
  const packed = Buffer.concat([Buffer.from(signer.signerId, "utf8"), SEP, signature, SEP, Buffer.from(contentType, "utf8"), SEP, Buffer.from(contentEncoding, "utf8"), SEP, body]);
  return Buffer.from(packed.toString("base64"), "latin1");
}

/**
 * Verifies a signed body and returns what was signed. Throws ProtocolError with code SECURITY_ERROR
 * and the reason: not signed (any other content type), malformed, an untrusted signer, a trusted
 * certificate past its notAfter at `now`, or a signature that does not match.
 *
 * @example openSignedBody(wire.body, wire.contentType, verifier).contentType // "application/json"
 */
export function openSignedBody(signed: Uint8Array, contentType: string, verifier: MessageVerifier, now = Date.now()): OpenedBody {
  if (mediaType(contentType) !== AUTH_CONTENT_TYPE) {
    const what = typeof contentType !== "string" || contentType === "" ? "no content type" : `content type ${contentType}`;
    throw refused(`unsigned message (${what}): only messages signed by a trusted certificate (content type ${AUTH_CONTENT_TYPE}) are accepted`);
  }
  const raw = Buffer.from(Buffer.from(signed.buffer, signed.byteOffset, signed.byteLength).toString("latin1"), "base64");
  const idEnd = raw.indexOf(SEP);
  if (idEnd <= 0) throw refused("malformed signed message: no signer id");
  const signerId = raw.subarray(0, idEnd).toString("utf8");
  const certificate = verifier.trusted.get(signerId);
  if (!certificate) throw refused(`untrusted signer ${JSON.stringify(signerId)}: no trusted certificate has this issuer and serial number`);
  if (now >= certificate.notAfter.getTime()) {
    throw refused(`the certificate of signer ${JSON.stringify(signerId)} expired at ${certificate.notAfter.toISOString()}`);
  }
  // The signature has a fixed length and may contain the separator itself (Celery's _unpack).
  const signatureStart = idEnd + SEP.length;
  const signatureEnd = signatureStart + certificate.signatureBytes;
  const signature = raw.subarray(signatureStart, signatureEnd);
  if (signature.length !== certificate.signatureBytes || !raw.subarray(signatureEnd, signatureEnd + SEP.length).equals(SEP)) {
    throw refused(`malformed signed message from ${JSON.stringify(signerId)}: truncated signature`);
  }
  const rest = raw.subarray(signatureEnd + SEP.length);
  const typeEnd = rest.indexOf(SEP);
  const encodingEnd = typeEnd === -1 ? -1 : rest.indexOf(SEP, typeEnd + SEP.length);
  if (encodingEnd === -1) throw refused(`malformed signed message from ${JSON.stringify(signerId)}: no content type and encoding`);
  // The body is everything after them, separators and all (a msgpack body may hold "\x00\x01").
  const body = rest.subarray(encodingEnd + SEP.length);
  const valid = verify(verifier.digest, body, { key: certificate.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature);
  if (!valid) throw refused(`bad signature: the body does not match the signature of ${JSON.stringify(signerId)}`);
  return {
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    contentType: rest.subarray(0, typeEnd).toString("utf8"),
    contentEncoding: rest.subarray(typeEnd + SEP.length, encodingEnd).toString("utf8"),
    signerId,
  };
}

function refused(reason: string): ProtocolError {
  return new ProtocolError("SECURITY_ERROR", reason);
}
