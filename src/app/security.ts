// Message signing set-up (the `security` config, Celery's setup_security): reads the private key, its
// certificate and the trusted certificates from PEM text or files once, at app creation, and checks
// them, so a mistake fails then with a ConfigError rather than as rejected messages later.
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { certificateIdentity, type CertificateIdentity } from "../protocol/certificate-id.ts";
import { DIGEST_NAMES, nodeDigest, type MessageSigner, type MessageVerifier, type TrustedCertificate } from "../protocol/security.ts";
import { ConfigError } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";

/**
 * The `security` config: sign every message sent, and run only messages signed by a trusted
 * certificate. Each of key, cert and trustedCerts is PEM text or a file path.
 *
 * @example createApp({ security: { key: "/etc/celeriac/worker.key", cert: "/etc/celeriac/worker.pem", trustedCerts: "/etc/celeriac/trusted/" } })
 */
export interface SecurityOptions {
  /** The RSA private key (2048 bits or more, unencrypted PEM) that signs this app's messages. */
  key: string;
  /** The X.509 certificate of that key; its issuer and serial number name the signer in each message. */
  cert: string;
  /** Certificates whose signatures are accepted: PEM text (one or more), files, or directories (each file in them). */
  trustedCerts: string | readonly string[];
  /** Digest signed over, by Celery's name (security_digest); both sides must agree. Default "sha256". */
  digest?: string;
}

/** The loaded signer and verifier. */
export interface MessageSecurity {
  signer: MessageSigner;
  verifier: MessageVerifier;
}

const KEYS = ["key", "cert", "trustedCerts", "digest"];
const MIN_RSA_BITS = 2048;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Loads and checks the `security` config: readable files, an RSA key matching its certificate, no
 * certificate expired or not yet valid at `now`, no two trusted certificates with the same issuer and
 * serial number. Throws ConfigError naming the setting (never a key's contents).
 *
 * @example loadSecurity({ key: keyPem, cert: certPem, trustedCerts: [certPem] }).signer.signerId
 */
export function loadSecurity(options: SecurityOptions, now = Date.now()): MessageSecurity {
  for (const name of Object.keys(options)) {
    if (!KEYS.includes(name)) throw new ConfigError(`unknown config key "security.${name}"${didYouMean(name, KEYS)}`);
  }
  const digestName = options.digest ?? "sha256";
  const digest = typeof digestName === "string" ? nodeDigest(digestName) : null;
  if (digest === null) throw new ConfigError(`config "security.digest" is ${JSON.stringify(digestName)}; expected one of ${DIGEST_NAMES.join(", ")}`);

  const key = privateKey(options.key);
  const [cert] = certificates(options.cert, "security.cert");
  if (!cert) throw new ConfigError(`config "security.cert" holds no PEM certificate`);
  if (!cert.x509.checkPrivateKey(key)) throw new ConfigError(`config "security.key" does not match "security.cert" (the certificate is for another key)`);
  checkValidity(cert, "security.cert", now);

  const trusted = new Map<string, TrustedCertificate>();
  const seen = new Map<string, string>();
  const sources = typeof options.trustedCerts === "string" ? [options.trustedCerts] : options.trustedCerts;
  if (!Array.isArray(sources) || sources.length === 0) throw new ConfigError(`config "security.trustedCerts" must name at least one certificate (PEM text, a file or a directory)`);
  for (const source of sources as readonly unknown[]) {
    for (const found of certificates(source, "security.trustedCerts")) {
      const { signerId } = found.identity;
      const fingerprint = seen.get(signerId);
      if (fingerprint === found.x509.fingerprint256) continue;
      // Celery's CertStore refuses duplicates too: a signer id must name one certificate.
      if (fingerprint !== undefined) throw new ConfigError(`config "security.trustedCerts": two different certificates share issuer and serial number (${JSON.stringify(signerId)})`);
      checkValidity(found, "security.trustedCerts", now);
      seen.set(signerId, found.x509.fingerprint256);
      trusted.set(signerId, { publicKey: found.x509.publicKey, signatureBytes: Math.ceil(rsaBits(found.x509.publicKey, "security.trustedCerts") / 8), notAfter: found.identity.notAfter });
    }
  }
  return {
    signer: Object.freeze({ key, signerId: cert.identity.signerId, digest }),
    verifier: Object.freeze({ trusted, digest }),
  };
}

interface LoadedCertificate {
  x509: X509Certificate;
  identity: CertificateIdentity;
  /** Where it came from, for error messages: a file path or "PEM text". */
  origin: string;
}

function privateKey(value: unknown): KeyObject {
  const [pem, origin] = readPem(value, "security.key");
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    // node:crypto's message names the problem (an encrypted key, bad PEM), never the key itself.
    throw new ConfigError(`config "security.key" (${origin}) is not a usable PEM private key: ${(error as Error).message}`);
  }
  rsaBits(key, "security.key");
  return key;
}

/** The RSA modulus length; other key types fail, as Celery signs with RSA-PSS only. */
function rsaBits(key: KeyObject, setting: string): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== "rsa" || bits === undefined) throw new ConfigError(`config "${setting}" has a ${key.asymmetricKeyType ?? "non-asymmetric"} key; message signing needs RSA (as Celery's auth serializer)`);
  if (bits < MIN_RSA_BITS) throw new ConfigError(`config "${setting}" has a ${bits}-bit RSA key; use ${MIN_RSA_BITS} bits or more`);
  return bits;
}

function certificates(value: unknown, setting: string): LoadedCertificate[] {
  const out: LoadedCertificate[] = [];
  for (const [pem, origin] of readPems(value, setting)) {
    const blocks = pem.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) throw new ConfigError(`config "${setting}" (${origin}) holds no PEM certificate`);
    for (const block of blocks) {
      try {
        const x509 = new X509Certificate(block);
        out.push({ x509, identity: certificateIdentity(x509.raw), origin });
      } catch (error) {
        throw new ConfigError(`config "${setting}" (${origin}) holds an unreadable certificate: ${(error as Error).message}`);
      }
    }
  }
  return out;
}

function checkValidity(cert: LoadedCertificate, setting: string, now: number): void {
  const { signerId, notBefore, notAfter } = cert.identity;
  const which = `the certificate ${JSON.stringify(signerId)} (${cert.origin})`;
  if (now >= notAfter.getTime()) throw new ConfigError(`config "${setting}": ${which} expired at ${notAfter.toISOString()}`);
  if (now < notBefore.getTime()) throw new ConfigError(`config "${setting}": ${which} is not valid before ${notBefore.toISOString()}`);
}

/** PEM text as given, or the contents of the file it names, with where it came from. */
function readPem(value: unknown, setting: string): [string, string] {
  if (typeof value !== "string" || value === "") throw new ConfigError(`config "${setting}" must be PEM text or a file path`);
  if (value.includes("-----BEGIN ")) return [value, "PEM text"];
  try {
    return [readFileSync(value, "utf8"), JSON.stringify(value)];
  } catch (error) {
    throw new ConfigError(`config "${setting}": cannot read ${JSON.stringify(value)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Like readPem, and a directory gives each file in it (Celery's security_cert_store is a directory or glob). */
function readPems(value: unknown, setting: string): [string, string][] {
  if (typeof value === "string" && !value.includes("-----BEGIN ") && isDirectory(value)) {
    const files = readdirSync(value).sort().map((name) => join(value, name)).filter((path) => !isDirectory(path));
    if (files.length === 0) throw new ConfigError(`config "${setting}": the directory ${JSON.stringify(value)} is empty`);
    return files.map((path) => readPem(path, setting));
  }
  return [readPem(value, setting)];
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
