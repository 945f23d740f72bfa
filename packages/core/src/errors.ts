/**
 * One error type for everything Parley refuses. `code` is stable and documented; callers
 * branch on it, never on `message`. Messages and `details` never carry key bytes,
 * plaintext or phone numbers — only lengths, ids, counters and names of fields.
 */
export const ERROR_CODES = [
  // Input shape
  'ERR_INVALID_ARGUMENT',
  'ERR_INVALID_KEY',
  'ERR_INVALID_SIGNATURE',
  'ERR_INVALID_MESSAGE',
  'ERR_MESSAGE_TOO_LARGE',
  /** A media file or blob above its size limit, refused before it is buffered. */
  'ERR_MEDIA_TOO_LARGE',
  'ERR_UNKNOWN_VERSION',
  'ERR_VERSION_MISMATCH',
  // Cryptographic failure
  'ERR_INVALID_MAC',
  'ERR_DECRYPTION_FAILED',
  /** A media blob is not what its pointer says (MAC, a hash, the length, or changed while read). */
  'ERR_MEDIA_INTEGRITY',
  /** The sparse post-quantum ratchet refused a message's pq_ratchet field; `details.reason` says why. */
  'ERR_PQ_RATCHET',
  // Protocol state
  'ERR_DUPLICATE_MESSAGE',
  'ERR_MESSAGE_GAP_TOO_LARGE',
  'ERR_SESSION_NOT_FOUND',
  'ERR_SESSION_EXPIRED',
  'ERR_NO_VALID_SESSION',
  'ERR_PREKEY_NOT_FOUND',
  'ERR_KYBER_PREKEY_REUSED',
  'ERR_UNTRUSTED_IDENTITY',
  'ERR_PROTOCOL_VERSION_REFUSED',
  /**
   * The peer requires SPQR (libsignal 0.92 and later) and this manager has it off. Raised when
   * such a peer's first message arrives; as initiator the peer refuses silently, so a
   * decryption-error message from it (once Parley reads them) should map to this code too.
   */
  'ERR_PEER_REQUIRES_SPQR',
  /** This manager requires SPQR and the peer does not speak it (or stopped speaking it). */
  'ERR_PEER_LACKS_SPQR',
  'ERR_INVALID_RECORD',
  /** A group message whose sender key (distribution) this receiver never got or no longer keeps. */
  'ERR_SENDER_KEY_NOT_FOUND',
  /** A group distribution message or group message from a device the membership hook refused. */
  'ERR_NOT_GROUP_MEMBER',
  /** Too much key derivation for messages that then failed verification (per device or in total). */
  'ERR_WORK_BUDGET_EXHAUSTED',
  // Storage
  'ERR_STORE_CONFLICT',
  'ERR_STORE_CLOSED',
  'ERR_STORE_SCHEMA',
  'ERR_STORE_FAILURE',
  // Business layer
  'ERR_RETENTION_EXPIRED',
  'ERR_RESIDENCY',
  'ERR_INTEGRITY_BLOCKED',
  'ERR_CONFIGURATION',
  'ERR_NOT_FOUND',
  'ERR_TRANSPORT_FAILURE',
  'ERR_CLOSED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Structured, non-secret facts about an error: ids, counts, lengths, field names. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * A registered symbol (shared by every copy of this package in a process: `Symbol.for` is
 * global), so an error thrown by one copy of `@parley/core` is recognised by another — an
 * app with adapters that brought their own copy, or a bundle that inlined one.
 */
const PARLEY_ERROR_BRAND = Symbol.for('@parley/core/ParleyError');

export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ParleyError';
    this.code = code;
    this.details = details;
    Object.defineProperty(this, PARLEY_ERROR_BRAND, { value: true });
  }

  /** `instanceof ParleyError` holds for errors from any copy of the package (see the brand). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [PARLEY_ERROR_BRAND]?: unknown })[PARLEY_ERROR_BRAND] === true
    );
  }

  toJSON(): { name: string; code: ErrorCode; message: string; details: ErrorDetails } {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

/**
 * Type guard; pass a code to also check which error it is. Recognises errors from any copy of
 * `@parley/core` in the process (a registered symbol brand, not the class identity).
 */
export function isParleyError(value: unknown, code?: ErrorCode): value is ParleyError {
  return value instanceof ParleyError && (code === undefined || value.code === code);
}
