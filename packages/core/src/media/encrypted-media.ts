import { inspectCustom } from '../redaction.js';
import type { MediaType } from './media-type.js';

/**
 * What encrypting a file yields besides the blob: every pointer field but the location (known
 * only once the blob is stored) and the MIME type (the caller's to say). Holds the media key, so
 * it prints and serializes without it.
 */
export interface EncryptedMedia {
  readonly type: MediaType;
  readonly mediaKey: Uint8Array;
  readonly fileSha256: Uint8Array;
  readonly fileEncSha256: Uint8Array;
  /** Plaintext bytes. */
  readonly fileLength: number;
  /** Blob bytes (ciphertext ‖ MAC). */
  readonly encryptedLength: number;
}

export function redactEncryptedMedia(media: EncryptedMedia): EncryptedMedia {
  const summary = () => ({
    encryptedMedia: {
      type: media.type,
      fileLength: media.fileLength,
      encryptedLength: media.encryptedLength,
    },
  });
  Object.defineProperty(media, 'toJSON', { value: summary, enumerable: false });
  Object.defineProperty(media, inspectCustom, {
    value: () => `EncryptedMedia ${JSON.stringify(summary().encryptedMedia)}`,
    enumerable: false,
  });
  return Object.freeze(media);
}
