// Our internal shape of a task message, independent of any broker: what the producer builds and the
// worker runs. celery-v2.ts maps it to and from Celery's protocol v2 wire format.

/** A serialized call of one task, as a canvas/link reference (Celery's "signature"). */
export interface Signature {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  immutable: boolean;
  /** Celery's `subtask_type` ("chain", "group", "chord" or null for a plain task). */
  subtaskType: string | null;
}

/** Workflow data that travels with a message: what to run after it. */
export interface Embed {
  callbacks: Signature[] | null;
  errbacks: Signature[] | null;
  /** Remaining chain steps, in Celery's order: the next step is the LAST element. */
  chain: Signature[] | null;
  chord: Signature | null;
}

/** The serialization formats we accept. Pickle and YAML are never accepted. */
export type Serializer = "json" | "msgpack";

export interface TaskMessage {
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: Embed;
  /** When the task may run; null to run at once. */
  eta: Date | null;
  /** After this instant the task is discarded as REVOKED. */
  expires: Date | null;
  retries: number;
  rootId: string | null;
  parentId: string | null;
  groupId: string | null;
  groupIndex: number | null;
  /** Seconds: [hard, soft]; null means "use the task's own". */
  timeLimit: [number | null, number | null];
  priority: number | null;
  ignoreResult: boolean;
  /** Name to log and report instead of `task` (Celery's `shadow`). */
  shadow: string | null;
  origin: string | null;
  argsrepr: string | null;
  kwargsrepr: string | null;
  /** Reply queue (rpc result backend) and correlation id, as AMQP properties. */
  replyTo: string | null;
  correlationId: string | null;
  /** Custom headers given by the caller, kept apart from the protocol's own. */
  headers: Record<string, unknown>;
  serializer: Serializer;
}

/**
 * A message as a broker stores or transports it: serialized body bytes plus protocol headers and
 * properties. Brokers map this to their own framing (kombu's Redis JSON envelope, AMQP properties).
 */
export interface WireMessage {
  body: Uint8Array;
  /**
   * The body as text, when a broker already holds it as a string (a JSON body stored as text in a Redis
   * envelope): exactly the UTF-8 decoding of `body`. Decoders use it to skip the bytes round trip; the
   * broker then builds `body` only when something reads it.
   */
  bodyText?: string | undefined;
  contentType: string;
  contentEncoding: string;
  headers: Record<string, unknown>;
  properties: WireProperties;
}

export interface WireProperties {
  correlationId?: string | null | undefined;
  replyTo?: string | null | undefined;
  deliveryMode?: number | undefined;
  priority?: number | undefined;
  /** Milliseconds, as a decimal string (AMQP's `expiration`). */
  expiration?: string | undefined;
  /** Anything else a peer put in properties; kept so a re-published message loses nothing. */
  extra?: Record<string, unknown> | undefined;
}

/** The empty embed Celery sends with a plain call. */
export function emptyEmbed(): Embed {
  return { callbacks: null, errbacks: null, chain: null, chord: null };
}

/**
 * A WireMessage whose body is `text` (well-formed; its UTF-8 bytes are made on first read of `body`).
 * Example: `textBodyWire('[[1],{},{}]', "application/json", "utf-8", headers, properties)`.
 */
export function textBodyWire(text: string, contentType: string, contentEncoding: string, headers: Record<string, unknown>, properties: WireProperties): WireMessage {
  let bytes: Uint8Array | undefined;
  return {
    get body(): Uint8Array {
      if (bytes === undefined) {
        const buffer = Buffer.from(text, "utf8");
        bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      }
      return bytes;
    },
    set body(value: Uint8Array) {
      // Replaced bytes: the text no longer describes them.
      bytes = value;
      this.bodyText = undefined;
    },
    bodyText: text,
    contentType,
    contentEncoding,
    headers,
    properties,
  };
}

/**
 * A wire message from a body as a Redis envelope stores it: `text` when it was stored as text (kept as
 * text when it survives UTF-8 exactly), else `base64` decoded to bytes.
 */
export function storedBodyWire(text: string | null, base64: string, contentType: string, contentEncoding: string, headers: Record<string, unknown>, properties: WireProperties): WireMessage {
  if (text !== null && isWellFormedText(text)) return textBodyWire(text, contentType, contentEncoding, headers, properties);
  const body = text === null ? Buffer.from(base64, "base64") : Buffer.from(text, "utf8");
  return { body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), contentType, contentEncoding, headers, properties };
}

/** Whether a string has no lone surrogates (so its UTF-8 encoding decodes back to it exactly). */
export function isWellFormedText(text: string): boolean {
  const native = (text as { isWellFormed?: () => boolean }).isWellFormed;
  if (native) return native.call(text);
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}
