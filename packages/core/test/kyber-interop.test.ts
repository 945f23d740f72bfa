/**
 * Kyber key formats and Kyber prekey signatures against real libsignal-client (0.72.1, 0.75.1,
 * 0.90.0). Their JS API exposes no encapsulate/decapsulate, so this proves the formats (and that
 * libsignal's secret keys work in our KEM); the derivation itself is proven by the round-3 KAT
 * (kyber-kat.test.ts) and end to end by PQXDH sessions.
 */
import * as lsc072 from 'lsc-0-72';
import * as lsc075 from 'lsc-0-75';
import * as lsc090 from 'lsc-0-90';
import { describe, expect, it } from 'vitest';
import { bytesEqual, concatBytes, toHex } from '../src/bytes.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom, defaultRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { generateIdentityKeyPair } from '../src/keys/identity.js';
import {
  generateKyberPreKey,
  type KyberPreKey,
  verifyKyberPreKeySignature,
} from '../src/keys/kyber-prekeys.js';
import {
  generateKyberKeyPair,
  kyberDecapsulate,
  kyberEncapsulate,
  kyberPublicKeyFromSecretKey,
} from '../src/kyber/index.js';
import { encodeVarint, ProtobufWriter } from '../src/wire/protobuf.js';

// ---- a minimal structural view of the libsignal-client API used here (all three versions) ----
interface Serializable {
  serialize(): Uint8Array;
}
interface PublicKeyLike extends Serializable {
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}
interface PrivateKeyLike extends Serializable {
  sign(msg: Uint8Array): Uint8Array;
  getPublicKey(): PublicKeyLike;
}
interface KemKeyPairLike {
  getPublicKey(): Serializable;
  getSecretKey(): Serializable;
}
interface KyberPreKeyRecordLike extends Serializable {
  id(): number;
  timestamp(): number;
  publicKey(): Serializable;
  secretKey(): Serializable;
  signature(): Uint8Array;
}
interface LscApi {
  PrivateKey: { generate(): PrivateKeyLike };
  PublicKey: { deserialize(buf: Uint8Array): PublicKeyLike };
  KEMKeyPair: { generate(): KemKeyPairLike };
  KEMPublicKey: { deserialize(buf: Uint8Array): Serializable };
  KEMSecretKey: { deserialize(buf: Uint8Array): Serializable };
  KyberPreKeyRecord: {
    new: (
      id: number,
      timestamp: number,
      keyPair: KemKeyPairLike,
      signature: Uint8Array,
    ) => KyberPreKeyRecordLike;
    deserialize(buf: Uint8Array): KyberPreKeyRecordLike;
  };
}

const PEERS: [string, LscApi][] = [
  ['libsignal-client 0.72.1', lsc072 as unknown as LscApi],
  ['libsignal-client 0.75.1', lsc075 as unknown as LscApi],
  ['libsignal-client 0.90.0', lsc090 as unknown as LscApi],
];

const u8 = (value: Uint8Array) => new Uint8Array(value);
const buf = (value: Uint8Array) => Buffer.from(value);

/**
 * libsignal's KyberPreKeyRecord wire form (storage.proto `SignedPreKeyRecordStructure`):
 * id = 1 (uint32), public_key = 2, private_key = 3, signature = 4, timestamp = 5 (fixed64).
 */
function libsignalKyberRecordBytes(preKey: KyberPreKey): Uint8Array {
  const body = new ProtobufWriter()
    .uint32(1, preKey.id)
    .bytes(2, preKey.publicKey)
    .bytes(3, preKey.secretKey)
    .bytes(4, preKey.signature)
    .finish();
  const timestamp = new Uint8Array(8);
  new DataView(timestamp.buffer).setBigUint64(0, BigInt(preKey.timestamp), true);
  return concatBytes(body, encodeVarint((5 << 3) | 1), timestamp);
}

const crypto = createNodeCrypto();
const portable = createPortableCrypto();
const ctx = { crypto, random: createDeterministicRandom('kyber-interop') };
const ourIdentity = generateIdentityKeyPair(ctx);
const ourPreKey = generateKyberPreKey(ctx, ourIdentity, 4242, 1_700_000_123_456);

for (const [name, api] of PEERS) {
  describe(`Kyber formats and signatures vs ${name}`, () => {
    it('a libsignal key pair works in our KEM (public key, secret key, both serialized forms)', () => {
      for (let i = 0; i < 5; i++) {
        const pair = api.KEMKeyPair.generate();
        const publicKey = u8(pair.getPublicKey().serialize());
        const secretKey = u8(pair.getSecretKey().serialize());
        expect(publicKey.length).toBe(1569);
        expect(publicKey[0]).toBe(0x08);
        expect(secretKey.length).toBe(3169);
        expect(secretKey[0]).toBe(0x08);
        // Same secret-key layout: it embeds exactly libsignal's public key and H(pk).
        expect(toHex(kyberPublicKeyFromSecretKey(secretKey))).toBe(toHex(publicKey));
        const { ciphertext, sharedSecret } = kyberEncapsulate(publicKey, defaultRandom);
        expect(toHex(kyberDecapsulate(secretKey, ciphertext))).toBe(toHex(sharedSecret));
      }
    });

    it('libsignal accepts our serialized public and secret keys unchanged', () => {
      for (let i = 0; i < 3; i++) {
        const ours = generateKyberKeyPair(defaultRandom);
        expect(toHex(u8(api.KEMPublicKey.deserialize(buf(ours.publicKey)).serialize()))).toBe(
          toHex(ours.publicKey),
        );
        expect(toHex(u8(api.KEMSecretKey.deserialize(buf(ours.secretKey)).serialize()))).toBe(
          toHex(ours.secretKey),
        );
      }
      // And it refuses what we refuse (control: the round trip above is not a no-op check).
      expect(() => api.KEMPublicKey.deserialize(buf(ourPreKey.publicKey.subarray(1)))).toThrow();
      const wrongType = ourPreKey.publicKey.slice();
      wrongType[0] = 0x05;
      expect(() => api.KEMPublicKey.deserialize(buf(wrongType))).toThrow();
    });

    it("libsignal's signed Kyber prekey verifies with verifyKyberPreKeySignature", () => {
      const identity = api.PrivateKey.generate();
      const identityKey = u8(identity.getPublicKey().serialize());
      const pair = api.KEMKeyPair.generate();
      const signature = identity.sign(buf(u8(pair.getPublicKey().serialize())));
      const record = api.KyberPreKeyRecord.new(77, 1_700_000_000_000, pair, buf(u8(signature)));
      const publicKey = u8(record.publicKey().serialize());
      const recordSignature = u8(record.signature());
      for (const provider of [crypto, portable]) {
        expect(verifyKyberPreKeySignature(provider, identityKey, publicKey, recordSignature)).toBe(true);
      }
      const flipped = recordSignature.slice();
      flipped[10]! ^= 0x01;
      expect(verifyKyberPreKeySignature(crypto, identityKey, publicKey, flipped)).toBe(false);
      const otherIdentity = u8(api.PrivateKey.generate().getPublicKey().serialize());
      expect(verifyKyberPreKeySignature(crypto, otherIdentity, publicKey, recordSignature)).toBe(false);
      // libsignal's record secret key decapsulates what we encapsulate to its public key.
      const enc = kyberEncapsulate(publicKey, defaultRandom);
      expect(toHex(kyberDecapsulate(u8(record.secretKey().serialize()), enc.ciphertext))).toBe(
        toHex(enc.sharedSecret),
      );
    });

    it('libsignal verifies our Kyber prekey signature (PublicKey.verify)', () => {
      const identityKey = api.PublicKey.deserialize(buf(ourIdentity.publicKey));
      expect(identityKey.verify(buf(ourPreKey.publicKey), buf(ourPreKey.signature))).toBe(true);
      const flipped = ourPreKey.signature.slice();
      flipped[40]! ^= 0x80;
      expect(identityKey.verify(buf(ourPreKey.publicKey), buf(flipped))).toBe(false);
      const otherKey = ourPreKey.publicKey.slice();
      otherKey[100]! ^= 0x01;
      expect(identityKey.verify(buf(otherKey), buf(ourPreKey.signature))).toBe(false);
    });

    it('our Kyber prekey loads as a libsignal KyberPreKeyRecord, and a libsignal record reads back field for field', () => {
      const record = api.KyberPreKeyRecord.deserialize(buf(libsignalKyberRecordBytes(ourPreKey)));
      expect(record.id()).toBe(ourPreKey.id);
      expect(record.timestamp()).toBe(ourPreKey.timestamp);
      expect(toHex(u8(record.publicKey().serialize()))).toBe(toHex(ourPreKey.publicKey));
      expect(toHex(u8(record.secretKey().serialize()))).toBe(toHex(ourPreKey.secretKey));
      expect(toHex(u8(record.signature()))).toBe(toHex(ourPreKey.signature));
      // Re-serialized by libsignal, it is byte-identical to ours (same field order and encoding).
      expect(bytesEqual(u8(record.serialize()), libsignalKyberRecordBytes(ourPreKey))).toBe(true);
    });
  });
}

describe('Kyber prekey signature errors stay typed with libsignal-made keys', () => {
  it('a libsignal Kyber secret key is not accepted as a public key', () => {
    const pair = lsc072.KEMKeyPair.generate();
    const secretKey = u8(pair.getSecretKey().serialize());
    let code: string | undefined;
    try {
      verifyKyberPreKeySignature(crypto, ourIdentity.publicKey, secretKey, ourPreKey.signature);
    } catch (error) {
      if (isParleyError(error)) code = error.code;
      else throw error;
    }
    expect(code).toBe('ERR_INVALID_KEY');
  });
});
