import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import * as lsc from 'lsc-0-23';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex } from '../src/bytes.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import {
  bytesToNumberLE,
  clampPrivateKey,
  ED25519_ORDER,
  montgomeryToEdwards,
  numberToBytesLE32,
} from '../src/crypto/xeddsa.js';
import { readVectorJson } from './support/vectors.js';

const vector = readVectorJson<{ privateKey: string; publicKey: string; message: string; signature: string }>(
  'libsignal/xeddsa.json',
);

const portable = createPortableCrypto();
const node = createNodeCrypto();
const providers: CryptoProvider[] = [portable, node];
const Point = ed25519.Point;
const P = Point.Fp.ORDER;

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bytes64 = fc.uint8Array({ minLength: 64, maxLength: 64 });
const message = fc.uint8Array({ maxLength: 200 });

const lscPublic = (u: Uint8Array) => lsc.PublicKey.deserialize(Buffer.from(concatBytes(Uint8Array.of(5), u)));

/** u = (1 + y)/(1 − y): the Montgomery form of an Edwards point, to build keys libsignal never makes. */
function edwardsToMontgomery(point: InstanceType<typeof Point>): Uint8Array {
  const { y } = point.toAffine();
  const u = (((1n + y) % P) * Point.Fp.inv((1n - y + P) % P)) % P;
  return numberToBytesLE32(u);
}

function challenge(rBytes: Uint8Array, aBytes: Uint8Array, msg: Uint8Array): bigint {
  return bytesToNumberLE(sha512(concatBytes(rBytes, aBytes, msg))) % ED25519_ORDER;
}

describe.each(providers)('XEdDSA with the $name provider', (crypto) => {
  it('verifies libsignal’s known-answer signature, and its private key gives its public key', () => {
    expect(crypto.x25519PublicKey(fromHex(vector.privateKey))).toEqual(fromHex(vector.publicKey));
    expect(
      crypto.xeddsaVerify(fromHex(vector.publicKey), fromHex(vector.message), fromHex(vector.signature)),
    ).toBe(true);
  });

  it('rejects every single-bit flip of the known-answer signature', () => {
    const signature = fromHex(vector.signature);
    const accepted: number[] = [];
    for (let bit = 0; bit < 512; bit++) {
      const flipped = Uint8Array.from(signature);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      if (crypto.xeddsaVerify(fromHex(vector.publicKey), fromHex(vector.message), flipped))
        accepted.push(bit);
    }
    expect(accepted).toEqual([]);
  });

  it('rejects the signature over a different message or under a different key', () => {
    const msg = fromHex(vector.message);
    msg[5]! ^= 0x10;
    expect(crypto.xeddsaVerify(fromHex(vector.publicKey), msg, fromHex(vector.signature))).toBe(false);
    const otherKey = crypto.x25519PublicKey(new Uint8Array(32).fill(7));
    expect(crypto.xeddsaVerify(otherKey, fromHex(vector.message), fromHex(vector.signature))).toBe(false);
  });

  it('round-trips sign → verify on random keys, messages and nonces, across both providers', () => {
    fc.assert(
      fc.property(bytes32, message, bytes64, (seed, msg, random) => {
        const publicKey = crypto.x25519PublicKey(seed);
        const signature = crypto.xeddsaSign(seed, msg, random);
        expect(signature.length).toBe(64);
        for (const verifier of providers) expect(verifier.xeddsaVerify(publicKey, msg, signature)).toBe(true);
        const tampered = Uint8Array.from(msg.length > 0 ? msg : [0]);
        tampered[0]! ^= 1;
        if (msg.length > 0) expect(crypto.xeddsaVerify(publicKey, tampered, signature)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('signs with an unclamped private key exactly as with its clamped form (libsignal clamps first)', () => {
    const seed = new Uint8Array(32).fill(0xff);
    const random = new Uint8Array(64).fill(3);
    const msg = Uint8Array.of(1, 2, 3);
    expect(crypto.xeddsaSign(seed, msg, random)).toEqual(
      crypto.xeddsaSign(clampPrivateKey(seed), msg, random),
    );
  });

  it('does not mutate its inputs', () => {
    const seed = new Uint8Array(32).fill(0xff);
    const msg = Uint8Array.of(9, 8, 7);
    const random = new Uint8Array(64).fill(1);
    const publicKey = crypto.x25519PublicKey(seed);
    const signature = crypto.xeddsaSign(seed, msg, random);
    const copies = [seed, msg, random, publicKey, signature].map((b) => Uint8Array.from(b));
    crypto.xeddsaVerify(publicKey, msg, signature);
    crypto.xeddsaSign(seed, msg, random);
    expect([seed, msg, random, publicKey, signature]).toEqual(copies);
  });

  it('refuses malformed arguments with ERR_INVALID_ARGUMENT but a wrong-length signature with false', () => {
    const publicKey = fromHex(vector.publicKey);
    expect(() => crypto.xeddsaSign(new Uint8Array(31), new Uint8Array(1), new Uint8Array(64))).toThrow(
      /"privateKey" expected 32 bytes, got 31/,
    );
    expect(() => crypto.xeddsaSign(new Uint8Array(32), new Uint8Array(1), new Uint8Array(32))).toThrow(
      /"random" expected 64 bytes, got 32/,
    );
    expect(() => crypto.xeddsaVerify(new Uint8Array(33), new Uint8Array(1), new Uint8Array(64))).toThrow(
      /"publicKey" expected 32 bytes, got 33/,
    );
    for (const length of [0, 63, 65, 128]) {
      expect(crypto.xeddsaVerify(publicKey, fromHex(vector.message), new Uint8Array(length))).toBe(false);
    }
  });

  it('accepts s + ℓ as libsignal does (it reduces s) but refuses s with any of the bits 253–255 set', () => {
    const signature = fromHex(vector.signature);
    const signBit = signature[63]! & 0x80;
    const sBytes = signature.slice(32);
    sBytes[31]! &= 0x7f;
    const s = bytesToNumberLE(sBytes);
    const publicKey = fromHex(vector.publicKey);
    const msg = fromHex(vector.message);
    const withS = (value: bigint) => {
      const out = concatBytes(signature.subarray(0, 32), numberToBytesLE32(value));
      out[63]! |= signBit;
      return out;
    };
    expect(crypto.xeddsaVerify(publicKey, msg, withS(s + ED25519_ORDER))).toBe(true);
    expect(lscPublic(publicKey).verify(Buffer.from(msg), Buffer.from(withS(s + ED25519_ORDER)))).toBe(true);
    // s + 2^253 is the same scalar mod 2^253 only in the clear bits: libsignal refuses it outright.
    for (const high of [1n << 253n, 1n << 254n]) {
      expect(crypto.xeddsaVerify(publicKey, msg, withS(s + high))).toBe(false);
      expect(lscPublic(publicKey).verify(Buffer.from(msg), Buffer.from(withS(s + high)))).toBe(false);
    }
  });

  it('uses the cofactorless equation on a key with a torsion component, exactly as libsignal', () => {
    // A = aB + T8: valid XEdDSA signatures exist only when h·T8 vanishes (h ≡ 0 mod 8).
    const a = 0x1234_5678_9abc_def0_1234_5678n;
    const torsion = Point.fromBytes(fromHex(ED25519_TORSION_SUBGROUP[1]!));
    const aPoint = Point.BASE.multiply(a).add(torsion);
    const aBytes = aPoint.toBytes();
    const u = edwardsToMontgomery(aPoint);
    const msg = Uint8Array.of(42);
    let accepted = 0;
    let refused = 0;
    for (let i = 1; i <= 48; i++) {
      const r = BigInt(i) * 1_000_003n;
      const rBytes = Point.BASE.multiply(r).toBytes();
      const s = (r + challenge(rBytes, aBytes, msg) * a) % ED25519_ORDER;
      const signature = concatBytes(rBytes, numberToBytesLE32(s));
      signature[63]! |= aBytes[31]! & 0x80;
      const expected = lscPublic(u).verify(Buffer.from(msg), Buffer.from(signature));
      expect(crypto.xeddsaVerify(u, msg, signature)).toBe(expected);
      if (expected) accepted++;
      else refused++;
    }
    // Both branches must have been exercised for the comparison to mean anything.
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('matches libsignal on degenerate public keys u = 0, 1, p − 1 and non-canonical u', () => {
    const msg = Uint8Array.of(1);
    const candidates = [
      new Uint8Array(32),
      numberToBytesLE32(1n),
      numberToBytesLE32(P - 1n),
      numberToBytesLE32(P),
      numberToBytesLE32(P + 1n),
      Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? 0xff : 0xaa)),
    ];
    let agreedTrue = 0;
    for (const u of candidates) {
      for (let i = 1; i <= 8; i++) {
        // s = r, so R = sB − hA holds whenever hA is the identity (A of small order, h a multiple of it).
        const r = BigInt(i) * 7919n;
        const rBytes = Point.BASE.multiply(r).toBytes();
        for (const signBit of [0, 0x80]) {
          const signature = concatBytes(rBytes, numberToBytesLE32(r));
          signature[63]! |= signBit;
          const expected = lscPublic(u).verify(Buffer.from(msg), Buffer.from(signature));
          expect(crypto.xeddsaVerify(u, msg, signature)).toBe(expected);
          if (expected) agreedTrue++;
        }
      }
    }
    expect(agreedTrue).toBeGreaterThan(0);
  });
});

describe('XEdDSA interop with libsignal-client 0.23.1', () => {
  it.each(providers)('our $name signatures verify with its PublicKey.verify', (crypto) => {
    fc.assert(
      fc.property(bytes32, message, bytes64, (seed, msg, random) => {
        const privateKey = clampPrivateKey(seed);
        const signature = crypto.xeddsaSign(privateKey, msg, random);
        const peerPublic = lsc.PrivateKey.deserialize(Buffer.from(privateKey)).getPublicKey();
        expect(new Uint8Array(peerPublic.getPublicKeyBytes())).toEqual(crypto.x25519PublicKey(privateKey));
        expect(peerPublic.verify(Buffer.from(msg), Buffer.from(signature))).toBe(true);
        const flipped = Uint8Array.from(signature);
        flipped[random[0]! & 63]! ^= 1 << (random[1]! & 7);
        expect(peerPublic.verify(Buffer.from(msg), Buffer.from(flipped))).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it.each(providers)('its PrivateKey.sign signatures verify with our $name provider', (crypto) => {
    fc.assert(
      fc.property(message, (msg) => {
        const peer = lsc.PrivateKey.generate();
        const signature = new Uint8Array(peer.sign(Buffer.from(msg)));
        const publicKey = new Uint8Array(peer.getPublicKey().getPublicKeyBytes());
        expect(crypto.xeddsaVerify(publicKey, msg, signature)).toBe(true);
        const flipped = Uint8Array.from(signature);
        flipped[msg.length % 64]! ^= 0x04;
        expect(crypto.xeddsaVerify(publicKey, msg, flipped)).toBe(false);
      }),
      { numRuns: 40 },
    );
  });
});

describe('montgomeryToEdwards', () => {
  it('gives the Edwards public key of the same clamped scalar, with the requested sign', () => {
    fc.assert(
      fc.property(bytes32, (seed) => {
        const scalar = bytesToNumberLE(clampPrivateKey(seed)) % ED25519_ORDER;
        const edwards = Point.BASE.multiply(scalar).toBytes();
        const u = portable.x25519PublicKey(seed);
        expect(montgomeryToEdwards(u, edwards[31]! >> 7)).toEqual(edwards);
        const flipped = Uint8Array.from(edwards);
        flipped[31]! ^= 0x80;
        expect(montgomeryToEdwards(u, (edwards[31]! >> 7) ^ 1)).toEqual(flipped);
      }),
      { numRuns: 30 },
    );
  });

  it('has no point for u ≡ −1 and leaves the sign of (0, −1) clear for u ≡ 0', () => {
    expect(montgomeryToEdwards(numberToBytesLE32(P - 1n), 0)).toBeUndefined();
    expect(montgomeryToEdwards(numberToBytesLE32(P - 1n), 1)).toBeUndefined();
    expect(montgomeryToEdwards(new Uint8Array(32), 1)).toEqual(numberToBytesLE32(P - 1n));
    expect(montgomeryToEdwards(numberToBytesLE32(P), 1)).toEqual(numberToBytesLE32(P - 1n));
  });
});
