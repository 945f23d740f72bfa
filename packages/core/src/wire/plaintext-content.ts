/**
 * PlaintextContent (libsignal `protocol.rs`, ciphertext type 8): content sent without
 * encryption, which libsignal allows for exactly one thing — a decryption-error message, since
 * the device that sends one has no working session to send it on:
 *
 *   0xC0 ‖ Content { 8: decryption_error_message (bytes) } ‖ 0x80
 *
 * 0xC0 marks the bytes as plaintext content (so no other Content can be passed off as one);
 * 0x80 is the padding boundary of Signal's content padding, with no padding after it (these
 * messages all have one length). `Content` is Signal's `proto/service.proto` message; only its
 * field 8 means anything here.
 */
import { ParleyError } from '../errors.js';
import {
  type DecryptionErrorMessage,
  decodeDecryptionErrorMessage,
  encodeDecryptionErrorMessage,
  MAX_DECRYPTION_ERROR_MESSAGE_BYTES,
} from './decryption-error-message.js';
import { assertBytes } from './limits.js';
import { ProtobufReader, ProtobufWriter } from './protobuf.js';

const WHAT = 'PlaintextContent';

/** libsignal `PLAINTEXT_CONTEXT_IDENTIFIER_BYTE`. */
export const PLAINTEXT_CONTENT_IDENTIFIER = 0xc0;
/** libsignal `PADDING_BOUNDARY_BYTE`. */
export const PLAINTEXT_CONTENT_BOUNDARY = 0x80;

/** `Content.decryption_error_message` in Signal's `service.proto`. */
const CONTENT_DECRYPTION_ERROR_FIELD = 8;

/**
 * Largest plaintext content read: a decryption-error message with its framing. A type-8 frame
 * is not authenticated by any session, so it is bounded before it is parsed.
 */
export const MAX_PLAINTEXT_CONTENT_BYTES = MAX_DECRYPTION_ERROR_MESSAGE_BYTES + 16;

/** The type-8 body carrying a decryption-error message, byte for byte as libsignal's `PlaintextContent::from`. */
export function encodeDecryptionErrorContent(message: DecryptionErrorMessage): Uint8Array {
  const content = new ProtobufWriter()
    .bytes(CONTENT_DECRYPTION_ERROR_FIELD, encodeDecryptionErrorMessage(message))
    .finish();
  const out = new Uint8Array(content.length + 2);
  out[0] = PLAINTEXT_CONTENT_IDENTIFIER;
  out.set(content, 1);
  out[out.length - 1] = PLAINTEXT_CONTENT_BOUNDARY;
  return out;
}

/**
 * The decryption-error message in a type-8 body, checked as libsignal reads one
 * (`PlaintextContent::try_from`, then `extract_decryption_error_message_from_serialized_content`):
 * the identifier byte first, the boundary byte last, a Content with field 8. Other Content
 * fields are skipped (libsignal ignores them too); every malformation is `ERR_INVALID_MESSAGE`.
 */
export function decodeDecryptionErrorContent(bytes: Uint8Array): DecryptionErrorMessage {
  assertBytes(bytes, 'bytes');
  if (bytes.length > MAX_PLAINTEXT_CONTENT_BYTES) {
    throw invalid(`${bytes.length} bytes, limit ${MAX_PLAINTEXT_CONTENT_BYTES}`, { length: bytes.length });
  }
  if (bytes.length < 2) throw invalid('too short', { length: bytes.length });
  if (bytes[0] !== PLAINTEXT_CONTENT_IDENTIFIER) throw invalid('not plaintext content (identifier byte)', {});
  if (bytes[bytes.length - 1] !== PLAINTEXT_CONTENT_BOUNDARY) throw invalid('no padding boundary byte', {});
  const reader = new ProtobufReader(bytes.subarray(1, bytes.length - 1), 'Content');
  let message: Uint8Array | undefined;
  while (reader.hasMore()) {
    const tag = reader.readTag();
    if (tag.fieldNumber === CONTENT_DECRYPTION_ERROR_FIELD) message = reader.readBytes(tag);
    else reader.skip(tag);
  }
  if (message === undefined) throw invalid('no decryption-error message in the content', {});
  return decodeDecryptionErrorMessage(message);
}

function invalid(reason: string, details: Record<string, number>): ParleyError {
  return new ParleyError('ERR_INVALID_MESSAGE', `${WHAT}: ${reason}`, { message: WHAT, ...details });
}
