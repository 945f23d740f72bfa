/**
 * What the two sender-key (group) wire formats share, and where they differ.
 *
 * - `signal`: libsignal's (`rust/protocol/src/protocol.rs`, `proto/wire.proto`). Both messages
 *   carry a 16-byte distribution id (a UUID) in field 1; the receiver finds the sender key by
 *   (sender, distribution id, chain id). Ciphertext message type 7.
 * - `whatsapp`: the WhatsApp family's, as Baileys (`lib/Signal/Group`) and whatsmeow speak it,
 *   inherited from libsignal-protocol-java before distribution ids existed. Field 1 is the
 *   chain id (Baileys: `id`); the group is named outside the message (in the WhatsApp `Message`
 *   that carries the distribution message, and in the transport frame of a group message).
 *
 * In both, the version byte is 0x33, the SenderKeyMessage is signed (XEdDSA over Curve25519,
 * the same signatures as signed prekeys) over version byte ‖ protobuf, and the signing key in a
 * distribution message is a 33-byte 0x05-prefixed Curve25519 public key.
 */
import { ParleyError } from '../errors.js';
import { assertBytes } from './limits.js';

export const SENDER_KEY_FORMATS = ['signal', 'whatsapp'] as const;
export type SenderKeyFormat = (typeof SENDER_KEY_FORMATS)[number];

/** libsignal `SENDERKEY_MESSAGE_CURRENT_VERSION`; Baileys' `CURRENT_VERSION` is the same 3. */
export const SENDER_KEY_VERSION = 3;

/** XEdDSA signature appended to a SenderKeyMessage. */
export const SENDER_KEY_SIGNATURE_LENGTH = 64;

/** A distribution id is a UUID in its 16 raw bytes (libsignal `Uuid::from_slice` accepts nothing else). */
export const DISTRIBUTION_ID_LENGTH = 16;

/** A sender chain key, as in the Double Ratchet. */
export const SENDER_CHAIN_KEY_LENGTH = 32;

export function isSenderKeyFormat(value: unknown): value is SenderKeyFormat {
  return value === 'signal' || value === 'whatsapp';
}

export function assertSenderKeyFormat(value: unknown, field = 'format'): asserts value is SenderKeyFormat {
  if (!isSenderKeyFormat(value)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected "signal" or "whatsapp"`, { field });
  }
}

/** 0x33: the version in both nibbles, as libsignal and Baileys write it. */
export function senderKeyVersionByte(): number {
  return (SENDER_KEY_VERSION << 4) | SENDER_KEY_VERSION;
}

/**
 * Checks a received version byte. Only the high nibble counts, as in libsignal: lower is a
 * legacy version, higher an unknown one; both are refused with `ERR_UNKNOWN_VERSION`.
 */
export function readSenderKeyVersion(byte: number, what: string): number {
  const version = byte >> 4;
  if (version !== SENDER_KEY_VERSION) {
    throw new ParleyError('ERR_UNKNOWN_VERSION', `${what}: unknown version ${version}`, {
      message: what,
      version,
    });
  }
  return version;
}

export function missingField(what: string, name: string, field: number): ParleyError {
  return new ParleyError('ERR_INVALID_MESSAGE', `${what}: missing required field ${name}`, {
    message: what,
    field,
    name,
  });
}

/** Field 1 of the `signal` format: exactly 16 bytes. */
export function checkDistributionId(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length !== DISTRIBUTION_ID_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_MESSAGE',
      `${what}: distribution id must be ${DISTRIBUTION_ID_LENGTH} bytes, got ${bytes.length}`,
      { message: what, field: 1, length: bytes.length },
    );
  }
  return bytes.slice();
}

/** Guards encoder inputs: a 16-byte distribution id. */
export function assertDistributionIdArgument(value: unknown): asserts value is Uint8Array {
  assertBytes(value, 'distributionId');
  if (value.length !== DISTRIBUTION_ID_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"distributionId" expected ${DISTRIBUTION_ID_LENGTH} bytes, got ${value.length}`,
      { field: 'distributionId', length: value.length },
    );
  }
}
