import { ParleyError } from './errors.js';

/**
 * Writer and reader for Parley's own compact record formats (session records, key
 * records). Not protobuf: fixed-width integers and length-prefixed byte strings, read
 * back in the order written. Every read is bounds-checked; a short or malformed record
 * throws `ERR_INVALID_RECORD`, never a RangeError.
 */
export class ByteWriter {
  private buffer: Uint8Array;
  private view: DataView;
  private length = 0;

  constructor(initialCapacity = 256) {
    this.buffer = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buffer.buffer);
  }

  private reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.length) return;
    let capacity = Math.max(this.buffer.length * 2, 64);
    while (capacity < needed) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): this {
    this.reserve(1);
    this.buffer[this.length++] = value;
    return this;
  }

  u32(value: number): this {
    this.reserve(4);
    this.view.setUint32(this.length, value);
    this.length += 4;
    return this;
  }

  /** Epoch milliseconds or any non-negative safe integer. */
  u64(value: number): this {
    this.reserve(8);
    this.view.setUint32(this.length, Math.floor(value / 0x1_0000_0000));
    this.view.setUint32(this.length + 4, value >>> 0);
    this.length += 8;
    return this;
  }

  /** Raw bytes of a length both sides know (keys). */
  fixed(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  /** Length-prefixed (u32) bytes. */
  bytes(bytes: Uint8Array): this {
    this.u32(bytes.length);
    return this.fixed(bytes);
  }

  /** Zeroes what was written and empties the writer (also after an encoder threw midway). */
  reset(): void {
    this.buffer.fill(0, 0, this.length);
    this.length = 0;
  }

  /**
   * A view of the written bytes, valid until the next write or reset: for a writer kept as
   * scratch space between calls, read (copied) by the caller, then `reset()`.
   */
  written(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  /** The written bytes; no copy when the writer was sized exactly. */
  finish(): Uint8Array {
    return this.length === this.buffer.length ? this.buffer : this.buffer.slice(0, this.length);
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

export class ByteReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly input: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  private need(count: number): void {
    if (count < 0 || this.offset + count > this.input.length) {
      throw new ParleyError('ERR_INVALID_RECORD', `${this.what} record is truncated or corrupt`, {
        record: this.what,
        offset: this.offset,
      });
    }
  }

  u8(): number {
    this.need(1);
    return this.input[this.offset++]!;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  u64(): number {
    this.need(8);
    const high = this.view.getUint32(this.offset);
    const low = this.view.getUint32(this.offset + 4);
    this.offset += 8;
    if (high > 0x1f_ffff) this.fail('integer out of range');
    return high * 0x1_0000_0000 + low;
  }

  /** A copy, so records never alias the stored bytes. */
  fixed(length: number): Uint8Array {
    this.need(length);
    const out = this.input.slice(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  bytes(maxLength = this.input.length): Uint8Array {
    const length = this.u32();
    if (length > maxLength) this.fail('length out of range');
    return this.fixed(length);
  }

  /** A view of the next length-prefixed bytes, without copying. */
  bytesView(): Uint8Array {
    const length = this.u32();
    this.need(length);
    const out = this.input.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  /** Length-prefixed UTF-8 text; malformed UTF-8 is a corrupt record, never a TypeError. */
  text(): string {
    const bytes = this.bytesView();
    try {
      return textDecoder.decode(bytes);
    } catch {
      return this.fail('malformed UTF-8 text');
    }
  }

  get remaining(): number {
    return this.input.length - this.offset;
  }

  end(): void {
    if (this.remaining !== 0) this.fail('trailing bytes');
  }

  fail(reason: string): never {
    throw new ParleyError('ERR_INVALID_RECORD', `${this.what} record is corrupt: ${reason}`, {
      record: this.what,
      offset: this.offset,
    });
  }
}
