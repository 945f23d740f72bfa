/**
 * A lenient protobuf field splitter for mutation: it reads what it can and keeps every field
 * as raw bytes, so a mutator can drop, repeat, reorder or rewrite one field and serialize the
 * rest unchanged. It never validates (that is the decoder's job under test).
 */
export interface RawField {
  fieldNumber: number;
  wireType: number;
  /** Varint value (wire type 0) as a bigint. */
  varint?: bigint;
  /** Payload of a length-delimited, fixed32 or fixed64 field. */
  payload?: Uint8Array;
}

export function readVarint(bytes: Uint8Array, offset: number): { value: bigint; next: number } | undefined {
  let value = 0n;
  let shift = 0n;
  for (let i = offset; i < bytes.length && i < offset + 10; i++) {
    const byte = bytes[i]!;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
    shift += 7n;
  }
  return undefined;
}

export function encodeVarint(value: bigint): Uint8Array {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

/** Fields of a protobuf message, or undefined when the bytes do not split into fields. */
export function splitFields(bytes: Uint8Array): RawField[] | undefined {
  const fields: RawField[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const tag = readVarint(bytes, offset);
    if (!tag) return undefined;
    offset = tag.next;
    const fieldNumber = Number(tag.value >> 3n);
    const wireType = Number(tag.value & 7n);
    if (wireType === 0) {
      const value = readVarint(bytes, offset);
      if (!value) return undefined;
      fields.push({ fieldNumber, wireType, varint: value.value });
      offset = value.next;
    } else if (wireType === 2) {
      const length = readVarint(bytes, offset);
      if (!length || length.next + Number(length.value) > bytes.length) return undefined;
      const end = length.next + Number(length.value);
      fields.push({ fieldNumber, wireType, payload: bytes.slice(length.next, end) });
      offset = end;
    } else if (wireType === 1 || wireType === 5) {
      const size = wireType === 1 ? 8 : 4;
      if (offset + size > bytes.length) return undefined;
      fields.push({ fieldNumber, wireType, payload: bytes.slice(offset, offset + size) });
      offset += size;
    } else {
      return undefined;
    }
  }
  return fields;
}

export function joinFields(fields: readonly RawField[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const field of fields) {
    parts.push(encodeVarint((BigInt(field.fieldNumber) << 3n) | BigInt(field.wireType & 7)));
    if (field.wireType === 0) parts.push(encodeVarint(field.varint ?? 0n));
    else if (field.wireType === 2) {
      const payload = field.payload ?? new Uint8Array(0);
      parts.push(encodeVarint(BigInt(payload.length)), payload);
    } else parts.push(field.payload ?? new Uint8Array(field.wireType === 1 ? 8 : 4));
  }
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
