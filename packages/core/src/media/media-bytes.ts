/** One-shot media encryption and decryption of bytes already in memory (small files, tests). */
import { concatBytes } from '../bytes.js';
import { defaultCrypto } from '../crypto/default.js';
import { assertBytes } from '../crypto/guards.js';
import { defaultRandom } from '../crypto/random.js';
import type { EncryptedMedia } from './encrypted-media.js';
import {
  checkDecryption,
  type DecryptMediaOptions,
  type EncryptMediaOptions,
  startEncryption,
} from './media-pipeline.js';
import { type MediaDescriptor, MediaVerifier } from './media-verifier.js';

export function encryptMedia(
  plaintext: Uint8Array,
  options: EncryptMediaOptions,
): { readonly blob: Uint8Array; readonly media: EncryptedMedia } {
  assertBytes(plaintext, 'plaintext');
  const encryptor = startEncryption(options);
  const head = encryptor.update(plaintext);
  const { tail, media } = encryptor.finish();
  return { blob: concatBytes(head, tail), media };
}

/**
 * Checks and decrypts a whole blob held in memory. One pass suffices here: the bytes cannot
 * change between checking and decrypting, so the plaintext of the checking pass is returned
 * (it exists only in this call until every check passed).
 */
export function decryptMedia(
  blob: Uint8Array,
  pointer: MediaDescriptor,
  options: Omit<DecryptMediaOptions, 'onProgress'> = {},
): Uint8Array {
  assertBytes(blob, 'blob');
  checkDecryption(() => [blob], pointer, options);
  const verifier = new MediaVerifier({
    crypto: options.crypto ?? defaultCrypto(),
    random: options.random ?? defaultRandom,
    descriptor: pointer,
    keepPlaintext: true,
  });
  verifier.update(blob);
  const verified = verifier.finish();
  verified.binding.destroy();
  const pieces = verified.plaintext!;
  const plaintext = concatBytes(...pieces);
  for (const piece of pieces) piece.fill(0);
  return plaintext;
}
