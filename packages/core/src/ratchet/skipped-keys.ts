/**
 * The skipped message keys of one receiving chain, kept in the bytes they are stored as:
 * entries of `u32 index ‖ 32-byte seed`, ascending by index. A chain only ever adds keys above
 * every key it holds (the walk goes forward from the committed chain key, past all of them), so
 * ascending order is insertion order and the oldest entries are the smallest — exactly what
 * the session record format stores. Hence:
 * - lookup is a binary search, with no Map and no per-key object;
 * - a record is written with one copy of the whole section, and read back with one copy and
 *   one pass of checks (no re-encoding of keys that did not change);
 * - a late message removes its entry by moving the entries after it down (a `copyWithin` of at
 *   most MAX_MESSAGE_KEYS × 36 bytes);
 * - a clone (SPQR handles its chains as immutable values) shares the bytes until one of the two
 *   changes them: removing the newest entry (late messages arriving newest first) copies nothing.
 */
export const SKIPPED_ENTRY_SIZE = 36;
const SEED_LENGTH = 32;

export class SkippedKeys {
  #bytes: Uint8Array;
  #view: DataView;
  #count: number;
  /** The bytes may be another instance's too (a clone): copied before any change but a shrink. */
  #shared = false;

  private constructor(bytes: Uint8Array, count: number) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#count = count;
  }

  static empty(): SkippedKeys {
    return new SkippedKeys(new Uint8Array(0), 0);
  }

  /**
   * Keys from their stored section of `count` entries, which it takes over (pass a copy).
   * Returns a string naming the defect when the indices are not strictly ascending (a repeated
   * key, or a record not written by a Parley walk); the caller turns it into its typed error.
   */
  static decode(bytes: Uint8Array, count: number): SkippedKeys | string {
    if (bytes.length !== count * SKIPPED_ENTRY_SIZE) return 'skipped keys of the wrong length';
    const keys = new SkippedKeys(bytes, count);
    for (let i = 1; i < count; i++) {
      if (keys.#indexAt(i) <= keys.#indexAt(i - 1)) return 'skipped keys out of order or repeated';
    }
    return keys;
  }

  get size(): number {
    return this.#count;
  }

  /** The stored section: `size` entries. A view; valid until the next change. */
  encoded(): Uint8Array {
    return this.#bytes.subarray(0, this.#count * SKIPPED_ENTRY_SIZE);
  }

  /** A copy of the seed kept for `index`, if any. */
  get(index: number): Uint8Array | undefined {
    const at = this.#find(index);
    if (at < 0) return undefined;
    const from = at * SKIPPED_ENTRY_SIZE + 4;
    return this.#bytes.slice(from, from + SEED_LENGTH);
  }

  has(index: number): boolean {
    return this.#find(index) >= 0;
  }

  /**
   * Removes the key for `index`; false when there was none. Its seed bytes are zeroed, unless a
   * clone still holds them (the newest entry of shared bytes is only cut off).
   */
  delete(index: number): boolean {
    const at = this.#find(index);
    if (at < 0) return false;
    if (this.#shared && at === this.#count - 1) {
      this.#count--;
      return true;
    }
    this.#own();
    const end = this.#count * SKIPPED_ENTRY_SIZE;
    this.#bytes.copyWithin(at * SKIPPED_ENTRY_SIZE, (at + 1) * SKIPPED_ENTRY_SIZE, end);
    this.#bytes.fill(0, end - SKIPPED_ENTRY_SIZE, end);
    this.#count--;
    return true;
  }

  /** Adds keys above every key held (as a forward walk produces them), in ascending order. */
  append(entries: readonly (readonly [number, Uint8Array])[]): void {
    if (entries.length === 0) return;
    this.#own();
    const needed = (this.#count + entries.length) * SKIPPED_ENTRY_SIZE;
    if (needed > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(needed, 2 * this.#bytes.length));
      grown.set(this.encoded());
      this.#bytes.fill(0);
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    let last = this.#count > 0 ? this.#indexAt(this.#count - 1) : -1;
    for (const [index, seed] of entries) {
      if (index <= last || seed.length !== SEED_LENGTH) {
        // A programming error, not bad input: the ratchet only appends forward walks.
        throw new Error('skipped keys must be appended in ascending order, 32-byte seeds');
      }
      last = index;
    }
    for (const [index, seed] of entries) {
      const offset = this.#count * SKIPPED_ENTRY_SIZE;
      this.#view.setUint32(offset, index);
      this.#bytes.set(seed, offset + 4);
      this.#count++;
    }
  }

  /** A copy (for states handled as immutable values: SPQR's chains), sharing the bytes until either changes. */
  clone(): SkippedKeys {
    const copy = new SkippedKeys(this.#bytes, this.#count);
    this.#shared = true;
    copy.#shared = true;
    return copy;
  }

  /** Bytes of its own before a change that another holder must not see. */
  #own(): void {
    if (!this.#shared) return;
    this.#bytes = this.encoded().slice();
    this.#view = new DataView(this.#bytes.buffer);
    this.#shared = false;
  }

  /** Drops every key below `index`. */
  dropBelow(index: number): void {
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#indexAt(mid) < index) lo = mid + 1;
      else hi = mid;
    }
    this.trimTo(this.#count - lo);
  }

  /** Drops the oldest (smallest) keys until at most `limit` remain. */
  trimTo(limit: number): void {
    const excess = this.#count - limit;
    if (excess <= 0) return;
    this.#own();
    const end = this.#count * SKIPPED_ENTRY_SIZE;
    this.#bytes.copyWithin(0, excess * SKIPPED_ENTRY_SIZE, end);
    this.#bytes.fill(0, end - excess * SKIPPED_ENTRY_SIZE, end);
    this.#count = limit;
  }

  /** Indices held, ascending. */
  *keys(): IterableIterator<number> {
    for (let i = 0; i < this.#count; i++) yield this.#indexAt(i);
  }

  /**
   * `[index, seed]` pairs, ascending (seeds are copies). Being iterable also makes test
   * equality (`toEqual`) compare the keys held rather than an object with no visible fields.
   */
  *[Symbol.iterator](): IterableIterator<[number, Uint8Array]> {
    for (let i = 0; i < this.#count; i++) {
      const from = i * SKIPPED_ENTRY_SIZE + 4;
      yield [this.#indexAt(i), this.#bytes.slice(from, from + SEED_LENGTH)];
    }
  }

  #indexAt(i: number): number {
    return this.#view.getUint32(i * SKIPPED_ENTRY_SIZE);
  }

  #find(index: number): number {
    let lo = 0;
    let hi = this.#count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.#indexAt(mid);
      if (at === index) return mid;
      if (at < index) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}
