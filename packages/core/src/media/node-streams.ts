/**
 * Media encryption and decryption as Node streams (`@parley/core/node` only: the core entry
 * imports nothing from `node:*`). The same pipelines as the Web Streams in `media-streams.ts`;
 * a Node `Readable` is also accepted as a source there, since it is an async iterable.
 */
import { Readable } from 'node:stream';
import type { MediaByteSource, MediaSourceOpener } from './byte-source.js';
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

export interface MediaEncryptNodeStream {
  /** The blob as a Node `Readable`; pipe it into the blob store or a file. */
  readonly blob: Readable;
  readonly media: Promise<EncryptedMedia>;
}

/** `encryptMediaStream` for Node: same checks, same errors, a `Readable` of blob bytes. */
export function encryptMediaNodeStream(
  source: MediaByteSource,
  options: EncryptMediaOptions,
): MediaEncryptNodeStream {
  const encryptor = startEncryption(options);
  const media = deferred<EncryptedMedia>();
  const blob = Readable.from(encryptChunks(source, encryptor, options, media), { objectMode: false });
  return { blob, media: media.promise };
}

/**
 * `decryptMediaStream` for Node: a `Readable` of plaintext that emits nothing before the MAC,
 * both hashes and the length checked, and is destroyed with `ERR_MEDIA_INTEGRITY` otherwise.
 */
export function decryptMediaNodeStream(
  open: MediaSourceOpener,
  pointer: MediaDescriptor,
  options: DecryptMediaOptions = {},
): Readable {
  checkDecryption(open, pointer, options);
  return Readable.from(decryptChunks(open, pointer, options), { objectMode: false });
}
