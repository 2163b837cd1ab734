// Size caps for stored failure records and the one helper that enforces them, so a task that throws a
// 10 MB message or an endless cause chain cannot bloat the result backend (Faktory caps errors the same way).

import { TextEncoder } from "node:util";

/** Longest error type name kept, in characters. */
export const ERROR_TYPE_MAX_CHARS = 200;
/** Largest error message kept, in UTF-8 bytes. */
export const ERROR_MESSAGE_MAX_BYTES = 4 * 1024;
/** Largest traceback kept, in UTF-8 bytes. */
export const TRACEBACK_MAX_BYTES = 16 * 1024;

let encoder: TextEncoder | undefined;

/**
 * Cuts `text` so its UTF-8 encoding, marker included, fits in `maxBytes`; never splits a character.
 * The head is kept: JS stacks and messages put the most useful part first.
 *
 * @example truncateUtf8("x".repeat(5000), 4096) // 4071 × "x" + "…[truncated 929 bytes]"
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Each UTF-16 unit encodes to at most 3 UTF-8 bytes: short strings skip the byte count.
  if (text.length * 3 <= maxBytes) return text;
  const total = Buffer.byteLength(text, "utf8");
  if (total <= maxBytes) return text;
  // Reserve room for the longest marker this text can need (the omitted count is at most `total`).
  const reserve = Buffer.byteLength(marker(total), "utf8");
  const room = Math.max(0, maxBytes - reserve);
  encoder ??= new TextEncoder();
  // encodeInto stops before a code point that does not fit, so surrogate pairs are never split.
  const { read, written } = encoder.encodeInto(text, new Uint8Array(room));
  return text.slice(0, read) + marker(total - written);
}

function marker(omittedBytes: number): string {
  return `…[truncated ${omittedBytes} bytes]`;
}
