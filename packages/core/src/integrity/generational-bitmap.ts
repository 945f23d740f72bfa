/**
 * "Seen within the last L milliseconds" for keyed hashes, in fixed memory: `generations + 1`
 * bitmaps of `bits` bits each, one per slice of L / generations. A value is set in the
 * current slice's bitmap; membership is the OR of all of them; a slice older than L is
 * cleared whole. So a value is remembered for at least L and at most L × (1 + 1/generations).
 *
 * Each bit is shared by every value hashing to it, hashes are keyed, and the bits of a slice
 * vanish with it: the bitmap holds no list to search and nothing that outlives the lookback.
 * The price is false positives (a value never added reads as "seen") at a rate equal to the
 * fill for one hash position; `fill()` lets callers correct counts for it.
 */
import type { Hash64 } from './sketch-key.js';

export interface GenerationalBitmapOptions {
  readonly lookbackMs: number;
  readonly generations: number;
  /** A power of two, at least 32. */
  readonly bits: number;
  /** Bit positions per value (Bloom's k); 1 keeps the fill correction exact. */
  readonly positions: number;
}

export class GenerationalBitmap {
  readonly options: GenerationalBitmapOptions;
  /** One row of `bits / 32` words per slot. */
  readonly words: Uint32Array;
  /** Index (time / slice length) of the newest slice written; -1 before the first write. */
  newest = -1;
  #unionBits = 0;
  readonly #slots: number;
  readonly #rowWords: number;
  readonly #sliceMs: number;

  constructor(options: GenerationalBitmapOptions) {
    this.options = options;
    this.#slots = options.generations + 1;
    this.#rowWords = options.bits >>> 5;
    this.#sliceMs = Math.ceil(options.lookbackMs / options.generations);
    this.words = new Uint32Array(this.#slots * this.#rowWords);
  }

  /** Clears the slices that fell out of the lookback at `now`. */
  advance(now: number): void {
    const slice = Math.floor(now / this.#sliceMs);
    if (this.newest < 0) {
      this.newest = slice;
      return;
    }
    if (slice <= this.newest) return;
    const stale = Math.min(slice - this.newest, this.#slots);
    for (let step = 1; step <= stale; step++) {
      const slot = (this.newest + step) % this.#slots;
      this.words.fill(0, slot * this.#rowWords, (slot + 1) * this.#rowWords);
    }
    this.newest = slice;
    this.#recountUnion();
  }

  has(hash: Hash64): boolean {
    for (let i = 0; i < this.options.positions; i++)
      if (!this.#unionHas(this.#position(hash, i))) return false;
    return true;
  }

  /** Sets the value in the current slice (refreshing it); returns whether it was absent before. */
  add(hash: Hash64): boolean {
    const row = (this.newest % this.#slots) * this.#rowWords;
    let absent = false;
    for (let i = 0; i < this.options.positions; i++) {
      const position = this.#position(hash, i);
      if (!this.#unionHas(position)) {
        absent = true;
        this.#unionBits++;
      }
      this.words[row + (position >>> 5)]! |= 1 << (position & 31);
    }
    return absent;
  }

  /** Share of bits set in the union: the false-positive rate for one position. */
  fill(): number {
    return this.#unionBits / this.options.bits;
  }

  /** After restoring `words` and `newest` from bytes. */
  restored(): void {
    this.#recountUnion();
  }

  clear(): void {
    this.words.fill(0);
    this.#unionBits = 0;
  }

  #position(hash: Hash64, i: number): number {
    // Kirsch–Mitzenmacher double hashing: k positions from two halves of one hash.
    return (hash.high + Math.imul(i, hash.low | 1)) & (this.options.bits - 1);
  }

  #unionHas(position: number): boolean {
    const word = position >>> 5;
    const mask = 1 << (position & 31);
    for (let slot = 0; slot < this.#slots; slot++)
      if ((this.words[slot * this.#rowWords + word]! & mask) !== 0) return true;
    return false;
  }

  #recountUnion(): void {
    let count = 0;
    for (let word = 0; word < this.#rowWords; word++) {
      let union = 0;
      for (let slot = 0; slot < this.#slots; slot++) union |= this.words[slot * this.#rowWords + word]!;
      // Popcount of a 32-bit word.
      union -= (union >>> 1) & 0x55555555;
      union = (union & 0x33333333) + ((union >>> 2) & 0x33333333);
      count += Math.imul((union + (union >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
    }
    this.#unionBits = count;
  }
}
