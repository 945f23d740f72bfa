import fc from 'fast-check';
import * as lsc from 'lsc-0-23';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../src/bytes.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import type { RandomSource } from '../src/crypto/provider.js';
import { createDeterministicRandom, defaultRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import {
  agree,
  decodeKeyPairRecord,
  decodeOneTimePreKeyRecord,
  decodeSignedPreKeyRecord,
  deserializePublicKey,
  encodeKeyPairRecord,
  encodeOneTimePreKeyRecord,
  encodeSignedPreKeyRecord,
  generateIdentityKeyPair,
  generateKeyPair,
  generatePreKeys,
  generateRegistrationId,
  generateSignedPreKey,
  MAX_REGISTRATION_ID,
  type PreKeyBundle,
  serializePublicKey,
  sign,
  verifyPreKeyBundle,
  verifySignature,
} from '../src/keys/index.js';

const crypto = createNodeCrypto();
const ctx = () => ({ crypto, random: createDeterministicRandom('keys.test') });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isParleyError(error)) return error.code;
    throw error;
  }
  return undefined;
}

/** Values that are not byte arrays at all: a caller bug, ERR_INVALID_ARGUMENT. */
const NOT_BYTES: unknown[] = [
  undefined,
  null,
  0,
  'AAAA',
  [5, 1, 2],
  {},
  new ArrayBuffer(33),
  new Uint16Array(33),
  new DataView(new ArrayBuffer(33)),
];

function deepCopy<T>(value: T): T {
  return structuredClone(value);
}

describe('public key serialization', () => {
  it('serializes as 0x05 ‖ u and deserializes back to a copy', () => {
    const u = crypto.x25519PublicKey(new Uint8Array(32).fill(4));
    const serialized = serializePublicKey(u);
    expect(serialized.length).toBe(33);
    expect(serialized[0]).toBe(5);
    const back = deserializePublicKey(serialized);
    expect(back).toEqual(u);
    back[0]! ^= 1;
    expect(serialized.subarray(1)).toEqual(u);
  });

  it.each([0, 1, 31, 33, 64])('serializePublicKey refuses %i bytes with ERR_INVALID_KEY', (length) => {
    expect(codeOf(() => serializePublicKey(new Uint8Array(length)))).toBe('ERR_INVALID_KEY');
  });

  it.each([0, 1, 32, 34, 65])('deserializePublicKey refuses %i bytes with ERR_INVALID_KEY', (length) => {
    const bytes = new Uint8Array(length);
    if (length > 0) bytes[0] = 5;
    expect(codeOf(() => deserializePublicKey(bytes))).toBe('ERR_INVALID_KEY');
  });

  it.each([0x00, 0x04, 0x06, 0x08, 0x85, 0xff])('deserializePublicKey refuses type byte 0x%s', (type) => {
    const bytes = new Uint8Array(33).fill(1);
    bytes[0] = type;
    expect(codeOf(() => deserializePublicKey(bytes))).toBe('ERR_INVALID_KEY');
  });

  it.each(NOT_BYTES.map((v) => [Object.prototype.toString.call(v), v]))(
    'both refuse a non-byte value %s with ERR_INVALID_ARGUMENT',
    (_, value) => {
      expect(codeOf(() => serializePublicKey(value as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
      expect(codeOf(() => deserializePublicKey(value as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
    },
  );

  it('accepts a Buffer (a Uint8Array subclass)', () => {
    expect(deserializePublicKey(Buffer.alloc(33, 5)).length).toBe(32);
  });
});

describe('key pairs, agreement and signatures', () => {
  it('generates clamped private keys whose public key the provider derives', () => {
    const c = ctx();
    for (let i = 0; i < 20; i++) {
      const pair = generateKeyPair(c);
      expect(pair.privateKey.length).toBe(32);
      expect(pair.privateKey[0]! & 0b111).toBe(0);
      expect(pair.privateKey[31]! & 0xc0).toBe(0x40);
      expect(pair.publicKey).toEqual(serializePublicKey(crypto.x25519PublicKey(pair.privateKey)));
    }
  });

  it('is reproducible with a deterministic random source and identical across providers', () => {
    const a = generateKeyPair({ crypto, random: createDeterministicRandom('seed') });
    const b = generateKeyPair({ crypto: createPortableCrypto(), random: createDeterministicRandom('seed') });
    expect(b).toEqual(a);
    expect(generateKeyPair({ crypto, random: createDeterministicRandom('other') })).not.toEqual(a);
  });

  it('refuses a random source that returns the wrong number of bytes', () => {
    const short: RandomSource = (n) => new Uint8Array(n - 1);
    expect(codeOf(() => generateKeyPair({ crypto, random: short }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => sign({ crypto, random: short }, new Uint8Array(32), new Uint8Array(1)))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
  });

  it('agrees symmetrically, and matches libsignal-client’s agree', () => {
    const c = ctx();
    const alice = generateKeyPair(c);
    const bob = generateKeyPair(c);
    const shared = agree(crypto, alice.privateKey, bob.publicKey);
    expect(agree(crypto, bob.privateKey, alice.publicKey)).toEqual(shared);
    const peer = lsc.PrivateKey.deserialize(Buffer.from(alice.privateKey));
    expect(new Uint8Array(peer.agree(lsc.PublicKey.deserialize(Buffer.from(bob.publicKey))))).toEqual(shared);
  });

  it('agree refuses a bad type byte, a bad length and a low-order key with ERR_INVALID_KEY', () => {
    const ours = generateKeyPair(ctx()).privateKey;
    const wrongType = new Uint8Array(33).fill(9);
    expect(codeOf(() => agree(crypto, ours, wrongType))).toBe('ERR_INVALID_KEY');
    expect(codeOf(() => agree(crypto, ours, new Uint8Array(32).fill(9)))).toBe('ERR_INVALID_KEY');
    expect(codeOf(() => agree(crypto, ours, concatBytes(Uint8Array.of(5), new Uint8Array(32))))).toBe(
      'ERR_INVALID_KEY',
    );
    expect(codeOf(() => agree(crypto, new Uint8Array(31), generateKeyPair(ctx()).publicKey))).toBe(
      'ERR_INVALID_KEY',
    );
  });

  it('signs and verifies against the serialized key; wrong-length signatures are just invalid', () => {
    const c = ctx();
    const pair = generateKeyPair(c);
    const message = Uint8Array.of(1, 2, 3);
    const signature = sign(c, pair.privateKey, message);
    expect(verifySignature(crypto, pair.publicKey, message, signature)).toBe(true);
    expect(verifySignature(crypto, pair.publicKey, Uint8Array.of(1, 2, 4), signature)).toBe(false);
    expect(verifySignature(crypto, pair.publicKey, message, signature.subarray(0, 63))).toBe(false);
    expect(verifySignature(crypto, pair.publicKey, message, concatBytes(signature, Uint8Array.of(0)))).toBe(
      false,
    );
    expect(codeOf(() => verifySignature(crypto, pair.publicKey.subarray(1), message, signature))).toBe(
      'ERR_INVALID_KEY',
    );
  });
});

describe('registration ids', () => {
  it('stays within 1..16380 for the platform random source', () => {
    for (let i = 0; i < 20_000; i++) {
      const id = generateRegistrationId(defaultRandom);
      expect(Number.isInteger(id) && id >= 1 && id <= MAX_REGISTRATION_ID).toBe(true);
    }
  });

  it('is unbiased: over all 65 536 two-byte inputs every id in 1..16380 comes out equally often', () => {
    const counts = new Map<number, number>();
    for (let value = 0; value < 65_536; value++) {
      let served = false;
      // A source that serves `value` once, then 0x0001 so rejected draws still terminate.
      const source: RandomSource = (n) => {
        const out = new Uint8Array(n);
        if (!served) {
          out[0] = value >> 8;
          out[1] = value & 0xff;
          served = true;
        } else out[1] = 0xff;
        return out;
      };
      const id = generateRegistrationId(source);
      if (id === 0xff && (value & 0x3fff) !== 0xff) continue; // the first draw was rejected
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.size).toBe(16380);
    expect(Math.min(...counts.values())).toBe(4);
    expect(Math.max(...counts.values())).toBe(4);
  });

  it('rejects 0 and 16381..16383 and fails loudly on a stuck random source', () => {
    const sequence = (...values: number[]): RandomSource => {
      let i = 0;
      return () => {
        const v = values[i++]!;
        return Uint8Array.of(v >> 8, v & 0xff);
      };
    };
    expect(generateRegistrationId(sequence(0, 0x3ffd, 0x3fff, 0xffff, 0x3ffc))).toBe(16380);
    expect(generateRegistrationId(sequence(0xc001))).toBe(1);
    expect(codeOf(() => generateRegistrationId((n) => new Uint8Array(n)))).toBe('ERR_CONFIGURATION');
  });
});

describe('prekeys', () => {
  it('signs the signed prekey’s 33-byte serialized public key with the identity key', () => {
    const c = ctx();
    const identity = generateIdentityKeyPair(c);
    const spk = generateSignedPreKey(c, identity, 7, 1_700_000_000_000);
    expect(spk.id).toBe(7);
    expect(spk.timestamp).toBe(1_700_000_000_000);
    expect(verifySignature(crypto, identity.publicKey, spk.keyPair.publicKey, spk.signature)).toBe(true);
    const peer = lsc.PublicKey.deserialize(Buffer.from(identity.publicKey));
    expect(peer.verify(Buffer.from(spk.keyPair.publicKey), Buffer.from(spk.signature))).toBe(true);
  });

  it.each([-1, 0x1000000, 1.5, Number.NaN, '1', undefined])('generateSignedPreKey refuses id %s', (id) => {
    const c = ctx();
    expect(codeOf(() => generateSignedPreKey(c, generateIdentityKeyPair(c), id as number, 0))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
  });

  it.each([-1, 2 ** 53, 0.5, Number.POSITIVE_INFINITY])('generateSignedPreKey refuses timestamp %s', (ts) => {
    const c = ctx();
    expect(codeOf(() => generateSignedPreKey(c, generateIdentityKeyPair(c), 1, ts))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
  });

  it('generates consecutive one-time prekey ids that wrap within 1..0xFFFFFF', () => {
    const keys = generatePreKeys(ctx(), 0xfffffe, 4);
    expect(keys.map((k) => k.id)).toEqual([0xfffffe, 0xffffff, 1, 2]);
    expect(new Set(keys.map((k) => k.keyPair.publicKey.join())).size).toBe(4);
  });

  it.each([
    [0, 1],
    [0x1000000, 1],
    [1, 0],
    [1, 10_001],
    [1, 2.5],
  ])('generatePreKeys refuses start %s count %s', (start, count) => {
    expect(codeOf(() => generatePreKeys(ctx(), start, count))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('prekey bundles', () => {
  function makeBundle(withKyber = true): PreKeyBundle {
    const c = ctx();
    const identity = generateIdentityKeyPair(c);
    const spk = generateSignedPreKey(c, identity, 1, 0);
    const [opk] = generatePreKeys(c, 5, 1);
    const kyberPreKey = concatBytes(Uint8Array.of(0x08), c.random(1568));
    return {
      registrationId: 1234,
      deviceId: 1,
      identityKey: identity.publicKey,
      signedPreKeyId: spk.id,
      signedPreKey: spk.keyPair.publicKey,
      signedPreKeySignature: spk.signature,
      preKeyId: opk!.id,
      preKey: opk!.keyPair.publicKey,
      ...(withKyber
        ? { kyberPreKeyId: 9, kyberPreKey, kyberPreKeySignature: sign(c, identity.privateKey, kyberPreKey) }
        : {}),
    };
  }

  it('accepts a well-formed bundle with and without the optional parts, without mutating it', () => {
    const bundle = makeBundle();
    const before = deepCopy(bundle);
    verifyPreKeyBundle(crypto, bundle);
    expect(bundle).toEqual(before);
    verifyPreKeyBundle(crypto, makeBundle(false));
    const { preKey: _p, preKeyId: _i, ...withoutOneTime } = makeBundle(false);
    verifyPreKeyBundle(crypto, withoutOneTime);
  });

  it('accepts a bundle signed by libsignal-client 0.23.1', () => {
    const identity = lsc.PrivateKey.generate();
    const signedPreKey = lsc.PrivateKey.generate().getPublicKey().serialize();
    verifyPreKeyBundle(crypto, {
      registrationId: 16380,
      deviceId: 2,
      identityKey: new Uint8Array(identity.getPublicKey().serialize()),
      signedPreKeyId: 0xffffffff,
      signedPreKey: new Uint8Array(signedPreKey),
      signedPreKeySignature: new Uint8Array(identity.sign(signedPreKey)),
    });
  });

  it('refuses every single-bit flip of the signed-prekey signature with ERR_INVALID_SIGNATURE', () => {
    const bundle = makeBundle(false);
    const accepted: number[] = [];
    for (let bit = 0; bit < 512; bit++) {
      const signature = Uint8Array.from(bundle.signedPreKeySignature);
      signature[bit >> 3]! ^= 1 << (bit & 7);
      const code = codeOf(() => verifyPreKeyBundle(crypto, { ...bundle, signedPreKeySignature: signature }));
      if (code !== 'ERR_INVALID_SIGNATURE') accepted.push(bit);
    }
    expect(accepted).toEqual([]);
  });

  it('refuses a flipped bit in the signed prekey itself or in the Kyber prekey or its signature', () => {
    const bundle = makeBundle();
    const flip = (bytes: Uint8Array, at: number) => {
      const out = Uint8Array.from(bytes);
      out[at]! ^= 0x20;
      return out;
    };
    expect(
      codeOf(() => verifyPreKeyBundle(crypto, { ...bundle, signedPreKey: flip(bundle.signedPreKey, 17) })),
    ).toBe('ERR_INVALID_SIGNATURE');
    expect(
      codeOf(() => verifyPreKeyBundle(crypto, { ...bundle, kyberPreKey: flip(bundle.kyberPreKey!, 800) })),
    ).toBe('ERR_INVALID_SIGNATURE');
    expect(
      codeOf(() =>
        verifyPreKeyBundle(crypto, {
          ...bundle,
          kyberPreKeySignature: flip(bundle.kyberPreKeySignature!, 3),
        }),
      ),
    ).toBe('ERR_INVALID_SIGNATURE');
    const stranger = generateIdentityKeyPair({ crypto, random: createDeterministicRandom('stranger') });
    expect(codeOf(() => verifyPreKeyBundle(crypto, { ...bundle, identityKey: stranger.publicKey }))).toBe(
      'ERR_INVALID_SIGNATURE',
    );
  });

  const badFields: Array<[string, unknown, string]> = [
    ['registrationId', -1, 'ERR_INVALID_ARGUMENT'],
    ['registrationId', 2 ** 32, 'ERR_INVALID_ARGUMENT'],
    ['registrationId', '1', 'ERR_INVALID_ARGUMENT'],
    ['deviceId', 1.5, 'ERR_INVALID_ARGUMENT'],
    ['deviceId', undefined, 'ERR_INVALID_ARGUMENT'],
    ['signedPreKeyId', -5, 'ERR_INVALID_ARGUMENT'],
    ['preKeyId', 2 ** 32, 'ERR_INVALID_ARGUMENT'],
    ['preKeyId', undefined, 'ERR_INVALID_ARGUMENT'],
    ['preKey', undefined, 'ERR_INVALID_ARGUMENT'],
    ['kyberPreKeyId', undefined, 'ERR_INVALID_ARGUMENT'],
    ['kyberPreKeySignature', undefined, 'ERR_INVALID_ARGUMENT'],
    ['identityKey', new Uint8Array(32), 'ERR_INVALID_KEY'],
    ['identityKey', new Uint8Array(33), 'ERR_INVALID_KEY'],
    ['identityKey', 'not bytes', 'ERR_INVALID_ARGUMENT'],
    ['signedPreKey', new Uint8Array(34).fill(5), 'ERR_INVALID_KEY'],
    ['signedPreKey', undefined, 'ERR_INVALID_ARGUMENT'],
    ['preKey', new Uint8Array(33).fill(8), 'ERR_INVALID_KEY'],
    ['signedPreKeySignature', new Uint8Array(63), 'ERR_INVALID_SIGNATURE'],
    ['signedPreKeySignature', new Uint8Array(0), 'ERR_INVALID_SIGNATURE'],
    ['signedPreKeySignature', null, 'ERR_INVALID_ARGUMENT'],
    ['kyberPreKey', new Uint8Array(1568).fill(8), 'ERR_INVALID_KEY'],
    ['kyberPreKey', new Uint8Array(1569).fill(5), 'ERR_INVALID_KEY'],
    ['kyberPreKeySignature', new Uint8Array(65), 'ERR_INVALID_SIGNATURE'],
  ];

  it.each(badFields)('refuses %s = %s with %s', (field, value, code) => {
    const bundle = { ...makeBundle(), [field]: value } as PreKeyBundle;
    const before = deepCopy(bundle);
    expect(codeOf(() => verifyPreKeyBundle(crypto, bundle))).toBe(code);
    expect(bundle).toEqual(before);
  });

  it('refuses something that is not a bundle', () => {
    expect(codeOf(() => verifyPreKeyBundle(crypto, null as unknown as PreKeyBundle))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
  });
});

describe('key records', () => {
  const c = ctx();
  const identity = generateIdentityKeyPair(c);
  const spk = generateSignedPreKey(c, identity, 0xabcdef, 1_712_345_678_901);
  const [opk] = generatePreKeys(c, 0x123456, 1);
  const cases = [
    {
      name: 'key pair',
      encode: () => encodeKeyPairRecord(identity),
      decode: decodeKeyPairRecord,
      value: identity,
    },
    {
      name: 'signed prekey',
      encode: () => encodeSignedPreKeyRecord(spk),
      decode: decodeSignedPreKeyRecord,
      value: spk,
    },
    {
      name: 'one-time prekey',
      encode: () => encodeOneTimePreKeyRecord(opk!),
      decode: decodeOneTimePreKeyRecord,
      value: opk!,
    },
  ] as const;

  describe.each(cases)('$name', ({ encode, decode, value }) => {
    it('round-trips, starting with format version 1, into fresh arrays', () => {
      const record = encode();
      expect(record[0]).toBe(1);
      const decoded = decode(record);
      expect(decoded).toEqual(value);
      record.fill(0);
      expect(decoded).toEqual(value);
    });

    it('refuses every truncation, an extra byte, another version and a bad key type byte', () => {
      const record = encode();
      for (let length = 0; length < record.length; length++) {
        expect(codeOf(() => decode(record.slice(0, length)))).toBe('ERR_INVALID_RECORD');
      }
      expect(codeOf(() => decode(concatBytes(record, Uint8Array.of(0))))).toBe('ERR_INVALID_RECORD');
      for (const version of [0, 2, 0xff]) {
        const other = Uint8Array.from(record);
        other[0] = version;
        expect(codeOf(() => decode(other))).toBe('ERR_INVALID_RECORD');
      }
      const badType = Uint8Array.from(record);
      badType[record.length - (record.length === 143 ? 64 : 0) - 65]! = 0x06;
      expect(codeOf(() => decode(badType))).toBe('ERR_INVALID_RECORD');
    });

    it('refuses the other kinds of record and random garbage with ERR_INVALID_RECORD only', () => {
      for (const other of cases) {
        if (other.encode === encode) continue;
        expect(codeOf(() => decode(other.encode()))).toBe('ERR_INVALID_RECORD');
      }
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
          const code = codeOf(() => decode(garbage));
          expect(code === undefined || code === 'ERR_INVALID_RECORD').toBe(true);
        }),
        { numRuns: 300 },
      );
      expect(codeOf(() => decode('garbage' as unknown as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
    });
  });

  it('refuses a signed-prekey record whose timestamp exceeds 2^53 − 1', () => {
    const record = encodeSignedPreKeyRecord(spk);
    new DataView(record.buffer).setBigUint64(6, 2n ** 53n);
    expect(codeOf(() => decodeSignedPreKeyRecord(record))).toBe('ERR_INVALID_RECORD');
  });

  it('refuses to encode malformed values', () => {
    expect(
      codeOf(() => encodeKeyPairRecord({ publicKey: new Uint8Array(32), privateKey: new Uint8Array(32) })),
    ).toBe('ERR_INVALID_KEY');
    expect(codeOf(() => encodeOneTimePreKeyRecord({ id: -1, keyPair: identity }))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
    expect(codeOf(() => encodeSignedPreKeyRecord({ ...spk, signature: new Uint8Array(63) }))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
  });
});
