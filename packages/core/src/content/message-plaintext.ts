import { utf8 } from '../bytes.js';
import {
  type ContentEnvelope,
  type DecodedContentEnvelope,
  decodeContentEnvelope,
  encodeContentEnvelope,
} from './content-envelope.js';
import { DEFAULT_PADDING_BLOCK, padContent, unpadContent } from './padding.js';

/**
 * What a Signal session encrypts for one message: the content envelope, padded to the padding
 * block (Signal's 0x80-and-zeros padding, 160 bytes by default; `false` for peers that do not
 * pad). Both sides of a conversation use these two functions — the gateway and the person's
 * client (the testing kit, the examples' libsignal clients).
 */
export function encodeMessagePlaintext(
  envelope: ContentEnvelope,
  padding: number | false = DEFAULT_PADDING_BLOCK,
): Uint8Array {
  const encoded = encodeContentEnvelope(envelope);
  return padding === false ? encoded : padContent(encoded, padding);
}

/**
 * The envelope in a decrypted plaintext. Plaintext that is not an envelope Parley can read —
 * a peer that sends its own format, or content made only of fields Parley does not know — is
 * read as raw `bytes`, so nothing a person sent is lost; `raw` says so.
 */
export function decodeMessagePlaintext(
  plaintext: Uint8Array,
  padding: number | false = DEFAULT_PADDING_BLOCK,
): DecodedContentEnvelope & { readonly raw: boolean } {
  const unpadded = padding === false ? plaintext : unpadContent(plaintext);
  try {
    const envelope = decodeContentEnvelope(unpadded);
    if (hasContent(envelope)) return { ...envelope, raw: false };
  } catch {
    // Not an envelope: handed over as it came.
  }
  return { bytes: unpadded, unknownFields: [], raw: true };
}

/** The content as bytes: the text in UTF-8, or the raw bytes (empty for media-only content). */
export function contentBytes(envelope: ContentEnvelope): Uint8Array {
  if (envelope.text !== undefined) return utf8(envelope.text);
  return envelope.bytes ?? new Uint8Array(0);
}

function hasContent(envelope: ContentEnvelope): boolean {
  return (
    envelope.text !== undefined ||
    envelope.bytes !== undefined ||
    envelope.media !== undefined ||
    envelope.group !== undefined ||
    envelope.senderKeyDistribution !== undefined
  );
}
