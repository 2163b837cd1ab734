// Throw-away RSA keys and X.509 certificates for the message signing tests, made with the openssl
// command in a temp dir (node:crypto makes keys but not certificates); callers remove the dir.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificate {
  keyPath: string;
  certPath: string;
  keyPem: string;
  certPem: string;
}

export interface CertificateOptions {
  /** openssl -subj. Default `/CN=<name>`. */
  subject?: string;
  bits?: number;
  /** The serial number (openssl picks a random one by default). */
  serial?: number;
  /** An explicit validity window (else valid from now for a day). */
  notBefore?: Date;
  notAfter?: Date;
}

/** A fresh temp dir for one test file's certificates. Example: `const dir = certificateDir()`. */
export function certificateDir(): string {
  return mkdtempSync(join(tmpdir(), "celeriac-signing-"));
}

/**
 * A self-signed certificate and its key, `<name>.key` and `<name>.pem` in `dir`. Example:
 * `makeCertificate(dir, "worker", { subject: "/O=Example/CN=worker" })`.
 */
export function makeCertificate(dir: string, name: string, options: CertificateOptions = {}): TestCertificate {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.pem`);
  const subject = options.subject ?? `/CN=${name}`;
  const newKey = ["-newkey", `rsa:${options.bits ?? 2048}`, "-nodes", "-keyout", keyPath, "-subj", subject, "-utf8"];
  if (options.notBefore === undefined && options.notAfter === undefined) {
    const serial = options.serial === undefined ? [] : ["-set_serial", String(options.serial)];
    openssl(["req", "-x509", ...newKey, ...serial, "-out", certPath, "-days", "1"], dir);
  } else {
    // `openssl req -x509` takes only -days; `openssl ca` takes any start and end date.
    const ca = join(dir, `${name}-ca`);
    mkdirSync(ca);
    writeFileSync(join(ca, "index.txt"), "");
    writeFileSync(join(ca, "serial"), `${(options.serial ?? Date.now()).toString(16).padStart(16, "0")}\n`);
    writeFileSync(join(ca, "ca.cnf"), "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=optional\n");
    openssl(["req", "-new", ...newKey, "-out", join(ca, "req.csr")], ca);
    const start = asn1Time(options.notBefore ?? new Date());
    const end = asn1Time(options.notAfter ?? new Date(Date.now() + 86_400_000));
    openssl(["ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", keyPath, "-in", "req.csr", "-startdate", start, "-enddate", end, "-preserveDN", "-utf8", "-notext", "-out", certPath], ca);
  }
  return { keyPath, certPath, keyPem: readFileSync(keyPath, "utf8"), certPem: readFileSync(certPath, "utf8") };
}

function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}
