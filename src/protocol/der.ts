// A minimal reader for ASN.1 DER, enough to walk an X.509 certificate's TBSCertificate (issuer, serial
// number, validity): node:crypto's X509Certificate only prints these, escaped for humans.
import { ProtocolError } from "../util/errors.ts";

/** One DER element: its tag byte and the bytes of its content. */
export interface DerElement {
  tag: number;
  content: Uint8Array;
}

/** Universal tags this project reads. */
export const DER = Object.freeze({
  INTEGER: 0x02,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
});

/**
 * The elements one after another in `bytes` (the content of a SEQUENCE or SET). Throws ProtocolError
 * (MALFORMED_MESSAGE) on a truncated element or a length form DER does not allow.
 *
 * @example derChildren(tbs.content)[0]?.tag // 0xa0 (the version, explicitly tagged)
 */
export function derChildren(bytes: Uint8Array): DerElement[] {
  const out: DerElement[] = [];
  let at = 0;
  while (at < bytes.length) {
    const tag = bytes[at++] as number;
    // High tag numbers (low five bits all set) never occur in the parts of a certificate we read.
    if ((tag & 0x1f) === 0x1f) throw bad("high tag numbers are not supported");
    let length = bytes[at++];
    if (length === undefined) throw bad("truncated length");
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4) throw bad("indefinite or oversized length");
      length = 0;
      for (let i = 0; i < count; i++) {
        const byte = bytes[at++];
        if (byte === undefined) throw bad("truncated length");
        length = length * 256 + byte;
      }
    }
    if (at + length > bytes.length) throw bad("element runs past its parent");
    out.push({ tag, content: bytes.subarray(at, at + length) });
    at += length;
  }
  return out;
}

/** The single element that `bytes` holds (a whole certificate, say). */
export function derRoot(bytes: Uint8Array): DerElement {
  const [first, ...rest] = derChildren(bytes);
  if (!first || rest.length > 0) throw bad("expected exactly one element");
  return first;
}

/** A DER INTEGER's value (two's complement, big-endian), as a BigInt. */
export function derInteger(content: Uint8Array): bigint {
  if (content.length === 0) throw bad("empty INTEGER");
  let value = 0n;
  for (const byte of content) value = (value << 8n) | BigInt(byte);
  // Negative when the top bit is set (serial numbers should not be, but some are).
  if ((content[0] as number) & 0x80) value -= 1n << BigInt(content.length * 8);
  return value;
}

/** A UTCTime (YYMMDDHHMMSSZ, years 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ) as a Date. */
export function derTime(element: DerElement): Date {
  const text = Buffer.from(element.content).toString("latin1");
  const m = element.tag === DER.UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw bad(`unreadable time ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  // RFC 5280 4.1.2.5.1: a two-digit year below 50 is 20YY, else 19YY.
  const year = element.tag === DER.UTC_TIME ? (y < 50 ? 2000 + y : 1900 + y) : y;
  return new Date(Date.UTC(year, mo - 1, d, h, mi, s));
}

function bad(reason: string): ProtocolError {
  return new ProtocolError("MALFORMED_MESSAGE", `invalid DER: ${reason}`);
}
