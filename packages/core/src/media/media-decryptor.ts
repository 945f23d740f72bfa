import { concatBytes } from '../bytes.js';
import { assertBytes } from '../crypto/guards.js';
import type { CryptoProvider, IncrementalCipher } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { type MediaCheck, mediaIntegrityError } from './media-errors.js';
import { MEDIA_MAC_LENGTH } from './media-format.js';
import { deriveMediaKeys, wipeMediaKeys } from './media-keys.js';
import type { VerifiedBlob } from './media-verifier.js';
import { Segmenter } from './segment-binding.js';

const EMPTY = new Uint8Array(0);

/**
 * Pass 2 of decryption: reads the blob again and releases plaintext one segment at a time, each
 * only after its bytes proved identical to what pass 1 verified. Anything else — another
 * length, a changed segment — is `ERR_MEDIA_INTEGRITY` (`changed` or `length`) before that
 * segment's plaintext exists.
 */
export class MediaDecryptor {
  readonly #verified: VerifiedBlob;
  readonly #cipher: IncrementalCipher;
  readonly #macOffset: number;
  readonly #segmenter: Segmenter;
  #ready: Uint8Array[] = [];
  #offset = 0;
  #segment = 0;
  #segmentStart = 0;
  #ended = false;

  constructor(crypto: CryptoProvider, verified: VerifiedBlob) {
    if (verified === null || typeof verified !== 'object' || verified.binding === undefined) {
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        '"verified" expected the result of MediaVerifier.finish',
        {
          field: 'verified',
        },
      );
    }
    this.#verified = verified;
    const keys = deriveMediaKeys(crypto, verified.descriptor.mediaKey, verified.descriptor.type);
    this.#cipher = crypto.createAes256CbcDecryptor(keys.cipherKey, keys.iv);
    wipeMediaKeys(keys);
    this.#macOffset = verified.encryptedLength - MEDIA_MAC_LENGTH;
    this.#segmenter = new Segmenter((segment) => this.#release(segment));
  }

  /** Reads the next blob bytes; returns plaintext of the segments completed by them. */
  update(chunk: Uint8Array): Uint8Array {
    this.#assertOpen();
    assertBytes(chunk, 'chunk');
    if (chunk.length > this.#verified.encryptedLength - this.#offset) this.#fail('length');
    this.#offset += chunk.length;
    this.#segmenter.push(chunk);
    return this.#take();
  }

  /** The rest of the plaintext. */
  finish(): Uint8Array {
    this.#assertOpen();
    if (this.#offset !== this.#verified.encryptedLength) this.#fail('length');
    this.#segmenter.end();
    this.#ended = true;
    let last: Uint8Array;
    try {
      last = this.#cipher.final();
    } catch {
      // Unreachable with bytes identical to the verified ones; kept typed all the same.
      this.#fail('changed');
    }
    this.#ready.push(last);
    const out = this.#take();
    this.#destroy();
    return out;
  }

  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#destroy();
  }

  #release(segment: Uint8Array): void {
    if (!this.#verified.binding.matches(this.#segment, segment)) this.#fail('changed');
    const start = this.#segmentStart;
    this.#segment += 1;
    this.#segmentStart += segment.length;
    const cipherEnd = Math.max(0, Math.min(segment.length, this.#macOffset - start));
    if (cipherEnd > 0) this.#ready.push(this.#cipher.update(segment.subarray(0, cipherEnd)));
  }

  #take(): Uint8Array {
    const parts = this.#ready.filter((part) => part.length > 0);
    this.#ready = [];
    if (parts.length === 0) return EMPTY;
    return parts.length === 1 ? parts[0]! : concatBytes(...parts);
  }

  #fail(check: MediaCheck): never {
    for (const part of this.#ready) part.fill(0);
    this.#ready = [];
    this.#ended = true;
    this.#destroy();
    throw mediaIntegrityError(check, this.#verified.descriptor.type);
  }

  #destroy(): void {
    this.#segmenter.wipe();
    this.#verified.binding.destroy();
    this.#verified.descriptor.mediaKey.fill(0);
  }

  #assertOpen(): void {
    if (this.#ended) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', 'the media decryptor was already finished or aborted', {
        field: 'decryptor',
      });
    }
  }
}
