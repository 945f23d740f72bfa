/**
 * A minimal proto2 codec: exactly what Signal's wire messages need (uint32 varints and bytes),
 * plus skipping every other field so that unknown fields from newer peers are ignored.
 *
 * The reader's input is attacker-controlled. Every malformation becomes a ParleyError
 * 'ERR_INVALID_MESSAGE' whose message names the problem and whose details carry the field
 * number and byte offset — never the bytes themselves. Nothing here indexes past the end of
 * the input, so no TypeError/RangeError can escape.
 */
import { ParleyError } from '../errors.js';

export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;

export type WireType = (typeof WireType)[keyof typeof WireType];

/** Largest field number protobuf allows (2^29 − 1). */
export const MAX_FIELD_NUMBER = 0x1fff_ffff;

const MAX_UINT32 = 0xffff_ffff;
/** Protobuf varints encode at most 64 bits: ceil(64 / 7) = 10 bytes. */
const MAX_VARINT_BYTES = 10;

export interface FieldTag {
  readonly fieldNumber: number;
  readonly wireType: number;
  /** Offset of the tag within the reader's input, for error details. */
  readonly offset: number;
}

/**
 * Reads fields in order from one serialized message. Returned byte fields are subarrays of the
 * input (zero-copy); callers copy what they keep.
 */
export class ProtobufReader {
  readonly #bytes: Uint8Array;
  readonly #context: string;
  #offset = 0;

  /** `context` names the message being parsed, for error messages (e.g. "SignalMessage"). */
  constructor(bytes: Uint8Array, context: string) {
    this.#bytes = bytes;
    this.#context = context;
  }

  get offset(): number {
    return this.#offset;
  }

  hasMore(): boolean {
    return this.#offset < this.#bytes.length;
  }

  readTag(): FieldTag {
    const offset = this.#offset;
    const key = this.#readVarint(undefined);
    // Tags are uint32 on the wire (prost rejects larger keys too); field 0 is reserved.
    if (key > MAX_UINT32) throw this.#invalid('field tag exceeds 32 bits', undefined, offset);
    const fieldNumber = Math.floor(key / 8);
    const wireType = key % 8;
    if (fieldNumber === 0) throw this.#invalid('field number 0 is invalid', 0, offset);
    return { fieldNumber, wireType, offset };
  }

  /** A uint32 field. Unlike protoc (which truncates), a value above 2^32 − 1 is refused. */
  readUint32(tag: FieldTag): number {
    this.#expectWireType(tag, WireType.Varint);
    const offset = this.#offset;
    const value = this.#readVarint(tag.fieldNumber);
    if (value > MAX_UINT32) throw this.#invalid('uint32 value out of range', tag.fieldNumber, offset);
    return value;
  }

  /** A uint64 field as a number; values above Number.MAX_SAFE_INTEGER are refused. */
  readUint64(tag: FieldTag): number {
    this.#expectWireType(tag, WireType.Varint);
    const offset = this.#offset;
    const value = this.#readVarint(tag.fieldNumber);
    if (value > Number.MAX_SAFE_INTEGER) {
      throw this.#invalid('uint64 value above 2^53 - 1', tag.fieldNumber, offset);
    }
    return value;
  }

  /** A bytes field, as a subarray of the input. */
  readBytes(tag: FieldTag): Uint8Array {
    this.#expectWireType(tag, WireType.LengthDelimited);
    return this.#readLengthDelimited(tag.fieldNumber);
  }

  /** Skips the value of a field we do not know. Groups (deprecated) are refused. */
  skip(tag: FieldTag): void {
    switch (tag.wireType) {
      case WireType.Varint:
        this.#readVarint(tag.fieldNumber);
        return;
      case WireType.Fixed64:
        this.#advance(8, tag.fieldNumber);
        return;
      case WireType.LengthDelimited:
        this.#readLengthDelimited(tag.fieldNumber);
        return;
      case WireType.Fixed32:
        this.#advance(4, tag.fieldNumber);
        return;
      case WireType.StartGroup:
      case WireType.EndGroup:
        // No Signal message uses groups; skipping one means tracking nesting, which we refuse to do.
        throw this.#invalid('groups are not supported', tag.fieldNumber, tag.offset, tag.wireType);
      default:
        throw this.#invalid('invalid wire type', tag.fieldNumber, tag.offset, tag.wireType);
    }
  }

  #expectWireType(tag: FieldTag, expected: WireType): void {
    if (tag.wireType !== expected) {
      throw this.#invalid(`expected wire type ${expected}`, tag.fieldNumber, tag.offset, tag.wireType);
    }
  }

  /**
   * Returns the varint's value. Exact up to 2^53; above that it may be rounded but is still
   * above every limit callers compare it with, so the comparison stays correct.
   */
  #readVarint(fieldNumber: number | undefined): number {
    const start = this.#offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.#bytes[this.#offset];
      if (byte === undefined) throw this.#invalid('truncated varint', fieldNumber, start);
      this.#offset++;
      if (i === MAX_VARINT_BYTES - 1) {
        if (byte & 0x80) throw this.#invalid('varint longer than 10 bytes', fieldNumber, start);
        // The 10th byte holds only bit 63.
        if (byte > 1) throw this.#invalid('varint exceeds 64 bits', fieldNumber, start);
      }
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
    // Unreachable: the 10th byte either ends the varint or throws above.
    throw this.#invalid('varint longer than 10 bytes', fieldNumber, start);
  }

  #readLengthDelimited(fieldNumber: number): Uint8Array {
    const lengthOffset = this.#offset;
    const length = this.#readVarint(fieldNumber);
    const remaining = this.#bytes.length - this.#offset;
    if (length > remaining) {
      throw this.#invalid('length runs past end of message', fieldNumber, lengthOffset, undefined, length);
    }
    const start = this.#offset;
    this.#offset += length;
    return this.#bytes.subarray(start, this.#offset);
  }

  #advance(count: number, fieldNumber: number): void {
    if (this.#bytes.length - this.#offset < count) {
      throw this.#invalid(`truncated fixed${count * 8} value`, fieldNumber, this.#offset);
    }
    this.#offset += count;
  }

  #invalid(
    reason: string,
    field: number | undefined,
    offset: number,
    wireType?: number,
    length?: number,
  ): ParleyError {
    const where = field === undefined ? '' : ` (field ${field})`;
    return new ParleyError('ERR_INVALID_MESSAGE', `${this.#context}: ${reason}${where} at offset ${offset}`, {
      message: this.#context,
      field,
      offset,
      wireType,
      length,
    });
  }
}

/** Builds one serialized message; fields are written in the order the caller writes them. */
export class ProtobufWriter {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  uint32(fieldNumber: number, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > MAX_UINT32) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', `field ${fieldNumber}: expected a uint32`, {
        field: fieldNumber,
      });
    }
    this.#tag(fieldNumber, WireType.Varint);
    this.#push(encodeVarint(value));
    return this;
  }

  uint64(fieldNumber: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        `field ${fieldNumber}: expected a safe non-negative integer`,
        {
          field: fieldNumber,
        },
      );
    }
    this.#tag(fieldNumber, WireType.Varint);
    this.#push(encodeVarint(value));
    return this;
  }

  bytes(fieldNumber: number, value: Uint8Array): this {
    if (!(value instanceof Uint8Array)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', `field ${fieldNumber}: expected Uint8Array`, {
        field: fieldNumber,
      });
    }
    this.#tag(fieldNumber, WireType.LengthDelimited);
    this.#push(encodeVarint(value.length));
    this.#push(value);
    return this;
  }

  get length(): number {
    return this.#length;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  #tag(fieldNumber: number, wireType: WireType): void {
    if (!Number.isInteger(fieldNumber) || fieldNumber < 1 || fieldNumber > MAX_FIELD_NUMBER) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', 'field number out of range', { field: fieldNumber });
    }
    this.#push(encodeVarint(fieldNumber * 8 + wireType));
  }

  #push(part: Uint8Array): void {
    this.#parts.push(part);
    this.#length += part.length;
  }
}

/** Minimal (canonical) varint of a safe non-negative integer. */
export function encodeVarint(value: number): Uint8Array {
  const out: number[] = [];
  // Division rather than `>>>`: bitwise operators truncate to 32 bits.
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Uint8Array.from(out);
}
