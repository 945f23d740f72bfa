/**
 * `@parley/core/content`: the content envelope every message carries inside its Signal
 * encryption (the WhatsApp family's `Message` protobuf; see docs/content-envelope.md).
 */
export {
  type ContentEnvelope,
  type DecodedContentEnvelope,
  decodeContentEnvelope,
  encodeContentEnvelope,
  type GroupContext,
  MAX_DISTRIBUTION_MESSAGE_BYTES,
  MAX_ENVELOPE_BYTES,
  MAX_GROUP_ID_LENGTH,
  MESSAGE_FIELDS,
  PARLEY_EXTENSION_FIELD,
  type SenderKeyDistribution,
} from './content-envelope.js';
export {
  DEFAULT_MIMETYPE,
  decodeMediaMessage,
  encodeMediaMessage,
  MEDIA_MESSAGE_FIELDS,
} from './media-message.js';
export { contentBytes, decodeMessagePlaintext, encodeMessagePlaintext } from './message-plaintext.js';
export { DEFAULT_PADDING_BLOCK, padContent, unpadContent } from './padding.js';
