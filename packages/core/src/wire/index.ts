/** Signal wire messages: byte-compatible with libsignal's `protocol.rs` and `wire.proto`. */

/**
 * Message type numbers as libsignal reports them (`CiphertextMessageType`). The JS libraries
 * (libsignal-node, privacyresearch) call a whisper message 1; map at their boundary, not here.
 * SenderKey (7) is a group message (Baileys' own enum calls it 4; WhatsApp frames say "skmsg").
 * Plaintext (8) is unencrypted content: only ever a decryption-error message.
 */
export const CiphertextMessageType = { Whisper: 2, PreKey: 3, SenderKey: 7, Plaintext: 8 } as const;
export type CiphertextMessageType = (typeof CiphertextMessageType)[keyof typeof CiphertextMessageType];

export {
  type DecryptionErrorMessage,
  decodeDecryptionErrorMessage,
  decryptionErrorFor,
  encodeDecryptionErrorMessage,
  type FailedMessageType,
  MAX_DECRYPTION_ERROR_MESSAGE_BYTES,
  sendingRatchetKey,
} from './decryption-error-message.js';
export {
  CIPHERTEXT_VERSION_V3,
  CIPHERTEXT_VERSION_V4,
  type CiphertextVersion,
  KYBER_CIPHERTEXT_LENGTH,
  MAC_LENGTH,
  MAX_MESSAGE_BYTES,
  PUBLIC_KEY_LENGTH,
  versionByte,
} from './limits.js';
export {
  decodeDecryptionErrorContent,
  encodeDecryptionErrorContent,
  MAX_PLAINTEXT_CONTENT_BYTES,
  PLAINTEXT_CONTENT_BOUNDARY,
  PLAINTEXT_CONTENT_IDENTIFIER,
} from './plaintext-content.js';
export {
  type DecodedPreKeySignalMessage,
  decodePreKeySignalMessage,
  encodePreKeySignalMessage,
  type PreKeySignalMessageFields,
} from './prekey-signal-message.js';
export {
  type DecodedSenderKeyDistributionMessage,
  decodeSenderKeyDistributionMessage,
  encodeSenderKeyDistributionMessage,
  type SenderKeyDistributionMessageFields,
} from './sender-key-distribution-message.js';
export {
  DISTRIBUTION_ID_LENGTH,
  SENDER_KEY_FORMATS,
  SENDER_KEY_SIGNATURE_LENGTH,
  SENDER_KEY_VERSION,
  type SenderKeyFormat,
} from './sender-key-format.js';
export {
  appendSenderKeySignature,
  type DecodedSenderKeyMessage,
  decodeSenderKeyMessage,
  encodeSenderKeyMessageBody,
  type SenderKeyMessageFields,
} from './sender-key-message.js';
export {
  appendMac,
  type DecodedSignalMessage,
  decodeSignalMessage,
  encodeSignalMessageBody,
  type SignalMessageFields,
} from './signal-message.js';
