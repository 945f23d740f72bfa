import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../src/bytes.js';
import {
  appendMac,
  CiphertextMessageType,
  type CiphertextVersion,
  decodePreKeySignalMessage,
  decodeSignalMessage,
  encodePreKeySignalMessage,
  encodeSignalMessageBody,
  KYBER_CIPHERTEXT_LENGTH,
  MAX_MESSAGE_BYTES,
  type PreKeySignalMessageFields,
} from '../src/wire/index.js';
import { encodeVarint } from '../src/wire/protobuf.js';
import { bytesField, expectCode, expectDecodeOrParleyError, varintField } from './support/wire.js';

// ---- helpers -----------------------------------------------------------------------------------

const decodeOrParleyError = (bytes: Uint8Array): void =>
  expectDecodeOrParleyError(() => decodeSignalMessage(decodePreKeySignalMessage(bytes).message));

const key = (fill: number): Uint8Array => {
  const k = new Uint8Array(33).fill(fill);
  k[0] = 0x05;
  return k;
};
const kyberCiphertext = (fill: number): Uint8Array => {
  const ct = new Uint8Array(KYBER_CIPHERTEXT_LENGTH).fill(fill);
  ct[0] = 0x08;
  return ct;
};
const innerMessage = (version: CiphertextVersion): Uint8Array =>
  appendMac(
    encodeSignalMessageBody({
      version,
      ratchetKey: key(0x77),
      counter: 0,
      previousCounter: 0,
      ciphertext: fromHex('abcdef'),
    }),
    fromHex('0102030405060708'),
  );

const v3: PreKeySignalMessageFields = {
  version: 3,
  registrationId: 4321,
  preKeyId: 31337,
  signedPreKeyId: 42,
  baseKey: key(0xb0),
  identityKey: key(0x1d),
  message: innerMessage(3),
};
const v4: PreKeySignalMessageFields = {
  ...v3,
  version: 4,
  message: innerMessage(4),
  kyberPreKeyId: 0xffff_ffff,
  kyberCiphertext: kyberCiphertext(0x4b),
};

/** Hand-built protobuf parts of a message, keyed by field number, independent of our encoder. */
function partsOf(fields: PreKeySignalMessageFields): Map<number, Uint8Array> {
  const parts = new Map<number, Uint8Array>();
  if (fields.preKeyId !== undefined) parts.set(1, varintField(1, fields.preKeyId));
  parts.set(2, bytesField(2, fields.baseKey));
  parts.set(3, bytesField(3, fields.identityKey));
  parts.set(4, bytesField(4, fields.message));
  parts.set(5, varintField(5, fields.registrationId));
  parts.set(6, varintField(6, fields.signedPreKeyId));
  if (fields.kyberPreKeyId !== undefined) parts.set(7, varintField(7, fields.kyberPreKeyId));
  if (fields.kyberCiphertext !== undefined) parts.set(8, bytesField(8, fields.kyberCiphertext));
  return parts;
}

function handMessage(first: number, parts: Iterable<Uint8Array>): Uint8Array {
  return concatBytes(Uint8Array.of(first), ...parts);
}

function without(fields: PreKeySignalMessageFields, ...drop: number[]): Uint8Array {
  const parts = partsOf(fields);
  for (const field of drop) parts.delete(field);
  return handMessage(fields.version === 3 ? 0x33 : 0x44, parts.values());
}

function expectSameFields(decoded: PreKeySignalMessageFields, fields: PreKeySignalMessageFields): void {
  expect(decoded.version).toBe(fields.version);
  expect(decoded.registrationId).toBe(fields.registrationId);
  expect(decoded.preKeyId).toBe(fields.preKeyId);
  expect(decoded.signedPreKeyId).toBe(fields.signedPreKeyId);
  expect(toHex(decoded.baseKey)).toBe(toHex(fields.baseKey));
  expect(toHex(decoded.identityKey)).toBe(toHex(fields.identityKey));
  expect(toHex(decoded.message)).toBe(toHex(fields.message));
  expect(decoded.kyberPreKeyId).toBe(fields.kyberPreKeyId);
  expect(decoded.kyberCiphertext && toHex(decoded.kyberCiphertext)).toBe(
    fields.kyberCiphertext && toHex(fields.kyberCiphertext),
  );
}

const arbKey = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((k) => concatBytes(Uint8Array.of(0x05), k));
const arbUint32 = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 16380, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff),
  fc.nat({ max: 0xffff_ffff }),
);
const arbKyberCiphertext = fc
  .uint8Array({ minLength: KYBER_CIPHERTEXT_LENGTH - 1, maxLength: KYBER_CIPHERTEXT_LENGTH - 1 })
  .map((ct) => concatBytes(Uint8Array.of(0x08), ct));
const arbCommon = {
  registrationId: arbUint32,
  preKeyId: fc.option(arbUint32, { nil: undefined }),
  signedPreKeyId: arbUint32,
  baseKey: arbKey,
  identityKey: arbKey,
  message: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 200 })),
};
const arbFields: fc.Arbitrary<PreKeySignalMessageFields> = fc.oneof(
  fc.record({ version: fc.constant<CiphertextVersion>(3), ...arbCommon }),
  fc.record({
    version: fc.constant<CiphertextVersion>(4),
    ...arbCommon,
    kyberPreKeyId: arbUint32,
    kyberCiphertext: arbKyberCiphertext,
  }),
);

// ---- encoding ------------------------------------------------------------------------------

describe('encodePreKeySignalMessage', () => {
  it('writes fields in number order 1..8, as libsignal (prost) does', () => {
    expect(toHex(encodePreKeySignalMessage(v3))).toBe(toHex(handMessage(0x33, partsOf(v3).values())));
    expect(toHex(encodePreKeySignalMessage(v4))).toBe(toHex(handMessage(0x44, partsOf(v4).values())));
  });

  it('omits pre_key_id when there is none, and always writes registration_id', () => {
    const bytes = encodePreKeySignalMessage({ ...v3, preKeyId: undefined, registrationId: 0 });
    expect(toHex(bytes)).toBe(toHex(without({ ...v3, registrationId: 0 }, 1)));
  });

  it('refuses a v4 message without both Kyber fields, and a v3 message with either', () => {
    expect(
      expectCode(
        () => encodePreKeySignalMessage({ ...v4, kyberCiphertext: undefined }),
        'ERR_INVALID_ARGUMENT',
      ).details,
    ).toMatchObject({ field: 'kyberCiphertext' });
    expectCode(() => encodePreKeySignalMessage({ ...v4, kyberPreKeyId: undefined }), 'ERR_INVALID_ARGUMENT');
    expectCode(() => encodePreKeySignalMessage({ ...v3, kyberPreKeyId: 1 }), 'ERR_INVALID_ARGUMENT');
    expectCode(
      () => encodePreKeySignalMessage({ ...v3, kyberCiphertext: kyberCiphertext(1) }),
      'ERR_INVALID_ARGUMENT',
    );
    for (const ct of [new Uint8Array(KYBER_CIPHERTEXT_LENGTH), kyberCiphertext(1).subarray(0, 1568)]) {
      expectCode(() => encodePreKeySignalMessage({ ...v4, kyberCiphertext: ct }), 'ERR_INVALID_ARGUMENT');
    }
  });

  it('refuses bad keys, ids and versions with the matching code', () => {
    expectCode(() => encodePreKeySignalMessage({ ...v3, baseKey: new Uint8Array(33) }), 'ERR_INVALID_KEY');
    expectCode(
      () => encodePreKeySignalMessage({ ...v3, identityKey: key(1).subarray(1) }),
      'ERR_INVALID_KEY',
    );
    for (const field of ['registrationId', 'preKeyId', 'signedPreKeyId'] as const) {
      for (const value of [-1, 2 ** 32, 0.5]) {
        expect(
          expectCode(() => encodePreKeySignalMessage({ ...v3, [field]: value }), 'ERR_INVALID_ARGUMENT')
            .details,
        ).toEqual({
          field,
        });
      }
    }
    expectCode(() => encodePreKeySignalMessage({ ...v4, kyberPreKeyId: -1 }), 'ERR_INVALID_ARGUMENT');
    expectCode(
      () => encodePreKeySignalMessage({ ...v3, version: 1 as CiphertextVersion }),
      'ERR_UNKNOWN_VERSION',
    );
    expectCode(
      () => encodePreKeySignalMessage({ ...v3, message: new Uint8Array(MAX_MESSAGE_BYTES) }),
      'ERR_MESSAGE_TOO_LARGE',
    );
  });
});

// ---- decoding ------------------------------------------------------------------------------

describe('decodePreKeySignalMessage', () => {
  it('round-trips every valid field value, both versions', () => {
    fc.assert(
      fc.property(arbFields, (fields) => {
        expectSameFields(decodePreKeySignalMessage(encodePreKeySignalMessage(fields)), fields);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes the same in any field order', () => {
    const arbShuffled = arbFields.chain((fields) => {
      const indices = [...partsOf(fields).keys()];
      return fc.tuple(
        fc.constant(fields),
        fc.shuffledSubarray(indices, { minLength: indices.length, maxLength: indices.length }),
      );
    });
    fc.assert(
      fc.property(arbShuffled, ([fields, order]) => {
        const parts = partsOf(fields);
        const first = fields.version === 3 ? 0x33 : 0x44;
        expectSameFields(
          decodePreKeySignalMessage(
            handMessage(
              first,
              order.map((field) => parts.get(field)!),
            ),
          ),
          fields,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('decodes a message whose fields are reversed (8..1)', () => {
    expectSameFields(decodePreKeySignalMessage(handMessage(0x44, [...partsOf(v4).values()].reverse())), v4);
  });

  it('ignores unknown fields of every wire type', () => {
    const unknowns = [
      varintField(9, 0xffff_ffff),
      concatBytes(encodeVarint(10 * 8), fromHex('ffffffffffffffffff01')),
      concatBytes(encodeVarint(11 * 8 + 5), fromHex('01020304')),
      concatBytes(encodeVarint(12 * 8 + 1), fromHex('0102030405060708')),
      bytesField(13, new Uint8Array(300)),
      bytesField(0x1fff_ffff, new Uint8Array(0)),
    ];
    const parts = [...partsOf(v4).values()];
    const mixed = parts.flatMap((part, i) => [part, unknowns[i % unknowns.length]!]);
    expectSameFields(decodePreKeySignalMessage(handMessage(0x44, mixed)), v4);
  });

  it('lets the last occurrence of a repeated field win', () => {
    const parts = [varintField(6, 1), bytesField(2, key(0x99)), ...partsOf(v3).values(), varintField(5, 7)];
    const decoded = decodePreKeySignalMessage(handMessage(0x33, parts));
    expect(decoded.signedPreKeyId).toBe(v3.signedPreKeyId);
    expect(toHex(decoded.baseKey)).toBe(toHex(v3.baseKey));
    expect(decoded.registrationId).toBe(7);
  });

  it('leaves the inner message undecoded, for decodeSignalMessage', () => {
    const decoded = decodePreKeySignalMessage(encodePreKeySignalMessage(v4));
    expect(decodeSignalMessage(decoded.message)).toMatchObject({ version: 4, counter: 0 });
    // Garbage inside field 4 is the caller's to reject.
    expect(
      decodePreKeySignalMessage(encodePreKeySignalMessage({ ...v3, message: fromHex('00') })).message,
    ).toHaveLength(1);
  });

  it('reads absent optional fields as libsignal does: registration id 0, no prekey id', () => {
    const decoded = decodePreKeySignalMessage(without(v3, 1, 5));
    expect(decoded.registrationId).toBe(0);
    expect(decoded.preKeyId).toBeUndefined();
  });

  it('refuses a message missing base key, identity key, message or signed prekey id', () => {
    for (const [field, name] of [
      [2, 'base_key'],
      [3, 'identity_key'],
      [4, 'message'],
      [6, 'signed_pre_key_id'],
    ] as const) {
      for (const fields of [v3, v4]) {
        const error = expectCode(
          () => decodePreKeySignalMessage(without(fields, field)),
          'ERR_INVALID_MESSAGE',
        );
        expect(error.details).toMatchObject({ field, name });
      }
    }
  });

  it('refuses a v4 message without the Kyber fields', () => {
    const error = expectCode(() => decodePreKeySignalMessage(without(v4, 7, 8)), 'ERR_INVALID_MESSAGE');
    expect(error.details).toMatchObject({ version: 4 });
  });

  it('refuses exactly one Kyber field, in either version (libsignal: both or neither)', () => {
    for (const fields of [v4, { ...v4, version: 3 as const }]) {
      expect(
        expectCode(() => decodePreKeySignalMessage(without(fields, 7)), 'ERR_INVALID_MESSAGE').details,
      ).toMatchObject({
        name: 'kyber_pre_key_id',
      });
      expect(
        expectCode(() => decodePreKeySignalMessage(without(fields, 8)), 'ERR_INVALID_MESSAGE').details,
      ).toMatchObject({
        name: 'kyber_ciphertext',
      });
    }
  });

  it('exposes a Kyber pair found in a v3 message, as libsignal parses it', () => {
    const bytes = handMessage(0x33, partsOf({ ...v4, version: 3 }).values());
    const decoded = decodePreKeySignalMessage(bytes);
    expect(decoded.version).toBe(3);
    expect(decoded.kyberPreKeyId).toBe(v4.kyberPreKeyId);
    expect(decoded.kyberCiphertext).toHaveLength(KYBER_CIPHERTEXT_LENGTH);
  });

  it('refuses a Kyber ciphertext that is not 1569 bytes starting 0x08', () => {
    for (const ct of [
      new Uint8Array(0),
      kyberCiphertext(1).subarray(0, 1568),
      concatBytes(kyberCiphertext(1), Uint8Array.of(0)),
      new Uint8Array(KYBER_CIPHERTEXT_LENGTH),
    ]) {
      const parts = partsOf(v4);
      parts.set(8, bytesField(8, ct));
      const error = expectCode(
        () => decodePreKeySignalMessage(handMessage(0x44, parts.values())),
        'ERR_INVALID_MESSAGE',
      );
      expect(error.details).toMatchObject({ field: 8, length: ct.length });
    }
  });

  it('refuses base and identity keys that are not 33 bytes with type 0x05', () => {
    for (const [field, name] of [
      [2, 'baseKey'],
      [3, 'identityKey'],
    ] as const) {
      for (const bad of [
        new Uint8Array(0),
        key(1).subarray(0, 32),
        concatBytes(key(1), Uint8Array.of(0)),
        new Uint8Array(33),
      ]) {
        const parts = partsOf(v3);
        parts.set(field, bytesField(field, bad));
        const error = expectCode(
          () => decodePreKeySignalMessage(handMessage(0x33, parts.values())),
          'ERR_INVALID_KEY',
        );
        expect(error.details).toEqual({ field: name, length: bad.length });
      }
    }
  });

  it('refuses ids above 2^32 - 1 and known fields with the wrong wire type', () => {
    for (const field of [1, 5, 6, 7]) {
      const parts = partsOf(v4);
      parts.set(field, varintField(field, 2 ** 32));
      expect(
        expectCode(() => decodePreKeySignalMessage(handMessage(0x44, parts.values())), 'ERR_INVALID_MESSAGE')
          .details,
      ).toMatchObject({ field });
    }
    const parts = partsOf(v3);
    parts.set(2, varintField(2, 5));
    expect(
      expectCode(() => decodePreKeySignalMessage(handMessage(0x33, parts.values())), 'ERR_INVALID_MESSAGE')
        .details,
    ).toMatchObject({ field: 2, wireType: 0 });
  });

  it('accepts any low nibble of the version byte; refuses an unknown high nibble', () => {
    const parts = [...partsOf(v3).values()];
    for (const first of [0x33, 0x34, 0x30, 0x3f])
      expect(decodePreKeySignalMessage(handMessage(first, parts)).version).toBe(3);
    const v4Parts = [...partsOf(v4).values()];
    for (const first of [0x44, 0x43, 0x4f])
      expect(decodePreKeySignalMessage(handMessage(first, v4Parts)).version).toBe(4);
    for (const first of [0x03, 0x23, 0x53, 0xf4]) {
      expect(
        expectCode(() => decodePreKeySignalMessage(handMessage(first, parts)), 'ERR_UNKNOWN_VERSION').details,
      ).toEqual({
        version: first >> 4,
      });
    }
  });

  it('refuses empty input and input above MAX_MESSAGE_BYTES', () => {
    expect(
      expectCode(() => decodePreKeySignalMessage(new Uint8Array(0)), 'ERR_INVALID_MESSAGE').details,
    ).toMatchObject({
      length: 0,
    });
    expectCode(() => decodePreKeySignalMessage(Uint8Array.of(0x33)), 'ERR_INVALID_MESSAGE');
    expectCode(
      () => decodePreKeySignalMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1).fill(0x33)),
      'ERR_MESSAGE_TOO_LARGE',
    );
    expectCode(() => decodePreKeySignalMessage('x' as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT');
  });

  it('does not mutate its input, and returns copies', () => {
    const bytes = encodePreKeySignalMessage(v4);
    const before = toHex(bytes);
    const decoded = decodePreKeySignalMessage(bytes);
    expect(toHex(bytes)).toBe(before);
    bytes.fill(0);
    expectSameFields(decoded, v4);
  });
});

describe('CiphertextMessageType', () => {
  it('uses libsignal numbering', () => {
    expect(CiphertextMessageType).toEqual({ Whisper: 2, PreKey: 3, SenderKey: 7, Plaintext: 8 });
  });
});

// ---- attacker bytes ------------------------------------------------------------------------

describe('decodePreKeySignalMessage on attacker bytes', () => {
  const validV3 = encodePreKeySignalMessage(v3);
  const validV4 = encodePreKeySignalMessage(v4);

  it('random bytes only ever throw ParleyError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), decodeOrParleyError), { numRuns: 5000 });
    fc.assert(
      fc.property(fc.constantFrom(0x33, 0x44, 0x34), fc.uint8Array({ maxLength: 300 }), (first, rest) =>
        decodeOrParleyError(concatBytes(Uint8Array.of(first), rest)),
      ),
      { numRuns: 5000 },
    );
  });

  it('every truncated prefix only ever throws ParleyError', () => {
    for (const valid of [validV3, validV4]) {
      for (let length = 0; length <= valid.length; length++) decodeOrParleyError(valid.subarray(0, length));
    }
    expectCode(
      () => decodePreKeySignalMessage(validV4.subarray(0, validV4.length - 1)),
      'ERR_INVALID_MESSAGE',
    );
  });

  it('every single-byte mutation of a v3 message only ever throws ParleyError (exhaustive)', () => {
    const copy = validV3.slice();
    for (let position = 0; position < validV3.length; position++) {
      for (let value = 0; value < 256; value++) {
        copy[position] = value;
        decodeOrParleyError(copy);
      }
      copy[position] = validV3[position]!;
    }
  });

  it('random mutations and splices of a v4 message only ever throw ParleyError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: validV4.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.uint8Array({ maxLength: 12 }),
        fc.nat({ max: validV4.length }),
        (edits, insert, at) => {
          const mutated = validV4.slice();
          for (const [position, value] of edits) mutated[position] = value;
          decodeOrParleyError(mutated);
          decodeOrParleyError(concatBytes(mutated.subarray(0, at), insert, mutated.subarray(at)));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
