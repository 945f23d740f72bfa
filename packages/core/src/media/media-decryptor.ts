import { assertBytes } from '../crypto/guards.js';
import type { CryptoProvider, IncrementalCipher } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { type MediaCheck, mediaIntegrityError } from './media-errors.js';
import { MEDIA_MAC_LENGTH } from './media-format.js';
import { deriveMediaKeys, wipeMediaKeys } from './media-keys.js';
import type { VerifiedBlob } from './media-verifier.js';
import type { SegmentWalk } from './segment-binding.js';

const NONE: readonly Uint8Array[] = [];

/**
 * Pass 2 of decryption: reads the blob again and releases plaintext one segment at a time, each
 * only after its bytes proved identical to what pass 1 verified. A segment is decrypted as its
 * chunks arrive (while they are in cache) and held until its tag matched; anything else —
 * another length, a changed segment — is `ERR_MEDIA_INTEGRITY` (`changed` or `length`), and
 * that segment's plaintext is wiped unreleased.
 */
export class MediaDecryptor {
  readonly #verified: VerifiedBlob;
  readonly #cipher: IncrementalCipher;
  readonly #macOffset: number;
  readonly #segments: SegmentWalk;
  #held: Uint8Array[] = [];
  #offset = 0;
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
    this.#segments = verified.binding.walk(verified.encryptedLength);
  }

  /** Reads the next blob bytes; returns the plaintext of the segments they completed. */
  update(chunk: Uint8Array): readonly Uint8Array[] {
    this.#assertOpen();
    assertBytes(chunk, 'chunk');
    if (chunk.length > this.#verified.encryptedLength - this.#offset) this.#fail('length');
    this.#offset += chunk.length;
    let released: Uint8Array[] | undefined;
    this.#segments.feed(chunk, (piece, offset, tag) => {
      const cipherEnd = Math.max(0, Math.min(piece.length, this.#macOffset - offset));
      if (cipherEnd > 0) {
        const plaintext = this.#cipher.update(piece.subarray(0, cipherEnd));
        if (plaintext.length > 0) this.#held.push(plaintext);
      }
      if (!tag) return;
      if (!this.#verified.binding.matches(this.#segments.index - 1, tag)) this.#fail('changed');
      released = released === undefined ? this.#held : released.concat(this.#held);
      this.#held = [];
    });
    return released ?? NONE;
  }

  /** The rest of the plaintext (the final block, verified with the last segment). */
  finish(): readonly Uint8Array[] {
    this.#assertOpen();
    if (this.#offset !== this.#verified.encryptedLength) this.#fail('length');
    this.#ended = true;
    let last: Uint8Array;
    try {
      last = this.#cipher.final();
    } catch {
      // Unreachable with bytes identical to the verified ones; kept typed all the same.
      this.#fail('changed');
    }
    this.#destroy();
    return last.length > 0 ? [last] : NONE;
  }

  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#destroy();
  }

  #fail(check: MediaCheck): never {
    for (const part of this.#held) part.fill(0);
    this.#held = [];
    this.#ended = true;
    this.#destroy();
    throw mediaIntegrityError(check, this.#verified.descriptor.type);
  }

  #destroy(): void {
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
