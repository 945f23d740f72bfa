import { ParleyError } from '../errors.js';

/**
 * Largest encoded SignalMessage or PreKeySignalMessage we read or write: 256 KiB.
 *
 * Why this number: a message carries one padded plaintext (Signal clients pad content to
 * 160-byte blocks and keep attachments out of band, so real messages are a few KiB), a
 * PreKeySignalMessage adds two 33-byte keys, a 1569-byte Kyber ciphertext and the inner
 * SignalMessage, and an SPQR `pq_ratchet` field adds a few KiB at most. 256 KiB leaves two
 * orders of magnitude of headroom while bounding the memory and hashing work an attacker can
 * make us do before the MAC check rejects the message.
 */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/** SignalMessage MAC: the first 8 bytes of HMAC-SHA256 (libsignal `SignalMessage::MAC_LENGTH`). */
export const MAC_LENGTH = 8;

/** X3DH sessions. */
export const CIPHERTEXT_VERSION_V3 = 3;
/** PQXDH sessions (a Kyber prekey in the handshake). */
export const CIPHERTEXT_VERSION_V4 = 4;

export type CiphertextVersion = typeof CIPHERTEXT_VERSION_V3 | typeof CIPHERTEXT_VERSION_V4;

/** Curve25519 public key on the wire: 0x05 ‖ 32-byte u-coordinate. */
export const PUBLIC_KEY_LENGTH = 33;
export const PUBLIC_KEY_TYPE_DJB = 0x05;

/** Kyber-1024 ciphertext on the wire: 0x08 ‖ 1568 bytes. */
export {
  KYBER_KEY_TYPE,
  KYBER1024_CIPHERTEXT_LENGTH as KYBER_CIPHERTEXT_LENGTH,
} from '../kyber/kyber1024.js';

/**
 * The version byte we emit: the session version in both nibbles (0x33, 0x44). libsignal ≥ 0.24
 * puts its "current version" in the low nibble (0x34 in a v3 session), which the JS libraries
 * reject, so we never do that; see `readVersionByte` for the lenient direction.
 */
export function versionByte(version: CiphertextVersion): number {
  return (version << 4) | version;
}

export function isCiphertextVersion(value: unknown): value is CiphertextVersion {
  return value === CIPHERTEXT_VERSION_V3 || value === CIPHERTEXT_VERSION_V4;
}

/**
 * Reads the session version from a received version byte. Only the high nibble is checked, as
 * libsignal does: libsignal ≥ 0.24 writes 0x34 in v3 sessions, so a low nibble other than the
 * high one is normal traffic.
 */
export function readVersionByte(byte: number): CiphertextVersion {
  const version = byte >> 4;
  if (!isCiphertextVersion(version)) {
    throw new ParleyError('ERR_UNKNOWN_VERSION', `unknown message version ${version}`, { version });
  }
  return version;
}

/** Refuses an encoded message above MAX_MESSAGE_BYTES before any parsing work. */
export function assertMessageSize(length: number, what: string): void {
  if (length > MAX_MESSAGE_BYTES) {
    throw new ParleyError('ERR_MESSAGE_TOO_LARGE', `${what} is ${length} bytes, limit ${MAX_MESSAGE_BYTES}`, {
      message: what,
      length,
      limit: MAX_MESSAGE_BYTES,
    });
  }
}

/**
 * A Curve25519 public key as it appears in a message: exactly 33 bytes, type byte 0x05.
 * libsignal tolerates trailing bytes after the 32-byte key (with a warning); we do not, since
 * no peer has been seen to send them and accepting them would make two encodings of one key.
 */
export function assertWirePublicKey(key: Uint8Array, field: string): void {
  if (key.length !== PUBLIC_KEY_LENGTH || key[0] !== PUBLIC_KEY_TYPE_DJB) {
    throw new ParleyError(
      'ERR_INVALID_KEY',
      `"${field}" expected a ${PUBLIC_KEY_LENGTH}-byte 0x05-prefixed public key, got ${key.length} bytes`,
      { field, length: key.length },
    );
  }
}

/** Guards encoder inputs: a uint32 counter or id. */
export function assertUint32(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected a uint32`, { field });
  }
}

export function assertBytes(value: unknown, field: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected Uint8Array`, { field });
  }
}

export function assertVersion(value: unknown): asserts value is CiphertextVersion {
  if (!isCiphertextVersion(value)) {
    throw new ParleyError('ERR_UNKNOWN_VERSION', 'unknown message version', {
      version: typeof value === 'number' ? value : String(value),
    });
  }
}
