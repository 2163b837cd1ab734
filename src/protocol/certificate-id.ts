// How Celery's `auth` serializer names a certificate: "<issuer attribute values joined by spaces>
// <serial number in decimal>" (celery/security/certificate.py Certificate.get_id), read from the
// certificate's DER, plus its validity window.
import { TextDecoder } from "node:util";
import { ProtocolError } from "../util/errors.ts";
import { DER, derChildren, derInteger, derRoot, derTime, type DerElement } from "./der.ts";

export interface CertificateIdentity {
  /** Celery's signer id, the first field of every signed message. */
  signerId: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * The identity of a DER-encoded X.509 certificate (node:crypto's `X509Certificate.raw`). Issuer values
 * are decoded as Python's cryptography does: BMPString as UTF-16, UniversalString as UTF-32, every
 * other string type as UTF-8. Throws ProtocolError (MALFORMED_MESSAGE) when it is not a certificate.
 *
 * @example certificateIdentity(new X509Certificate(pem).raw).signerId // "FR Example worker 1234567…"
 */
export function certificateIdentity(der: Uint8Array): CertificateIdentity {
  const certificate = sequence(derRoot(der), "certificate");
  const tbs = sequence(certificate[0], "tbsCertificate");
  // The version is an explicitly tagged [0] first field, absent for v1 certificates.
  const fields = tbs[0]?.tag === 0xa0 ? tbs.slice(1) : tbs;
  const [serial, , issuer, validity] = fields;
  if (serial?.tag !== DER.INTEGER) throw bad("no serial number");
  const values = sequence(issuer, "issuer").flatMap((rdn) => {
    if (rdn.tag !== DER.SET) throw bad("issuer: a relative distinguished name is not a SET");
    // A multi-valued RDN is read in DER order; Python's cryptography 38 puts its values in a set, so
    // Celery's own order for such an issuer varies from process to process (see docs/security.md).
    return derChildren(rdn.content).map((attribute) => attributeValue(attribute));
  });
  const [notBefore, notAfter] = sequence(validity, "validity");
  if (!notBefore || !notAfter) throw bad("no validity");
  return {
    signerId: `${values.join(" ")} ${derInteger(serial.content).toString()}`,
    notBefore: derTime(notBefore),
    notAfter: derTime(notAfter),
  };
}

function attributeValue(attribute: DerElement): string {
  const [type, value] = sequence(attribute, "issuer attribute");
  if (type?.tag !== DER.OID || !value) throw bad("issuer attribute without a type and a value");
  switch (value.tag) {
    case DER.BMP_STRING:
      return decode("utf-16be", value.content);
    case DER.UNIVERSAL_STRING:
      return utf32be(value.content);
    case DER.UTF8_STRING:
    case DER.PRINTABLE_STRING:
    case DER.IA5_STRING:
    case DER.T61_STRING:
      return decode("utf-8", value.content);
    default:
      throw bad(`issuer attribute of ASN.1 type ${value.tag} is not a string`);
  }
}

function decode(encoding: "utf-8" | "utf-16be", bytes: Uint8Array): string {
  try {
    return new TextDecoder(encoding, { fatal: true }).decode(bytes);
  } catch {
    throw bad(`issuer attribute is not valid ${encoding}`);
  }
}

function utf32be(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw bad("issuer attribute is not valid utf-32");
  let out = "";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at < bytes.length; at += 4) {
    const code = view.getUint32(at);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw bad("issuer attribute is not valid utf-32");
    out += String.fromCodePoint(code);
  }
  return out;
}

function sequence(element: DerElement | undefined, what: string): DerElement[] {
  if (element?.tag !== DER.SEQUENCE) throw bad(`${what} is not a SEQUENCE`);
  return derChildren(element.content);
}

function bad(reason: string): ProtocolError {
  return new ProtocolError("MALFORMED_MESSAGE", `not an X.509 certificate: ${reason}`);
}
