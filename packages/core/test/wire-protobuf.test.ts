import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../src/bytes.js';
import { isParleyError } from '../src/errors.js';
import {
  encodeVarint,
  type FieldTag,
  ProtobufReader,
  ProtobufWriter,
  WireType,
} from '../src/wire/protobuf.js';
import { expectCode } from './support/wire.js';

/** Reads one field with the given accessor after its tag. */
function readOne<T>(bytes: Uint8Array, read: (reader: ProtobufReader, tag: FieldTag) => T): T {
  const reader = new ProtobufReader(bytes, 'Test');
  const tag = reader.readTag();
  const value = read(reader, tag);
  expect(reader.hasMore()).toBe(false);
  return value;
}

const uint32Field = (value: Uint8Array): Uint8Array => concatBytes(Uint8Array.of(0x08), value); // field 1, varint

describe('varints', () => {
  it('encode to the protobuf reference vectors', () => {
    expect(toHex(encodeVarint(0))).toBe('00');
    expect(toHex(encodeVarint(1))).toBe('01');
    expect(toHex(encodeVarint(127))).toBe('7f');
    expect(toHex(encodeVarint(128))).toBe('8001');
    expect(toHex(encodeVarint(300))).toBe('ac02'); // the example in the protobuf encoding guide
    expect(toHex(encodeVarint(0xffff_ffff))).toBe('ffffffff0f');
    expect(toHex(encodeVarint(Number.MAX_SAFE_INTEGER))).toBe('ffffffffffffff0f');
  });

  it('uint32 round-trips through writer and reader for every uint32', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom(0, 1, 127, 128, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff),
          fc.nat({ max: 0xffff_ffff }),
        ),
        fc.integer({ min: 1, max: 0x1fff_ffff }),
        (value, field) => {
          const bytes = new ProtobufWriter().uint32(field, value).finish();
          const reader = new ProtobufReader(bytes, 'Test');
          const tag = reader.readTag();
          expect(tag).toMatchObject({ fieldNumber: field, wireType: WireType.Varint, offset: 0 });
          expect(reader.readUint32(tag)).toBe(value);
          expect(reader.hasMore()).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('uint64 round-trips for every safe integer', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (value) => {
        const bytes = new ProtobufWriter().uint64(3, value).finish();
        expect(readOne(bytes, (r, t) => r.readUint64(t))).toBe(value);
      }),
      { numRuns: 500 },
    );
  });

  it('accepts non-minimal (padded) varints, as protobuf parsers do', () => {
    expect(readOne(uint32Field(fromHex('808000')), (r, t) => r.readUint32(t))).toBe(0);
    expect(readOne(uint32Field(fromHex('81808080808080808000')), (r, t) => r.readUint32(t))).toBe(1);
  });

  it('refuses a uint32 above 2^32 - 1 instead of truncating it', () => {
    const error = expectCode(
      () => readOne(uint32Field(encodeVarint(0x1_0000_0000)), (r, t) => r.readUint32(t)),
      'ERR_INVALID_MESSAGE',
    );
    expect(error.details).toMatchObject({ field: 1, offset: 1 });
    // 10-byte encoding of 2^64 - 1 (what a negative int64 looks like on the wire).
    expectCode(
      () => readOne(uint32Field(fromHex('ffffffffffffffffff01')), (r, t) => r.readUint32(t)),
      'ERR_INVALID_MESSAGE',
    );
  });

  it('refuses a uint64 above 2^53 - 1', () => {
    expect(readOne(uint32Field(encodeVarint(Number.MAX_SAFE_INTEGER)), (r, t) => r.readUint64(t))).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expectCode(
      () => readOne(uint32Field(fromHex('8080808080808080' + '10')), (r, t) => r.readUint64(t)), // 2^60
      'ERR_INVALID_MESSAGE',
    );
    expectCode(
      () => readOne(uint32Field(fromHex('80808080808080808001')), (r, t) => r.readUint64(t)), // 2^63
      'ERR_INVALID_MESSAGE',
    );
  });

  it('refuses a truncated varint, naming field and offset', () => {
    for (const body of ['', '80', 'ff', '8080808080']) {
      const error = expectCode(
        () => readOne(uint32Field(fromHex(body)), (r, t) => r.readUint32(t)),
        'ERR_INVALID_MESSAGE',
      );
      expect(error.details).toMatchObject({ field: 1, offset: 1 });
      expect(error.message).toMatch(/truncated varint/);
    }
  });

  it('refuses a varint longer than 10 bytes and a 10th byte beyond bit 63', () => {
    expect(
      expectCode(
        () => readOne(uint32Field(fromHex('8080808080808080808000')), (r, t) => r.readUint32(t)),
        'ERR_INVALID_MESSAGE',
      ).message,
    ).toMatch(/longer than 10 bytes/);
    expect(
      expectCode(
        () => readOne(uint32Field(fromHex('80808080808080808002')), (r, t) => r.readUint32(t)),
        'ERR_INVALID_MESSAGE',
      ).message,
    ).toMatch(/exceeds 64 bits/);
    // Skipping an unknown varint applies the same rules.
    expectCode(
      () => readOne(uint32Field(fromHex('ffffffffffffffffffff01')), (r, t) => r.skip(t)),
      'ERR_INVALID_MESSAGE',
    );
  });
});

describe('tags', () => {
  it('splits field number and wire type', () => {
    const reader = new ProtobufReader(
      concatBytes(encodeVarint(0x1fff_ffff * 8 + 5), new Uint8Array(4)),
      'Test',
    );
    expect(reader.readTag()).toEqual({ fieldNumber: 0x1fff_ffff, wireType: 5, offset: 0 });
  });

  it('refuses field number 0 and tags above 32 bits', () => {
    expect(
      expectCode(() => new ProtobufReader(fromHex('0001'), 'Test').readTag(), 'ERR_INVALID_MESSAGE').details,
    ).toMatchObject({ field: 0, offset: 0 });
    expectCode(() => new ProtobufReader(encodeVarint(2 ** 32), 'Test').readTag(), 'ERR_INVALID_MESSAGE');
  });

  it('refuses groups and wire types 6 and 7 when skipping', () => {
    for (const wireType of [3, 4, 6, 7]) {
      const error = expectCode(
        () => readOne(Uint8Array.of((9 << 3) | wireType, 0, 0, 0, 0, 0, 0, 0, 0), (r, t) => r.skip(t)),
        'ERR_INVALID_MESSAGE',
      );
      expect(error.details).toMatchObject({ field: 9, wireType, offset: 0 });
    }
  });

  it('refuses a known field read with the wrong wire type', () => {
    // field 1 as bytes, read as uint32; and field 1 as varint, read as bytes
    expect(
      expectCode(() => readOne(fromHex('0a0100'), (r, t) => r.readUint32(t)), 'ERR_INVALID_MESSAGE').details,
    ).toMatchObject({
      field: 1,
      wireType: 2,
    });
    expectCode(() => readOne(fromHex('0801'), (r, t) => r.readBytes(t)), 'ERR_INVALID_MESSAGE');
  });
});

describe('length-delimited and fixed fields', () => {
  it('reads bytes as a subarray of the input, without copying or mutating it', () => {
    const input = fromHex('1203aabbcc');
    const before = toHex(input);
    const value = readOne(input, (r, t) => r.readBytes(t));
    expect(toHex(value)).toBe('aabbcc');
    expect(value.buffer).toBe(input.buffer);
    expect(toHex(input)).toBe(before);
  });

  it('reads an empty bytes field', () => {
    expect(readOne(fromHex('1200'), (r, t) => r.readBytes(t))).toHaveLength(0);
  });

  it('refuses a length that runs past the end', () => {
    const error = expectCode(
      () => readOne(fromHex('1204aabbcc'), (r, t) => r.readBytes(t)),
      'ERR_INVALID_MESSAGE',
    );
    expect(error.details).toMatchObject({ field: 2, offset: 1, length: 4 });
    // A huge length (2^63) must not wrap or be compared imprecisely into range.
    expectCode(() => readOne(fromHex('1280808080808080808001'), (r, t) => r.skip(t)), 'ERR_INVALID_MESSAGE');
  });

  it('skips fixed32, fixed64, varint and bytes fields', () => {
    const bytes = fromHex(
      [
        '0d' + '01020304', // field 1 fixed32
        '11' + '0102030405060708', // field 2 fixed64
        '18' + 'ffffffffffffffffff01', // field 3 varint 2^64 - 1
        '22' + '02' + 'abcd', // field 4 bytes
        '28' + '05', // field 5 varint, read
      ].join(''),
    );
    const reader = new ProtobufReader(bytes, 'Test');
    const seen: number[] = [];
    let last = -1;
    while (reader.hasMore()) {
      const tag = reader.readTag();
      seen.push(tag.fieldNumber);
      if (tag.fieldNumber === 5) last = reader.readUint32(tag);
      else reader.skip(tag);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(last).toBe(5);
  });

  it('refuses truncated fixed32 and fixed64 values', () => {
    expect(
      expectCode(() => readOne(fromHex('0d010203'), (r, t) => r.skip(t)), 'ERR_INVALID_MESSAGE').message,
    ).toMatch(/fixed32/);
    expect(
      expectCode(() => readOne(fromHex('1101020304050607'), (r, t) => r.skip(t)), 'ERR_INVALID_MESSAGE')
        .message,
    ).toMatch(/fixed64/);
  });
});

describe('writer', () => {
  it('writes tags and values in call order', () => {
    const bytes = new ProtobufWriter()
      .bytes(1, fromHex('0506'))
      .uint32(2, 300)
      .bytes(4, new Uint8Array(0))
      .finish();
    expect(toHex(bytes)).toBe('0a020506' + '10ac02' + '2200');
  });

  it('refuses values that are not uint32 and bad field numbers', () => {
    for (const value of [-1, 1.5, 2 ** 32, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectCode(() => new ProtobufWriter().uint32(1, value), 'ERR_INVALID_ARGUMENT');
    }
    expectCode(() => new ProtobufWriter().uint64(1, 2 ** 53), 'ERR_INVALID_ARGUMENT');
    for (const field of [0, -1, 0x2000_0000, 1.5]) {
      expectCode(() => new ProtobufWriter().uint32(field, 1), 'ERR_INVALID_ARGUMENT');
    }
    expectCode(() => new ProtobufWriter().bytes(1, [1, 2] as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT');
  });
});

describe('attacker bytes', () => {
  it('skipping every field of random bytes only ever throws ParleyError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const reader = new ProtobufReader(bytes, 'Fuzz');
          while (reader.hasMore()) reader.skip(reader.readTag());
        } catch (error) {
          expect(isParleyError(error, 'ERR_INVALID_MESSAGE'), String(error)).toBe(true);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('reading every field as uint32 or bytes only ever throws ParleyError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const reader = new ProtobufReader(bytes, 'Fuzz');
          while (reader.hasMore()) {
            const tag = reader.readTag();
            if (tag.wireType === WireType.Varint) reader.readUint32(tag);
            else if (tag.wireType === WireType.LengthDelimited) reader.readBytes(tag);
            else reader.skip(tag);
          }
        } catch (error) {
          expect(isParleyError(error, 'ERR_INVALID_MESSAGE'), String(error)).toBe(true);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
