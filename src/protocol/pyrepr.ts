// Python-style display strings for task arguments, written like Celery's `saferepr` into the `argsrepr`
// and `kwargsrepr` headers that Flower and worker logs show: bounded in length and nesting depth.

import { TextDecoder } from "node:util";
import { formatKombuDate } from "./iso-time.ts";

/** Celery's `argsrepr_maxsize` / `kwargsrepr_maxsize` default (celery/app/amqp.py). */
export const REPR_MAX_LENGTH = 1024;
/** saferepr's `maxlevels`: containers nested deeper are shown as `[...]` / `{...}`. */
const MAX_LEVELS = 3;

/**
 * The args as the tuple Celery shows, e.g. `(2, 3)`, `('boom',)`, `()`.
 *
 * @param maxLength output budget in characters, default 1024; beyond it the text ends in `, ...`
 * @example reprArgs([2, "x"]) // "(2, 'x')"
 */
export function reprArgs(args: readonly unknown[], maxLength = REPR_MAX_LENGTH): string {
  return render(args, maxLength, true);
}

/**
 * The kwargs as a Python dict, e.g. `{'y': 3}`.
 *
 * @param maxLength output budget in characters, default 1024
 * @example reprKwargs({ y: 3 }) // "{'y': 3}"
 */
export function reprKwargs(kwargs: Readonly<Record<string, unknown>>, maxLength = REPR_MAX_LENGTH): string {
  return render(kwargs, maxLength, false);
}

/**
 * Any value as Python's repr would show it once it reached Python (arrays as lists).
 *
 * @param maxLength output budget in characters, default 1024
 * @example pyRepr({ a: [1, null] }) // "{'a': [1, None]}"
 */
export function pyRepr(value: unknown, maxLength = REPR_MAX_LENGTH): string {
  return render(value, maxLength, false);
}

interface State {
  parts: string[];
  left: number;
  closers: string[];
  stopped: boolean;
  seen: Set<object>;
}

function render(value: unknown, maxLength: number, asTuple: boolean): string {
  const st: State = { parts: [], left: maxLength, closers: [], stopped: false, seen: new Set() };
  emit(value, 0, st, asTuple);
  return st.parts.join("");
}

/** Appends a token; once the budget is spent, ends like saferepr: ", ..." then every open closer. */
function put(st: State, text: string): void {
  if (st.stopped) return;
  if (st.left <= 0) {
    st.stopped = true;
    st.parts.push(", ...");
    for (let i = st.closers.length - 1; i >= 0; i--) st.parts.push(st.closers[i] as string);
    return;
  }
  st.parts.push(text);
  st.left -= text.length;
}

function emit(value: unknown, level: number, st: State, asTuple = false): void {
  if (st.stopped) return;
  switch (typeof value) {
    case "undefined":
      return put(st, "None");
    case "boolean":
      return put(st, value ? "True" : "False");
    case "number":
      return put(st, reprNumber(value));
    case "bigint":
      return put(st, value.toString());
    case "string":
      return put(st, quote(value, st.left));
    case "function":
      return put(st, `<function ${value.name || "<anonymous>"}>`);
    case "symbol":
      return put(st, value.toString());
    default:
      break;
  }
  if (value === null) return put(st, "None");
  const obj = value as object;
  if (obj instanceof Date) return put(st, quote(dateText(obj), st.left));
  if (ArrayBuffer.isView(obj)) return put(st, reprBytes(obj));
  if (obj instanceof Set && obj.size === 0) return put(st, "set()");

  let open: string;
  let close: string;
  let items: Iterable<unknown> | undefined;
  let entries: Iterable<[unknown, unknown]> | undefined;
  if (Array.isArray(obj)) {
    [open, close, items] = asTuple ? ["(", obj.length === 1 ? ",)" : ")", obj] : ["[", "]", obj];
  } else if (obj instanceof Set) {
    [open, close, items] = ["{", "}", obj];
  } else if (obj instanceof Map) {
    [open, close, entries] = ["{", "}", obj.entries()];
  } else {
    [open, close, entries] = ["{", "}", Object.entries(obj)];
  }
  if (level >= MAX_LEVELS) return put(st, `${open}...${close}`);
  if (st.seen.has(obj)) return put(st, `<Recursion on ${Array.isArray(obj) ? "list" : "dict"}>`);
  st.seen.add(obj);
  put(st, open);
  st.closers.push(close);
  let first = true;
  if (items !== undefined) {
    for (const item of items) {
      if (!first) put(st, ", ");
      first = false;
      emit(item, level + 1, st);
    }
  } else if (entries !== undefined) {
    for (const [key, item] of entries) {
      if (!first) put(st, ", ");
      first = false;
      put(st, typeof key === "string" ? quote(key, st.left) : String(key));
      put(st, ": ");
      emit(item, level + 1, st);
    }
  }
  st.closers.pop();
  st.seen.delete(obj);
  // Closers are not charged to the budget: a cut repr still reads as balanced Python.
  if (!st.stopped) st.parts.push(close);
}

/** The string the serializers send for a Date (kombu's format), so the repr shows what Python gets. */
function dateText(date: Date): string {
  try {
    return formatKombuDate(date);
  } catch {
    return Number.isNaN(date.getTime()) ? "Invalid Date" : date.toISOString();
  }
}

function reprNumber(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (n === Infinity) return "inf";
  if (n === -Infinity) return "-inf";
  return String(n);
}

/** saferepr quotes with ' and escapes only ' (celery/utils/saferepr.py `_format_chars`). */
function quote(text: string, left: number): string {
  // celery.utils.text.truncate: cut at the budget and add "...".
  const cut = left > 0 && text.length >= left ? `${text.slice(0, left)}...` : text;
  return `'${cut.replaceAll("'", "\\'")}'`;
}

let utf8: TextDecoder | undefined;

/** saferepr shows bytes as b'<utf-8 text>' when they decode, else as b'<hex>'. */
function reprBytes(view: ArrayBufferView): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  utf8 ??= new TextDecoder("utf-8", { fatal: true });
  try {
    return `b'${utf8.decode(bytes)}'`;
  } catch {
    return `b'${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}'`;
  }
}
