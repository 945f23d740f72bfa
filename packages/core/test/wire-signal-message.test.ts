import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../src/bytes.js';
import {
  appendMac,
  CIPHERTEXT_VERSION_V3,
  CIPHERTEXT_VERSION_V4,
  type CiphertextVersion,
  decodeSignalMessage,
  encodeSignalMessageBody,
  MAC_LENGTH,
  MAX_MESSAGE_BYTES,
  type SignalMessageFields,
  versionByte,
} from '../src/wire/index.js';
import { encodeVarint } from '../src/wire/protobuf.js';
import { bytesField, expectCode, expectDecodeOrParleyError, varintField } from './support/wire.js';

// ---- helpers -----------------------------------------------------------------------------------

const decodeOrParleyError = (bytes: Uint8Array): void =>
  expectDecodeOrParleyError(() => decodeSignalMessage(bytes));

const fixed32Field = (field: number): Uint8Array =>
  concatBytes(encodeVarint(field * 8 + 5), fromHex('deadbeef'));
const fixed64Field = (field: number): Uint8Array =>
  concatBytes(encodeVarint(field * 8 + 1), fromHex('0123456789abcdef'));

const MAC = fromHex('0102030405060708');
const key = (fill: number): Uint8Array => {
  const k = new Uint8Array(33).fill(fill);
  k[0] = 0x05;
  return k;
};

/** A message assembled by hand from protobuf parts, independent of our encoder. */
function handMessage(parts: readonly Uint8Array[], first = 0x33, mac = MAC): Uint8Array {
  return concatBytes(Uint8Array.of(first), ...parts, mac);
}

const sample: SignalMessageFields = {
  version: 3,
  ratchetKey: key(0x11),
  counter: 5,
  previousCounter: 2,
  ciphertext: fromHex('c0ffee'),
};

const sampleParts = (): Uint8Array[] => [
  bytesField(1, sample.ratchetKey),
  varintField(2, sample.counter),
  varintField(3, sample.previousCounter),
  bytesField(4, sample.ciphertext),
];

const arbKey = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((k) => concatBytes(Uint8Array.of(0x05), k));
const arbUint32 = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff),
  fc.nat({ max: 0xffff_ffff }),
);
const arbFields: fc.Arbitrary<SignalMessageFields> = fc.record({
  version: fc.constantFrom<CiphertextVersion>(CIPHERTEXT_VERSION_V3, CIPHERTEXT_VERSION_V4),
  ratchetKey: arbKey,
  counter: arbUint32,
  previousCounter: arbUint32,
  ciphertext: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 300 })),
});
const arbMac = fc.uint8Array({ minLength: 8, maxLength: 8 });

// ---- encoding ------------------------------------------------------------------------------

describe('encodeSignalMessageBody', () => {
  it('writes the version byte and fields 1, 2, 3, 4 in order, like libsignal', () => {
    const body = encodeSignalMessageBody(sample);
    expect(toHex(body)).toBe(toHex(concatBytes(Uint8Array.of(0x33), ...sampleParts())));
    expect(encodeSignalMessageBody({ ...sample, version: 4 })[0]).toBe(0x44);
    expect(versionByte(3)).toBe(0x33);
    expect(versionByte(4)).toBe(0x44);
  });

  it('always writes counter and previous counter, even when 0', () => {
    const body = encodeSignalMessageBody({
      ...sample,
      counter: 0,
      previousCounter: 0,
      ciphertext: new Uint8Array(0),
    });
    expect(toHex(body)).toBe(
      toHex(concatBytes(Uint8Array.of(0x33), bytesField(1, sample.ratchetKey), fromHex('1000180022' + '00'))),
    );
  });

  it('appendMac gives body ‖ mac and refuses a MAC that is not 8 bytes', () => {
    const body = encodeSignalMessageBody(sample);
    expect(toHex(appendMac(body, MAC))).toBe(toHex(body) + toHex(MAC));
    for (const length of [0, 7, 9, 32]) {
      expect(
        expectCode(() => appendMac(body, new Uint8Array(length)), 'ERR_INVALID_ARGUMENT').details,
      ).toMatchObject({
        field: 'mac',
        length,
      });
    }
  });

  it('refuses bad inputs with the matching code', () => {
    expect(
      expectCode(
        () => encodeSignalMessageBody({ ...sample, version: 2 as CiphertextVersion }),
        'ERR_UNKNOWN_VERSION',
      ).details,
    ).toMatchObject({ version: 2 });
    expectCode(
      () => encodeSignalMessageBody({ ...sample, version: 5 as CiphertextVersion }),
      'ERR_UNKNOWN_VERSION',
    );
    for (const ratchetKey of [
      new Uint8Array(32),
      new Uint8Array(33),
      key(1).subarray(0, 32),
      concatBytes(key(1), Uint8Array.of(0)),
    ]) {
      expectCode(() => encodeSignalMessageBody({ ...sample, ratchetKey }), 'ERR_INVALID_KEY');
    }
    for (const counter of [-1, 1.5, 2 ** 32, Number.NaN]) {
      expect(
        expectCode(() => encodeSignalMessageBody({ ...sample, counter }), 'ERR_INVALID_ARGUMENT').details,
      ).toMatchObject({
        field: 'counter',
      });
      expectCode(
        () => encodeSignalMessageBody({ ...sample, previousCounter: counter }),
        'ERR_INVALID_ARGUMENT',
      );
    }
    expectCode(
      () => encodeSignalMessageBody({ ...sample, ciphertext: 'text' as unknown as Uint8Array }),
      'ERR_INVALID_ARGUMENT',
    );
  });

  it('refuses to produce a message above MAX_MESSAGE_BYTES', () => {
    expectCode(
      () => encodeSignalMessageBody({ ...sample, ciphertext: new Uint8Array(MAX_MESSAGE_BYTES) }),
      'ERR_MESSAGE_TOO_LARGE',
    );
  });
});

// ---- decoding ------------------------------------------------------------------------------

describe('decodeSignalMessage', () => {
  it('round-trips every valid field value, both versions', () => {
    fc.assert(
      fc.property(arbFields, arbMac, (fields, mac) => {
        const body = encodeSignalMessageBody(fields);
        const bytes = appendMac(body, mac);
        const decoded = decodeSignalMessage(bytes);
        expect(decoded.version).toBe(fields.version);
        expect(toHex(decoded.ratchetKey)).toBe(toHex(fields.ratchetKey));
        expect(decoded.counter).toBe(fields.counter);
        expect(decoded.previousCounter).toBe(fields.previousCounter);
        expect(toHex(decoded.ciphertext)).toBe(toHex(fields.ciphertext));
        expect(toHex(decoded.body)).toBe(toHex(body));
        expect(toHex(decoded.mac)).toBe(toHex(mac));
        expect(decoded.pqRatchet).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it('reads a hand-built message', () => {
    const bytes = handMessage(sampleParts());
    expect(decodeSignalMessage(bytes)).toMatchObject({ version: 3, counter: 5, previousCounter: 2 });
  });

  it('decodes the same in any field order', () => {
    fc.assert(
      fc.property(
        arbFields,
        fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 }),
        (fields, order) => {
          const parts = [
            bytesField(1, fields.ratchetKey),
            varintField(2, fields.counter),
            varintField(3, fields.previousCounter),
            bytesField(4, fields.ciphertext),
          ];
          const shuffled = handMessage(
            order.map((i) => parts[i]!),
            versionByte(fields.version),
          );
          const decoded = decodeSignalMessage(shuffled);
          expect(decoded).toMatchObject({
            version: fields.version,
            counter: fields.counter,
            previousCounter: fields.previousCounter,
          });
          expect(toHex(decoded.ratchetKey)).toBe(toHex(fields.ratchetKey));
          expect(toHex(decoded.ciphertext)).toBe(toHex(fields.ciphertext));
          // The body is what was received, so a MAC over it verifies whatever the order.
          expect(toHex(decoded.body)).toBe(toHex(shuffled.subarray(0, shuffled.length - MAC_LENGTH)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('ignores unknown fields of every wire type, including 6 (addresses), and exposes 5 (pq_ratchet)', () => {
    const pq = fromHex('5151515151');
    const unknowns = [
      bytesField(6, new Uint8Array(36).fill(0xaa)),
      bytesField(5, pq),
      varintField(7, 0xffff_ffff),
      concatBytes(encodeVarint(8 * 8), fromHex('ffffffffffffffffff01')), // 64-bit varint
      fixed32Field(9),
      fixed64Field(10),
      bytesField(0x1fff_ffff, fromHex('00')),
      bytesField(99, new Uint8Array(0)),
    ];
    const bytes = handMessage([
      unknowns[0]!,
      ...sampleParts().slice(0, 2),
      ...unknowns.slice(1),
      ...sampleParts().slice(2),
    ]);
    const decoded = decodeSignalMessage(bytes);
    expect(decoded).toMatchObject({ version: 3, counter: 5, previousCounter: 2 });
    expect(toHex(decoded.ciphertext)).toBe('c0ffee');
    expect(toHex(decoded.pqRatchet!)).toBe(toHex(pq));
    expect(decoded.body).toHaveLength(bytes.length - MAC_LENGTH);
  });

  it('lets the last occurrence of a repeated field win', () => {
    const bytes = handMessage([
      bytesField(1, key(0x22)),
      varintField(2, 1),
      ...sampleParts(),
      varintField(2, 9),
      bytesField(4, fromHex('00')),
    ]);
    const decoded = decodeSignalMessage(bytes);
    expect(decoded.counter).toBe(9);
    expect(toHex(decoded.ratchetKey)).toBe(toHex(sample.ratchetKey));
    expect(toHex(decoded.ciphertext)).toBe('00');
  });

  it('defaults a missing previous_counter to 0, as libsignal does', () => {
    const parts = sampleParts();
    expect(decodeSignalMessage(handMessage([parts[0]!, parts[1]!, parts[3]!])).previousCounter).toBe(0);
  });

  it('refuses a message missing ratchet_key, counter or ciphertext', () => {
    const parts = sampleParts();
    for (const [index, name, field] of [
      [0, 'ratchet_key', 1],
      [1, 'counter', 2],
      [3, 'ciphertext', 4],
    ] as const) {
      const error = expectCode(
        () => decodeSignalMessage(handMessage(parts.filter((_, i) => i !== index))),
        'ERR_INVALID_MESSAGE',
      );
      expect(error.details).toMatchObject({ field, name });
    }
    expectCode(() => decodeSignalMessage(handMessage([])), 'ERR_INVALID_MESSAGE');
  });

  it('refuses a ratchet key that is not 33 bytes with type 0x05', () => {
    const bad = [
      new Uint8Array(0),
      key(1).subarray(0, 32),
      concatBytes(key(1), Uint8Array.of(0)),
      new Uint8Array(33).fill(0x06),
    ];
    for (const ratchetKey of bad) {
      const parts = sampleParts();
      parts[0] = bytesField(1, ratchetKey);
      const error = expectCode(() => decodeSignalMessage(handMessage(parts)), 'ERR_INVALID_KEY');
      expect(error.details).toMatchObject({ field: 'ratchetKey', length: ratchetKey.length });
    }
  });

  it('refuses a known field with the wrong wire type', () => {
    const parts = sampleParts();
    parts[1] = bytesField(2, fromHex('05'));
    expect(
      expectCode(() => decodeSignalMessage(handMessage(parts)), 'ERR_INVALID_MESSAGE').details,
    ).toMatchObject({ field: 2 });
  });

  it('refuses a counter above 2^32 - 1', () => {
    const parts = sampleParts();
    parts[1] = varintField(2, 2 ** 32);
    expect(
      expectCode(() => decodeSignalMessage(handMessage(parts)), 'ERR_INVALID_MESSAGE').details,
    ).toMatchObject({ field: 2 });
  });

  it('accepts any low nibble of the version byte and reads the version from the high nibble', () => {
    // 0x34 is what libsignal ≥ 0.24 writes in a v3 session.
    for (const [first, version] of [
      [0x33, 3],
      [0x34, 3],
      [0x30, 3],
      [0x3f, 3],
      [0x44, 4],
      [0x43, 4],
      [0x4f, 4],
    ] as const) {
      expect(decodeSignalMessage(handMessage(sampleParts(), first)).version).toBe(version);
    }
  });

  it('refuses an unknown high nibble with ERR_UNKNOWN_VERSION', () => {
    for (const first of [0x00, 0x22, 0x23, 0x53, 0x55, 0xf3]) {
      const error = expectCode(
        () => decodeSignalMessage(handMessage(sampleParts(), first)),
        'ERR_UNKNOWN_VERSION',
      );
      expect(error.details).toEqual({ version: first >> 4 });
    }
  });

  it('refuses input shorter than version byte + MAC', () => {
    for (let length = 0; length < 1 + MAC_LENGTH; length++) {
      const error = expectCode(
        () => decodeSignalMessage(new Uint8Array(length).fill(0x33)),
        'ERR_INVALID_MESSAGE',
      );
      expect(error.details).toMatchObject({ length });
    }
    // Exactly 9 bytes: an empty protobuf, so the required fields are missing.
    expect(
      expectCode(() => decodeSignalMessage(handMessage([])), 'ERR_INVALID_MESSAGE').details,
    ).toMatchObject({
      name: 'ratchet_key',
    });
  });

  it('refuses input above MAX_MESSAGE_BYTES before parsing, and accepts exactly the limit', () => {
    const error = expectCode(
      () => decodeSignalMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1)),
      'ERR_MESSAGE_TOO_LARGE',
    );
    expect(error.details).toMatchObject({ length: MAX_MESSAGE_BYTES + 1, limit: MAX_MESSAGE_BYTES });
    // Size the ciphertext so the whole message is exactly MAX_MESSAGE_BYTES.
    const overhead =
      appendMac(encodeSignalMessageBody({ ...sample, ciphertext: new Uint8Array(0x4000) }), MAC).length -
      0x4000;
    const atLimit = appendMac(
      encodeSignalMessageBody({ ...sample, ciphertext: new Uint8Array(MAX_MESSAGE_BYTES - overhead) }),
      MAC,
    );
    expect(atLimit).toHaveLength(MAX_MESSAGE_BYTES);
    expect(decodeSignalMessage(atLimit).ciphertext).toHaveLength(MAX_MESSAGE_BYTES - overhead);
  });

  it('refuses a non-Uint8Array input with ERR_INVALID_ARGUMENT', () => {
    for (const value of [undefined, null, 'bytes', [0x33], new ArrayBuffer(16)]) {
      expectCode(() => decodeSignalMessage(value as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT');
    }
  });

  it('does not mutate its input; body aliases it, every other field is a copy', () => {
    const bytes = appendMac(encodeSignalMessageBody(sample), MAC);
    const before = toHex(bytes);
    const decoded = decodeSignalMessage(bytes);
    expect(toHex(bytes)).toBe(before);
    const flip = (index: number): void => {
      bytes[index] = bytes[index]! ^ 0xff;
    };
    flip(bytes.length - 1); // in the MAC
    flip(5); // inside the ratchet key
    flip(bytes.length - MAC_LENGTH - 1); // last ciphertext byte
    expect(decoded.body[5]).toBe(bytes[5]); // documented alias
    expect(toHex(decoded.mac)).toBe(toHex(MAC));
    expect(toHex(decoded.ratchetKey)).toBe(toHex(sample.ratchetKey));
    expect(toHex(decoded.ciphertext)).toBe('c0ffee');
  });
});

// ---- attacker bytes ------------------------------------------------------------------------

describe('decodeSignalMessage on attacker bytes', () => {
  const valid = appendMac(
    encodeSignalMessageBody({ ...sample, counter: 0xffff_ffff, ciphertext: new Uint8Array(40).fill(7) }),
    MAC,
  );

  it('random bytes only ever throw ParleyError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decodeOrParleyError), { numRuns: 5000 });
    // Random protobuf after a valid version byte reaches deeper than fully random bytes.
    fc.assert(
      fc.property(fc.constantFrom(0x33, 0x44, 0x34), fc.uint8Array({ maxLength: 200 }), (first, rest) =>
        decodeOrParleyError(concatBytes(Uint8Array.of(first), rest)),
      ),
      { numRuns: 5000 },
    );
  });

  it('every truncated prefix only ever throws ParleyError', () => {
    for (let length = 0; length <= valid.length; length++) decodeOrParleyError(valid.subarray(0, length));
    // A strict prefix that keeps a trailing 8 bytes is parsed as body ‖ MAC and must fail cleanly too.
    expectCode(() => decodeSignalMessage(valid.subarray(0, 20)), 'ERR_INVALID_MESSAGE');
  });

  it('every single-byte mutation only ever throws ParleyError (exhaustive)', () => {
    const copy = valid.slice();
    for (let position = 0; position < valid.length; position++) {
      for (let value = 0; value < 256; value++) {
        copy[position] = value;
        decodeOrParleyError(copy);
      }
      copy[position] = valid[position]!;
    }
  });

  it('random multi-byte mutations and splices only ever throw ParleyError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.uint8Array({ maxLength: 12 }),
        fc.nat({ max: valid.length }),
        (edits, insert, at) => {
          const mutated = valid.slice();
          for (const [position, value] of edits) mutated[position] = value;
          decodeOrParleyError(mutated);
          decodeOrParleyError(concatBytes(mutated.subarray(0, at), insert, mutated.subarray(at)));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
