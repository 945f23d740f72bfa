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
 * The tag is AES-256-GMAC (GCM with the segment as associated data and nothing to encrypt) under
 * a key drawn fresh for each decryption and never stored or shown: an attacker who does not know
 * it cannot make a changed segment match (the forgery chance is about segment blocks / 2^128).
 * GMAC rather than SHA-256 because it runs at several GB/s on AES-NI/PCLMUL, where a third
 * SHA-256 pass would cost as much as the whole MAC check.
 */
import { constantTimeEqual } from '../crypto/constant-time.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';

/** Plaintext held back at most, in pass 2 (and the granularity of the check). */
export const BINDING_SEGMENT_BYTES = 256 * 1024;
const EMPTY = new Uint8Array(0);
const NONCE_LENGTH = 12;

/** The tags of pass 1 and the key they were made under; lives only for one decryption. */
export class SegmentBinding {
  readonly #crypto: CryptoProvider;
  readonly #key: Uint8Array;
  readonly #tags: Uint8Array[] = [];

  constructor(crypto: CryptoProvider, random: RandomSource) {
    this.#crypto = crypto;
    this.#key = random(32);
  }

  get segments(): number {
    return this.#tags.length;
  }

  /** Pass 1: the tag of the next segment. */
  record(segment: Uint8Array): void {
    this.#tags.push(this.#tag(this.#tags.length, segment));
  }

  /** Pass 2: whether segment `index` is the one pass 1 saw. */
  matches(index: number, segment: Uint8Array): boolean {
    const expected = this.#tags[index];
    return expected !== undefined && constantTimeEqual(expected, this.#tag(index, segment));
  }

  /** Forgets the key (best effort; JavaScript cannot promise copies are gone). */
  destroy(): void {
    this.#key.fill(0);
    this.#tags.length = 0;
  }

  #tag(index: number, segment: Uint8Array): Uint8Array {
    const nonce = new Uint8Array(NONCE_LENGTH);
    new DataView(nonce.buffer).setUint32(NONCE_LENGTH - 4, index);
    new DataView(nonce.buffer).setUint32(NONCE_LENGTH - 8, Math.floor(index / 0x1_0000_0000));
    return this.#crypto.aes256GcmEncrypt(this.#key, nonce, EMPTY, segment);
  }
}

/**
 * Cuts a byte stream into segments of `BINDING_SEGMENT_BYTES` (the last one shorter) in one
 * reused buffer; `onSegment` must be done with the bytes before it returns.
 */
export class Segmenter {
  readonly #buffer = new Uint8Array(BINDING_SEGMENT_BYTES);
  #filled = 0;

  constructor(private readonly onSegment: (segment: Uint8Array) => void) {}

  push(data: Uint8Array): void {
    let offset = 0;
    while (offset < data.length) {
      const take = Math.min(data.length - offset, BINDING_SEGMENT_BYTES - this.#filled);
      this.#buffer.set(data.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      offset += take;
      if (this.#filled === BINDING_SEGMENT_BYTES) this.#emit();
    }
  }

  /** Emits the last, shorter segment if there is one. */
  end(): void {
    if (this.#filled > 0) this.#emit();
  }

  wipe(): void {
    this.#buffer.fill(0);
    this.#filled = 0;
  }

  #emit(): void {
    const segment = this.#buffer.subarray(0, this.#filled);
    this.#filled = 0;
    this.onSegment(segment);
  }
}
