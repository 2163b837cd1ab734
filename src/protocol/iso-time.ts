// Reads and writes the ISO-8601 timestamps Celery puts on the wire: eta/expires headers (aware,
// `+00:00`), result `date_done` (naive UTC) and kombu's JSON datetimes (`Z` suffix).

import { ProtocolError } from "../util/errors.ts";

/** 0001-01-01T00:00:00Z (Date.UTC maps years below 100 to 19xx, hence the literal). */
const MIN_PY_TIME = -62_135_596_800_000;
const MAX_PY_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Python's aware `datetime.isoformat()` in UTC, as Celery 5.2 writes `eta` and `expires`.
 * Microseconds are always written: Celery's own `parse_iso8601` reads the fraction digits as a count
 * of microseconds (`int("123")` = 123 µs), so a 3-digit millisecond fraction would be misread.
 *
 * @example formatIsoUtcOffset(new Date(Date.UTC(2026, 10, 21, 20, 16, 11, 123))) // "2026-11-21T20:16:11.123000+00:00"
 */
export function formatIsoUtcOffset(date: Date): string {
  const iso = checkedIso(date);
  return `${iso.slice(0, 19)}.${iso.slice(20, 23)}000+00:00`;
}

/**
 * `datetime.utcnow().isoformat()` as Celery writes `date_done`: no offset, 6-digit fraction.
 *
 * @example formatIsoNaiveUtc(new Date(Date.UTC(2026, 10, 21, 19, 27, 35, 369))) // "2026-11-21T19:27:35.369000"
 */
export function formatIsoNaiveUtc(date: Date): string {
  // A worker stamps thousands of results within one millisecond: format each millisecond once.
  const time = date.getTime();
  if (time === lastNaiveTime) return lastNaive;
  const iso = checkedIso(date);
  lastNaive = `${iso.slice(0, 19)}.${iso.slice(20, 23)}000`;
  lastNaiveTime = time;
  return lastNaive;
}

let lastNaiveTime = NaN;
let lastNaive = "";

/**
 * kombu's JSONEncoder for an aware UTC datetime: `isoformat()` with `+00:00` replaced by `Z`, the
 * fraction present only when non-zero (Python omits a zero microsecond).
 *
 * @example formatKombuDate(new Date("2030-01-02T03:04:05Z")) // "2030-01-02T03:04:05Z"
 */
export function formatKombuDate(date: Date): string {
  const iso = checkedIso(date);
  const ms = iso.slice(20, 23);
  return ms === "000" ? `${iso.slice(0, 19)}Z` : `${iso.slice(0, 19)}.${ms}000Z`;
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses the ISO-8601 forms Celery and kombu produce. A string without an offset is read as UTC:
 * Celery 5.2's `maybe_make_aware` stamps naive datetimes with UTC before converting (worker/request.py).
 * Returns null for anything that is not a valid date-time.
 *
 * @example parseIsoDate("2030-01-02T03:04:05") // 2030-01-02T03:04:05.000Z
 */
export function parseIsoDate(text: string): Date | null {
  const m = ISO_RE.exec(text);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  // Date keeps milliseconds: further fraction digits are truncated, as int(µs / 1000) would.
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) {
    return null;
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCDate() !== day) return null; // e.g. February 30th rolled over
  date.setUTCHours(hour, minute, second, ms);
  const zone = m[8];
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0");
    date.setTime(date.getTime() - sign * offsetMinutes * 60_000);
  }
  return date;
}

function checkedIso(date: Date): string {
  const time = date.getTime();
  // Python's datetime covers years 1..9999 only; toISOString would also throw on an invalid Date.
  if (Number.isNaN(time) || time < MIN_PY_TIME || time > MAX_PY_TIME) {
    throw new ProtocolError("ENCODE_ERROR", `date ${String(date)} cannot be sent to Python (years 1..9999 only)`);
  }
  return date.toISOString();
}
