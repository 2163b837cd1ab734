// Tests iso-time.ts: Celery's timestamp shapes written and read, naive strings as UTC.

import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIsoNaiveUtc, formatIsoUtcOffset, formatKombuDate, parseIsoDate } from "./iso-time.ts";
import { ProtocolError } from "../util/errors.ts";

const at = new Date(Date.UTC(2026, 10, 21, 20, 16, 11, 123));

test("formats the three shapes Celery and kombu use", () => {
  assert.equal(formatIsoUtcOffset(at), "2026-11-21T20:16:11.123000+00:00");
  assert.equal(formatIsoNaiveUtc(at), "2026-11-21T20:16:11.123000");
  assert.equal(formatKombuDate(at), "2026-11-21T20:16:11.123000Z");
  assert.equal(formatKombuDate(new Date(Date.UTC(2030, 0, 2))), "2030-01-02T00:00:00Z");
  assert.equal(formatIsoUtcOffset(new Date(Date.UTC(2030, 0, 2))), "2030-01-02T00:00:00.000000+00:00");
});

test("dates Python cannot hold are ENCODE_ERROR", () => {
  const isEncode = (err: unknown) => err instanceof ProtocolError && err.code === "ENCODE_ERROR";
  assert.throws(() => formatIsoUtcOffset(new Date(NaN)), isEncode);
  assert.throws(() => formatIsoUtcOffset(new Date(Date.UTC(10000, 0, 1))), isEncode);
  const year1 = new Date(0);
  year1.setUTCFullYear(1, 0, 1);
  assert.equal(formatIsoNaiveUtc(year1), "0001-01-01T00:00:00.000000");
});

test("parses aware, naive, Z and offset forms", () => {
  const cases: [string, string][] = [
    ["2030-01-02T03:04:05.123456+00:00", "2030-01-02T03:04:05.123Z"],
    ["2030-01-02T03:04:05", "2030-01-02T03:04:05.000Z"], // naive = UTC (add-eta-naive)
    ["2030-01-02T03:04:05.6", "2030-01-02T03:04:05.600Z"],
    ["2030-01-02T03:04:05Z", "2030-01-02T03:04:05.000Z"],
    ["2030-01-02T03:04:05.999999-05:30", "2030-01-02T08:34:05.999Z"],
    ["2030-01-02T03:04:05+0100", "2030-01-02T02:04:05.000Z"],
    ["2030-01-02 03:04", "2030-01-02T03:04:00.000Z"],
    ["2030-01-02", "2030-01-02T00:00:00.000Z"],
  ];
  for (const [text, iso] of cases) assert.equal(parseIsoDate(text)?.toISOString(), iso, text);
});

test("round-trips every shape it writes", () => {
  for (const fmt of [formatIsoUtcOffset, formatIsoNaiveUtc, formatKombuDate]) {
    assert.equal(parseIsoDate(fmt(at))?.getTime(), at.getTime());
  }
});

test("rejects what is not a valid date-time", () => {
  for (const text of ["", "tomorrow", "2030-13-01", "2030-02-30T00:00:00", "2030-01-02T24:00:00", "2030-01-02T03:04:05+00:00junk", "0000-01-01"]) {
    assert.equal(parseIsoDate(text), null, text);
  }
});
