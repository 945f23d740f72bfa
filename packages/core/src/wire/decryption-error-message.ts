/**
 * DecryptionErrorMessage (libsignal `protocol.rs`, `proto/service.proto`): what a device sends
 * back, in a plaintext content (type 8, `plaintext-content.ts`), when it cannot decrypt a
 * message. It names the message, not its content:
 *
 *   1 ratchet_key (bytes, 33)  the sender ratchet key of the SignalMessage that failed (of the
 *                              one inside a PreKeySignalMessage); absent for a sender-key message
 *   2 timestamp   (uint64)     the failed message's timestamp, as its sender stamped it; required
 *   3 device_id   (uint32)     the device that sent the failed message (absent reads as 0)
 *
 * The sender answers by resending the message it kept under that timestamp and, when the
 * ratchet key is still its current session's, by archiving that session and starting afresh.
 */
import { ParleyError } from '../errors.js';
import { assertBytes, assertUint32, assertWirePublicKey } from './limits.js';
import { decodePreKeySignalMessage } from './prekey-signal-message.js';
import { ProtobufReader, ProtobufWriter } from './protobuf.js';
import { decodeSignalMessage } from './signal-message.js';

const WHAT = 'DecryptionErrorMessage';

const Field = { RatchetKey: 1, Timestamp: 2, DeviceId: 3 } as const;

/**
 * A DecryptionErrorMessage is three small fields (about 50 bytes). Anything much larger is not
 * one; refusing it before parsing bounds the work an unauthenticated plaintext frame can cause.
 */
export const MAX_DECRYPTION_ERROR_MESSAGE_BYTES = 512;

export interface DecryptionErrorMessage {
  /** 33 bytes (0x05 ‖ 32); undefined when the failed message was a sender-key (group) message. */
  readonly ratchetKey?: Uint8Array | undefined;
  /** Epoch milliseconds, the failed message's timestamp. */
  readonly timestamp: number;
  /** The device that sent the failed message. */
  readonly deviceId: number;
}

/** The message types a decryption error can name (libsignal refuses plaintext content, 8). */
export type FailedMessageType = 2 | 3 | 7;

/**
 * The DecryptionErrorMessage for a message that could not be decrypted, as libsignal's
 * `DecryptionErrorMessage::for_original`: the ratchet key is read from the SignalMessage (type 2)
 * or the one inside a PreKeySignalMessage (type 3); a sender-key message (type 7) has none.
 * An original that does not parse has no ratchet key to name: `ERR_INVALID_MESSAGE` (or the
 * codec's code), as libsignal refuses it.
 */
export function decryptionErrorFor(
  original: { readonly type: FailedMessageType; readonly body: Uint8Array },
  timestamp: number,
  originalSenderDeviceId: number,
): DecryptionErrorMessage {
  assertTimestamp(timestamp);
  assertUint32(originalSenderDeviceId, 'originalSenderDeviceId');
  if (typeof original !== 'object' || original === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"original" expected { type, body }', {
      field: 'original',
    });
  }
  assertBytes(original.body, 'original.body');
  if (original.type === 7) return { timestamp, deviceId: originalSenderDeviceId };
  return { ratchetKey: sendingRatchetKey(original as never), timestamp, deviceId: originalSenderDeviceId };
}

/**
 * The sender's ratchet key in a whisper message, or in the whisper message inside a prekey
 * message: what a decryption error about that message names.
 */
export function sendingRatchetKey(message: { readonly type: 2 | 3; readonly body: Uint8Array }): Uint8Array {
  switch (message.type as number) {
    case 2:
      return decodeSignalMessage(message.body).ratchetKey;
    case 3:
      return decodeSignalMessage(decodePreKeySignalMessage(message.body).message).ratchetKey;
    default:
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        '"original.type" expected 2 (whisper), 3 (prekey) or 7 (sender key): plaintext content is not encrypted',
        { field: 'original.type', type: String(message.type) },
      );
  }
}

/** Fields in number order with timestamp and device id always present, as prost writes libsignal's. */
export function encodeDecryptionErrorMessage(message: DecryptionErrorMessage): Uint8Array {
  if (typeof message !== 'object' || message === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"message" expected { ratchetKey?, timestamp, deviceId }', {
      field: 'message',
    });
  }
  const { ratchetKey, timestamp, deviceId } = message;
  assertTimestamp(timestamp);
  assertUint32(deviceId, 'deviceId');
  const writer = new ProtobufWriter();
  if (ratchetKey !== undefined) {
    assertBytes(ratchetKey, 'ratchetKey');
    assertWirePublicKey(ratchetKey, 'ratchetKey');
    writer.bytes(Field.RatchetKey, ratchetKey);
  }
  return writer.uint64(Field.Timestamp, timestamp).uint32(Field.DeviceId, deviceId).finish();
}

/**
 * Parses a DecryptionErrorMessage. As libsignal: the timestamp is required, an absent device
 * id reads as 0, a ratchet key must be a public key. Unknown fields are skipped; a timestamp
 * above 2^53 − 1 is refused (no real clock gets there).
 */
export function decodeDecryptionErrorMessage(bytes: Uint8Array): DecryptionErrorMessage {
  assertBytes(bytes, 'bytes');
  if (bytes.length > MAX_DECRYPTION_ERROR_MESSAGE_BYTES) {
    throw new ParleyError(
      'ERR_INVALID_MESSAGE',
      `${WHAT} is ${bytes.length} bytes, limit ${MAX_DECRYPTION_ERROR_MESSAGE_BYTES}`,
      { message: WHAT, length: bytes.length, limit: MAX_DECRYPTION_ERROR_MESSAGE_BYTES },
    );
  }
  let ratchetKey: Uint8Array | undefined;
  let timestamp: number | undefined;
  let deviceId = 0;
  const reader = new ProtobufReader(bytes, WHAT);
  while (reader.hasMore()) {
    const tag = reader.readTag();
    switch (tag.fieldNumber) {
      case Field.RatchetKey:
        ratchetKey = reader.readBytes(tag);
        break;
      case Field.Timestamp:
        timestamp = reader.readUint64(tag);
        break;
      case Field.DeviceId:
        deviceId = reader.readUint32(tag);
        break;
      default:
        reader.skip(tag);
    }
  }
  if (timestamp === undefined) {
    throw new ParleyError('ERR_INVALID_MESSAGE', `${WHAT}: missing required field timestamp`, {
      message: WHAT,
      field: Field.Timestamp,
      name: 'timestamp',
    });
  }
  if (ratchetKey !== undefined) assertWirePublicKey(ratchetKey, 'ratchetKey');
  return { ratchetKey: ratchetKey?.slice(), timestamp, deviceId };
}

function assertTimestamp(value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"timestamp" expected a non-negative safe integer', {
      field: 'timestamp',
    });
  }
}
