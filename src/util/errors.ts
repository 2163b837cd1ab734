// The root of every error Celeriac raises: one class with a stable machine-readable `code`, so callers
// and logs can tell failures apart without parsing messages.

/** Every error Celeriac raises extends this. `code` is stable across versions. */
export class CeleriacError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A message that cannot be decoded or is not allowed (wrong content type, too large, malformed). */
export class ProtocolError extends CeleriacError {
  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export type ProtocolErrorCode =
  | "CONTENT_TYPE_NOT_ALLOWED"
  | "MESSAGE_TOO_LARGE"
  | "MALFORMED_MESSAGE"
  | "ENCODE_ERROR"
  /** Message signing is on and the message is unsigned, badly signed, or signed by an untrusted or expired certificate. */
  | "SECURITY_ERROR";

/** Invalid configuration, found when the app or worker is created. */
export class ConfigError extends CeleriacError {
  constructor(message: string) {
    super("CONFIG_INVALID", message);
  }
}

/**
 * A broker or backend could not be reached or dropped the connection (code CONNECTION_ERROR): transient
 * failures, retried with backoff up to brokerConnectionMaxRetries attempts, each wait bounded.
 */
export class ConnectionError extends CeleriacError {
  constructor(message: string, options?: { cause?: unknown }, code = "CONNECTION_ERROR") {
    super(code, message, options);
  }
}

/** Why a server refused a connection for good: what must change before a retry can succeed. */
export type RefusalReason = "auth" | "permission" | "vhost" | "db" | "maxclients" | "tls" | "denied";

/**
 * The server refused the connection for a reason that retrying will not heal (code
 * CONNECTION_REFUSED_PERMANENTLY): credentials, permissions, an unknown vhost or db, a server at its
 * client limit, a certificate that fails verification. Never retried. Example:
 * `if (error instanceof ConnectionRefusedPermanently && error.reason === "auth") rotateSecret()`.
 */
export class ConnectionRefusedPermanently extends ConnectionError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options, "CONNECTION_REFUSED_PERMANENTLY");
  }
}

/** Waiting on something took longer than allowed. */
export class TimeoutError extends CeleriacError {
  constructor(message: string) {
    super("TIMEOUT", message);
  }
}
