/**
 * Binds the decrypting pass to the verifying pass.
 *
 * Decryption reads the blob twice: pass 1 checks the MAC and both hashes without releasing
 * anything, pass 2 decrypts and releases. A source that is re-read (a blob store, an HTTP URL)
 * could return other bytes the second time; under CBC, a flipped ciphertext bit flips the same
 * bit of the next plaintext block, so unchecked second-pass bytes would let whoever controls the
 * storage edit the released plaintext even though pass 1 verified. So pass 1 also records a tag
 * per 256 KiB segment of the blob, and pass 2 releases a segment's plaintext only after its tag
 * matches.
 *
 * The tag is AES-256-GMAC (GCM's tag over the segment as associated data) under a key drawn
 * fresh for each decryption and never stored or shown, with the segment's index as nonce: an
 * attacker who does not know the key cannot make a changed segment match (the forgery chance is
 * about segment blocks / 2^128). GMAC rather than SHA-256 because it runs at several GB/s on
 * AES-NI/PCLMUL, where another SHA-256 pass would cost as much as the whole MAC check; it is fed
 * the chunks as they come, so no segment is copied.
 */
import { constantTimeEqual } from '../crypto/constant-time.js';
import type { CryptoProvider, IncrementalHash, RandomSource } from '../crypto/provider.js';

/** Plaintext held back at most, in pass 2 (and the granularity of the check). */
export const BINDING_SEGMENT_BYTES = 256 * 1024;
const NONCE_LENGTH = 12;

/** The key and the tags of pass 1; lives only for one decryption. */
export class SegmentBinding {
  readonly #crypto: CryptoProvider;
  readonly #key: Uint8Array;
  readonly #tags: Uint8Array[] = [];

  constructor(crypto: CryptoProvider, random: RandomSource) {
    this.#crypto = crypto;
    this.#key = random(32);
  }

  /** Walks a blob of `length` bytes from its start, tagging each segment. */
  walk(length: number): SegmentWalk {
    return new SegmentWalk(length, (index) => {
      const nonce = new Uint8Array(NONCE_LENGTH);
      const view = new DataView(nonce.buffer);
      view.setUint32(NONCE_LENGTH - 8, Math.floor(index / 0x1_0000_0000));
      view.setUint32(NONCE_LENGTH - 4, index >>> 0);
      return this.#crypto.createAes256Gmac(this.#key, nonce);
    });
  }

  /** Pass 1: the tag of the next segment. */
  record(tag: Uint8Array): void {
    this.#tags.push(tag);
  }

  /** Pass 2: whether segment `index` had this tag in pass 1. */
  matches(index: number, tag: Uint8Array): boolean {
    const expected = this.#tags[index];
    return expected !== undefined && constantTimeEqual(expected, tag);
  }

  /** Forgets the key (best effort; JavaScript cannot promise copies are gone). */
  destroy(): void {
    this.#key.fill(0);
    this.#tags.length = 0;
  }
}

/**
 * The segments of one pass over a blob: `feed` splits chunks at segment ends (every
 * BINDING_SEGMENT_BYTES, and the blob's end) and hands each piece on with, at a segment end,
 * that segment's tag.
 */
export class SegmentWalk {
  #offset = 0;
  #index = 0;
  #mac: IncrementalHash;

  constructor(
    private readonly length: number,
    private readonly macFor: (index: number) => IncrementalHash,
  ) {
    this.#mac = macFor(0);
  }

  /** `onPiece(piece, offset, tag)`: `tag` is set when the piece ends a segment. */
  feed(
    chunk: Uint8Array,
    onPiece: (piece: Uint8Array, offset: number, tag: Uint8Array | undefined) => void,
  ): void {
    let start = 0;
    while (start < chunk.length) {
      const segmentEnd = Math.min((this.#index + 1) * BINDING_SEGMENT_BYTES, this.length);
      const take = Math.min(chunk.length - start, segmentEnd - this.#offset);
      // Callers never feed past the blob's length; stop rather than spin if one does.
      if (take <= 0) return;
      const piece = chunk.subarray(start, start + take);
      const offset = this.#offset;
      this.#mac.update(piece);
      this.#offset += take;
      start += take;
      let tag: Uint8Array | undefined;
      if (this.#offset === segmentEnd) {
        tag = this.#mac.digest();
        this.#index += 1;
        if (this.#offset < this.length) this.#mac = this.macFor(this.#index);
      }
      onPiece(piece, offset, tag);
    }
  }

  get index(): number {
    return this.#index;
  }
}
