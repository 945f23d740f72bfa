import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, toHex } from '../src/bytes.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import type { RandomSource } from '../src/crypto/provider.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { generateIdentityKeyPair } from '../src/keys/identity.js';
import {
  decodeKyberPreKeyRecord,
  encodeKyberPreKeyRecord,
  generateKyberPreKey,
  KYBER_PREKEY_RECORD_LENGTH,
  type KyberPreKey,
  verifyKyberPreKeySignature,
} from '../src/keys/kyber-prekeys.js';
import { encodeOneTimePreKeyRecord, encodeSignedPreKeyRecord } from '../src/keys/records.js';
import {
  generateKyberKeyPair,
  KYBER_KEY_TYPE,
  KYBER1024_CIPHERTEXT_LENGTH,
  KYBER1024_PUBLIC_KEY_LENGTH,
  KYBER1024_SECRET_KEY_LENGTH,
  kyberDecapsulate,
  kyberEncapsulate,
  kyberPublicKeyFromSecretKey,
} from '../src/kyber/index.js';

const crypto = createNodeCrypto();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isParleyError(error)) return error.code;
    throw error; // a TypeError/RangeError fails the test
  }
  return undefined;
}

/** Values that are not byte arrays at all: a caller bug, ERR_INVALID_ARGUMENT. */
const NOT_BYTES: unknown[] = [
  undefined,
  null,
  0,
  'AAAA',
  [8, 1, 2],
  {},
  new ArrayBuffer(1569),
  new Uint16Array(1569),
  new DataView(new ArrayBuffer(1569)),
];

/** Wrong-shape byte strings built from a good value of length `good.length`. */
function badShapes(good: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [
    new Uint8Array(0),
    Uint8Array.of(KYBER_KEY_TYPE),
    new Uint8Array(33),
    good.subarray(1), // raw bytes without the type byte
    good.subarray(0, good.length - 1),
    Uint8Array.from([...good, 0]),
    Uint8Array.from([KYBER_KEY_TYPE, ...good]), // double type byte
    new Uint8Array(good.length), // type byte 0
  ];
  for (const type of [0x05, 0x07, 0x09, 0x80, 0xff]) {
    const copy = good.slice();
    copy[0] = type;
    out.push(copy);
  }
  return out;
}

function fixedRandom(bytes: Uint8Array): RandomSource {
  return (length) => {
    if (length !== bytes.length) throw new Error(`unexpected request for ${length} bytes`);
    return bytes.slice();
  };
}

const keyPairA = generateKyberKeyPair(createDeterministicRandom('kyber.test A'));
const keyPairB = generateKyberKeyPair(createDeterministicRandom('kyber.test B'));
const encA = kyberEncapsulate(keyPairA.publicKey, createDeterministicRandom('kyber.test enc A'));

describe('Kyber-1024 (round 3) encapsulation', () => {
  it('has libsignal sizes and type bytes', () => {
    expect(KYBER_KEY_TYPE).toBe(0x08);
    expect(KYBER1024_PUBLIC_KEY_LENGTH).toBe(1569);
    expect(KYBER1024_CIPHERTEXT_LENGTH).toBe(1569);
    expect(KYBER1024_SECRET_KEY_LENGTH).toBe(3169);
    expect(keyPairA.publicKey.length).toBe(1569);
    expect(keyPairA.publicKey[0]).toBe(0x08);
    expect(keyPairA.secretKey.length).toBe(3169);
    expect(keyPairA.secretKey[0]).toBe(0x08);
    expect(encA.ciphertext.length).toBe(1569);
    expect(encA.ciphertext[0]).toBe(0x08);
    expect(encA.sharedSecret.length).toBe(32);
  });

  it('round-trips for random seeds (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        (keySeed, encSeed) => {
          const pair = generateKyberKeyPair(createDeterministicRandom(keySeed));
          const { ciphertext, sharedSecret } = kyberEncapsulate(
            pair.publicKey,
            createDeterministicRandom(encSeed),
          );
          expect(ciphertext.length).toBe(KYBER1024_CIPHERTEXT_LENGTH);
          expect(sharedSecret.length).toBe(32);
          expect(toHex(kyberDecapsulate(pair.secretKey, ciphertext))).toBe(toHex(sharedSecret));
          expect(toHex(kyberPublicKeyFromSecretKey(pair.secretKey))).toBe(toHex(pair.publicKey));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('gives a different secret, without throwing, for a bit-flipped ciphertext (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: KYBER1024_CIPHERTEXT_LENGTH - 1 }),
        fc.integer({ min: 0, max: 7 }),
        (index, bit) => {
          const flipped = encA.ciphertext.slice();
          flipped[index]! ^= 1 << bit;
          const secret = kyberDecapsulate(keyPairA.secretKey, flipped);
          expect(secret.length).toBe(32);
          expect(bytesEqual(secret, encA.sharedSecret)).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('gives a different secret for a ciphertext to another key, or the wrong secret key', () => {
    const toB = kyberEncapsulate(keyPairB.publicKey, createDeterministicRandom('kyber.test enc A'));
    const wrongCiphertext = kyberDecapsulate(keyPairA.secretKey, toB.ciphertext);
    expect(wrongCiphertext.length).toBe(32);
    expect(bytesEqual(wrongCiphertext, toB.sharedSecret)).toBe(false);
    expect(bytesEqual(wrongCiphertext, encA.sharedSecret)).toBe(false);
    const wrongKey = kyberDecapsulate(keyPairB.secretKey, encA.ciphertext);
    expect(wrongKey.length).toBe(32);
    expect(bytesEqual(wrongKey, encA.sharedSecret)).toBe(false);
    // Implicit rejection is deterministic: the same wrong ciphertext gives the same value.
    expect(toHex(kyberDecapsulate(keyPairA.secretKey, toB.ciphertext))).toBe(toHex(wrongCiphertext));
  });

  it('is deterministic given the random source, and draws exactly 64 + 32 bytes', () => {
    const again = generateKyberKeyPair(createDeterministicRandom('kyber.test A'));
    expect(toHex(again.publicKey)).toBe(toHex(keyPairA.publicKey));
    expect(toHex(again.secretKey)).toBe(toHex(keyPairA.secretKey));
    expect(bytesEqual(keyPairA.publicKey, keyPairB.publicKey)).toBe(false);

    const encAgain = kyberEncapsulate(keyPairA.publicKey, createDeterministicRandom('kyber.test enc A'));
    expect(toHex(encAgain.ciphertext)).toBe(toHex(encA.ciphertext));
    expect(toHex(encAgain.sharedSecret)).toBe(toHex(encA.sharedSecret));
    const encOther = kyberEncapsulate(keyPairA.publicKey, createDeterministicRandom('kyber.test enc B'));
    expect(bytesEqual(encOther.ciphertext, encA.ciphertext)).toBe(false);
    expect(bytesEqual(encOther.sharedSecret, encA.sharedSecret)).toBe(false);

    const requests: number[] = [];
    const counting: RandomSource = (length) => {
      requests.push(length);
      return new Uint8Array(length).fill(requests.length);
    };
    kyberEncapsulate(generateKyberKeyPair(counting).publicKey, counting);
    expect(requests).toEqual([64, 32]);
  });

  it('refuses malformed public keys with typed errors', () => {
    const random = createDeterministicRandom('bad pk');
    for (const value of NOT_BYTES) {
      expect(codeOf(() => kyberEncapsulate(value as Uint8Array, random))).toBe('ERR_INVALID_ARGUMENT');
    }
    for (const value of badShapes(keyPairA.publicKey)) {
      expect(codeOf(() => kyberEncapsulate(value, random))).toBe('ERR_INVALID_KEY');
    }
    // Well-formed length and type, but a coefficient ≥ q (FIPS-203 modulus check).
    const outOfRange = keyPairA.publicKey.slice();
    outOfRange[1] = 0xff;
    outOfRange[2] = 0xff;
    expect(codeOf(() => kyberEncapsulate(outOfRange, random))).toBe('ERR_INVALID_KEY');
    // A secret key is not a public key.
    expect(codeOf(() => kyberEncapsulate(keyPairA.secretKey, random))).toBe('ERR_INVALID_KEY');
  });

  it('refuses malformed secret keys with typed errors', () => {
    for (const value of NOT_BYTES) {
      expect(codeOf(() => kyberDecapsulate(value as Uint8Array, encA.ciphertext))).toBe(
        'ERR_INVALID_ARGUMENT',
      );
      expect(codeOf(() => kyberPublicKeyFromSecretKey(value as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
    }
    const bad = [...badShapes(keyPairA.secretKey), keyPairA.publicKey];
    // Right shape, but the embedded H(ek) no longer matches (corruption in ek or in the hash).
    for (const index of [1 + 1536, 1 + 1536 + 1567, 1 + 1536 + 1568, 1 + 1536 + 1568 + 31]) {
      const corrupt = keyPairA.secretKey.slice();
      corrupt[index]! ^= 0x01;
      bad.push(corrupt);
    }
    for (const value of bad) {
      expect(codeOf(() => kyberDecapsulate(value, encA.ciphertext))).toBe('ERR_INVALID_KEY');
      expect(codeOf(() => kyberPublicKeyFromSecretKey(value))).toBe('ERR_INVALID_KEY');
    }
  });

  it('refuses malformed ciphertexts with ERR_INVALID_MESSAGE', () => {
    for (const value of NOT_BYTES) {
      expect(codeOf(() => kyberDecapsulate(keyPairA.secretKey, value as Uint8Array))).toBe(
        'ERR_INVALID_ARGUMENT',
      );
    }
    for (const value of [...badShapes(encA.ciphertext), keyPairA.secretKey]) {
      expect(codeOf(() => kyberDecapsulate(keyPairA.secretKey, value))).toBe('ERR_INVALID_MESSAGE');
    }
  });

  it('refuses a random source that returns the wrong shape', () => {
    for (const source of [
      () => new Uint8Array(63),
      () => new Uint8Array(65),
      () => 'x'.repeat(64) as unknown as Uint8Array,
    ] as RandomSource[]) {
      expect(codeOf(() => generateKyberKeyPair(source))).toBe('ERR_INVALID_ARGUMENT');
    }
    for (const source of [() => new Uint8Array(31), () => new Uint8Array(33)] as RandomSource[]) {
      expect(codeOf(() => kyberEncapsulate(keyPairA.publicKey, source))).toBe('ERR_INVALID_ARGUMENT');
    }
  });

  it('never mutates its inputs, including views into larger buffers', () => {
    const pool = new Uint8Array(8 + 1569 + 3169 + 1569 + 8).fill(0xaa);
    const pk = pool.subarray(8, 8 + 1569);
    const sk = pool.subarray(8 + 1569, 8 + 1569 + 3169);
    const ct = pool.subarray(8 + 1569 + 3169, 8 + 1569 + 3169 + 1569);
    pk.set(keyPairA.publicKey);
    sk.set(keyPairA.secretKey);
    const seed = new Uint8Array(32).fill(7);
    const enc = kyberEncapsulate(pk, fixedRandom(seed));
    ct.set(enc.ciphertext);
    const before = pool.slice();
    expect(toHex(kyberDecapsulate(sk, ct))).toBe(toHex(enc.sharedSecret));
    kyberEncapsulate(pk, fixedRandom(seed));
    kyberPublicKeyFromSecretKey(sk);
    expect(toHex(pool)).toBe(toHex(before));
    // Outputs are fresh arrays, not views of the inputs.
    const derived = kyberPublicKeyFromSecretKey(sk);
    derived[5] = derived[5]! ^ 0xff;
    expect(toHex(pool)).toBe(toHex(before));
  });
});

describe('Kyber prekeys', () => {
  const portable = createPortableCrypto();
  const ctx = { crypto, random: createDeterministicRandom('kyber prekeys') };
  const identity = generateIdentityKeyPair(ctx);
  const other = generateIdentityKeyPair(ctx);
  const oneTime = generateKyberPreKey(ctx, identity, 7, 1_700_000_000_000);
  const lastResort = generateKyberPreKey(ctx, identity, 0xffffff, 1_700_000_000_001, { lastResort: true });

  it('generates signed prekeys with the right shape and flags', () => {
    expect(oneTime.id).toBe(7);
    expect(oneTime.timestamp).toBe(1_700_000_000_000);
    expect(oneTime.lastResort).toBe(false);
    expect(lastResort.lastResort).toBe(true);
    expect(generateKyberPreKey(ctx, identity, 1, 0, { lastResort: false }).lastResort).toBe(false);
    expect(generateKyberPreKey(ctx, identity, 1, 0, {}).lastResort).toBe(false);
    for (const preKey of [oneTime, lastResort]) {
      expect(preKey.publicKey.length).toBe(1569);
      expect(preKey.secretKey.length).toBe(3169);
      expect(preKey.signature.length).toBe(64);
      expect(toHex(kyberPublicKeyFromSecretKey(preKey.secretKey))).toBe(toHex(preKey.publicKey));
      const enc = kyberEncapsulate(preKey.publicKey, ctx.random);
      expect(toHex(kyberDecapsulate(preKey.secretKey, enc.ciphertext))).toBe(toHex(enc.sharedSecret));
    }
    expect(bytesEqual(oneTime.publicKey, lastResort.publicKey)).toBe(false);
  });

  it('is deterministic given the random source', () => {
    const make = () => {
      const c = { crypto, random: createDeterministicRandom('kyber prekey determinism') };
      const id = generateIdentityKeyPair(c);
      return generateKyberPreKey(c, id, 9, 5);
    };
    const a = make();
    const b = make();
    expect(toHex(encodeKyberPreKeyRecord(a))).toBe(toHex(encodeKyberPreKeyRecord(b)));
  });

  it('signature verifies (both providers) and every single-bit flip of it fails', () => {
    for (const provider of [crypto, portable]) {
      expect(
        verifyKyberPreKeySignature(provider, identity.publicKey, oneTime.publicKey, oneTime.signature),
      ).toBe(true);
      expect(
        verifyKyberPreKeySignature(provider, identity.publicKey, lastResort.publicKey, lastResort.signature),
      ).toBe(true);
    }
    for (let bit = 0; bit < 64 * 8; bit++) {
      const flipped = oneTime.signature.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(
        verifyKyberPreKeySignature(crypto, identity.publicKey, oneTime.publicKey, flipped),
        `bit ${bit}`,
      ).toBe(false);
    }
  });

  it('signature fails for another identity, another Kyber key, a flipped public key, or a bad length', () => {
    expect(verifyKyberPreKeySignature(crypto, other.publicKey, oneTime.publicKey, oneTime.signature)).toBe(
      false,
    );
    expect(
      verifyKyberPreKeySignature(crypto, identity.publicKey, lastResort.publicKey, oneTime.signature),
    ).toBe(false);
    for (const index of [1, 2, 784, 1568]) {
      const flipped = oneTime.publicKey.slice();
      flipped[index]! ^= 0x10;
      expect(verifyKyberPreKeySignature(crypto, identity.publicKey, flipped, oneTime.signature)).toBe(false);
    }
    for (const length of [0, 63, 65, 128]) {
      const sig = new Uint8Array(length);
      sig.set(oneTime.signature.subarray(0, Math.min(64, length)));
      expect(verifyKyberPreKeySignature(crypto, identity.publicKey, oneTime.publicKey, sig)).toBe(false);
    }
  });

  it('verification refuses malformed keys with typed errors', () => {
    for (const value of badShapes(oneTime.publicKey)) {
      expect(
        codeOf(() => verifyKyberPreKeySignature(crypto, identity.publicKey, value, oneTime.signature)),
      ).toBe('ERR_INVALID_KEY');
    }
    for (const value of [new Uint8Array(33), identity.publicKey.subarray(1), oneTime.publicKey]) {
      expect(
        codeOf(() => verifyKyberPreKeySignature(crypto, value, oneTime.publicKey, oneTime.signature)),
      ).toBe('ERR_INVALID_KEY');
    }
    for (const value of NOT_BYTES) {
      expect(
        codeOf(() =>
          verifyKyberPreKeySignature(crypto, identity.publicKey, value as Uint8Array, oneTime.signature),
        ),
      ).toBe('ERR_INVALID_ARGUMENT');
      expect(
        codeOf(() =>
          verifyKyberPreKeySignature(crypto, identity.publicKey, oneTime.publicKey, value as Uint8Array),
        ),
      ).toBe('ERR_INVALID_ARGUMENT');
    }
  });

  it('generation refuses bad arguments with typed errors', () => {
    const cases: [() => unknown, string][] = [
      [() => generateKyberPreKey(ctx, identity, -1, 0), 'ERR_INVALID_ARGUMENT'],
      [() => generateKyberPreKey(ctx, identity, 0x1000000, 0), 'ERR_INVALID_ARGUMENT'],
      [() => generateKyberPreKey(ctx, identity, 1.5, 0), 'ERR_INVALID_ARGUMENT'],
      [() => generateKyberPreKey(ctx, identity, Number.NaN, 0), 'ERR_INVALID_ARGUMENT'],
      [() => generateKyberPreKey(ctx, identity, 1, -1), 'ERR_INVALID_ARGUMENT'],
      [() => generateKyberPreKey(ctx, identity, 1, 2 ** 53), 'ERR_INVALID_ARGUMENT'],
      [
        () => generateKyberPreKey(ctx, identity, 1, 0, { lastResort: 'yes' as unknown as boolean }),
        'ERR_INVALID_ARGUMENT',
      ],
      [() => generateKyberPreKey(ctx, identity, 1, 0, null as unknown as undefined), 'ERR_INVALID_ARGUMENT'],
      [() => generateKyberPreKey(ctx, null as unknown as typeof identity, 1, 0), 'ERR_INVALID_ARGUMENT'],
      [
        () => generateKyberPreKey(ctx, { ...identity, privateKey: new Uint8Array(31) }, 1, 0),
        'ERR_INVALID_KEY',
      ],
    ];
    for (const [fn, code] of cases) expect(codeOf(fn)).toBe(code);
  });

  it('records round-trip, as fresh copies', () => {
    for (const preKey of [oneTime, lastResort]) {
      const record = encodeKyberPreKeyRecord(preKey);
      expect(record.length).toBe(KYBER_PREKEY_RECORD_LENGTH);
      expect(record[0]).toBe(1); // format version
      const decoded = decodeKyberPreKeyRecord(record);
      expect(decoded.id).toBe(preKey.id);
      expect(decoded.timestamp).toBe(preKey.timestamp);
      expect(decoded.lastResort).toBe(preKey.lastResort);
      expect(toHex(decoded.publicKey)).toBe(toHex(preKey.publicKey));
      expect(toHex(decoded.secretKey)).toBe(toHex(preKey.secretKey));
      expect(toHex(decoded.signature)).toBe(toHex(preKey.signature));
      decoded.secretKey.fill(0);
      expect(toHex(decodeKyberPreKeyRecord(record).secretKey)).toBe(toHex(preKey.secretKey));
    }
    const extremes: KyberPreKey = { ...oneTime, id: 0xffffffff, timestamp: Number.MAX_SAFE_INTEGER };
    expect(decodeKyberPreKeyRecord(encodeKyberPreKeyRecord(extremes))).toMatchObject({
      id: 0xffffffff,
      timestamp: Number.MAX_SAFE_INTEGER,
    });
  });

  it('refuses bad records with ERR_INVALID_RECORD', () => {
    const good = encodeKyberPreKeyRecord(oneTime);
    const mutate = (fn: (copy: Uint8Array) => void) => {
      const copy = good.slice();
      fn(copy);
      return copy;
    };
    const otherRecord = encodeKyberPreKeyRecord(lastResort);
    const bad: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['one byte', Uint8Array.of(1)],
      ['header only', Uint8Array.of(1, 4)],
      ['truncated', good.subarray(0, good.length - 1)],
      ['extended', Uint8Array.from([...good, 0])],
      ['version 0', mutate((c) => (c[0] = 0))],
      ['version 2', mutate((c) => (c[0] = 2))],
      ['kind 3', mutate((c) => (c[1] = 3))],
      ['kind 5', mutate((c) => (c[1] = 5))],
      ['unknown flag', mutate((c) => (c[2] = 0x02))],
      ['timestamp > 2^53', mutate((c) => c.fill(0xff, 7, 15))],
      ['public key type', mutate((c) => (c[15] = 0x05))],
      ['secret key type', mutate((c) => (c[15 + 1569] = 0x05))],
      ['public key bit flip', mutate((c) => (c[15 + 100]! ^= 1))],
      ['secret key H(ek) flip', mutate((c) => (c[15 + 1569 + 1 + 1536 + 1568]! ^= 1))],
      ['swapped public key', mutate((c) => c.set(otherRecord.subarray(15, 15 + 1569), 15))],
      ['zeros', new Uint8Array(good.length)],
      [
        'signed prekey record',
        encodeSignedPreKeyRecord({ id: 1, keyPair: identity, signature: new Uint8Array(64), timestamp: 0 }),
      ],
      ['one-time prekey record', encodeOneTimePreKeyRecord({ id: 1, keyPair: identity })],
    ];
    for (const [name, record] of bad) {
      expect(
        codeOf(() => decodeKyberPreKeyRecord(record)),
        name,
      ).toBe('ERR_INVALID_RECORD');
    }
    for (const value of NOT_BYTES) {
      expect(codeOf(() => decodeKyberPreKeyRecord(value as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
    }
    // The flag byte accepts exactly 0 and 1.
    expect(decodeKyberPreKeyRecord(mutate((c) => (c[2] = 1))).lastResort).toBe(true);
    // Arbitrary bytes never escape as anything but a typed error.
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 0, max: good.length - 1 }),
        (bytes, at) => {
          const code = codeOf(() => decodeKyberPreKeyRecord(bytes));
          expect(code).toBe('ERR_INVALID_RECORD');
          const spliced = good.slice();
          spliced.set(bytes.subarray(0, good.length - at), at);
          const result = codeOf(() => decodeKyberPreKeyRecord(spliced));
          expect(result === undefined || result === 'ERR_INVALID_RECORD').toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('encoding refuses bad pre-keys with typed errors', () => {
    const cases: [KyberPreKey, string][] = [
      [{ ...oneTime, id: -1 }, 'ERR_INVALID_ARGUMENT'],
      [{ ...oneTime, id: 2 ** 32 }, 'ERR_INVALID_ARGUMENT'],
      [{ ...oneTime, timestamp: -1 }, 'ERR_INVALID_ARGUMENT'],
      [{ ...oneTime, lastResort: 1 as unknown as boolean }, 'ERR_INVALID_ARGUMENT'],
      [{ ...oneTime, signature: new Uint8Array(63) }, 'ERR_INVALID_ARGUMENT'],
      [{ ...oneTime, publicKey: oneTime.publicKey.subarray(1) }, 'ERR_INVALID_KEY'],
      [{ ...oneTime, secretKey: oneTime.secretKey.subarray(1) }, 'ERR_INVALID_KEY'],
      [{ ...oneTime, publicKey: lastResort.publicKey }, 'ERR_INVALID_KEY'],
    ];
    for (const [preKey, code] of cases) expect(codeOf(() => encodeKyberPreKeyRecord(preKey))).toBe(code);
    expect(codeOf(() => encodeKyberPreKeyRecord(null as unknown as KyberPreKey))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
  });
});
