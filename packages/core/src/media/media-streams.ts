/** Media encryption and decryption as Web Streams (browsers, Deno, Node's global streams). */
import type { MediaByteSource, MediaSourceOpener } from './byte-source.js';
import { generatorStream } from './byte-source.js';
import type { EncryptedMedia } from './encrypted-media.js';
import {
  checkDecryption,
  type DecryptMediaOptions,
  decryptChunks,
  deferred,
  type EncryptMediaOptions,
  encryptChunks,
  startEncryption,
} from './media-pipeline.js';
import type { MediaDescriptor } from './media-verifier.js';

export interface MediaEncryptStream {
  /** The blob, pulled from `source` as it is read; store it as it comes. */
  readonly blob: ReadableStream<Uint8Array>;
  /** The pointer fields, once the blob stream has ended (rejects if it failed or was cancelled). */
  readonly media: Promise<EncryptedMedia>;
}

/**
 * Encrypts `source` as it is read, in constant memory. Argument errors and a `declaredLength`
 * above `maxBytes` throw here, before anything is read; a source that exceeds `maxBytes` errors
 * the stream (`ERR_MEDIA_TOO_LARGE`) before the excess byte is processed, and is cancelled.
 */
export function encryptMediaStream(
  source: MediaByteSource,
  options: EncryptMediaOptions,
): MediaEncryptStream {
  const encryptor = startEncryption(options);
  const media = deferred<EncryptedMedia>();
  return { blob: generatorStream(encryptChunks(source, encryptor, options, media)), media: media.promise };
}

/**
 * The plaintext of the blob that `open` returns (called twice: verify, then decrypt). The MAC,
 * both hashes and the length are checked before the first plaintext byte is enqueued; a failed
 * check errors the stream with `ERR_MEDIA_INTEGRITY` and nothing of the file is released.
 */
export function decryptMediaStream(
  open: MediaSourceOpener,
  pointer: MediaDescriptor,
  options: DecryptMediaOptions = {},
): ReadableStream<Uint8Array> {
  checkDecryption(open, pointer, options);
  return generatorStream(decryptChunks(open, pointer, options));
}
