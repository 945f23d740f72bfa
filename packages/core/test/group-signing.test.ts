/**
 * Group signing keys are Ed25519 seeds whose signatures XEdDSA verifiers accept (see
 * src/groups/sender-signing-key.ts). Checked here against both providers and libsignal's own
 * XEdDSA verifier; the interop tests check the same with libsignal-client and Baileys as
 * receivers of real group messages.
 */
import fc from 'fast-check';
import * as lsc0103 from 'lsc-0-103';
import { describe, expect, it } from 'vitest';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { edwardsToMontgomery, montgomeryToEdwards } from '../src/crypto/xeddsa.js';
import {
  generateSenderSigningKey,
  senderSigningKeyFromSeed,
  signWithSenderKey,
} from '../src/groups/sender-signing-key.js';
import { generateKeyPair, verifySignature } from '../src/keys/curve.js';
import { testCrypto } from './support/parties.js';
import { expectCode } from './support/wire.js';

const node = testCrypto('node');
const portable = createPortableCrypto();
const lsc = lsc0103 as unknown as {
  PublicKey: { deserialize(bytes: Buffer): { verify(message: Buffer, signature: Buffer): boolean } };
};

describe('sender signing keys', () => {
  it('both providers derive the same key and the same (deterministic) signature, which verifies as XEdDSA', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 300 }),
        (seed, message) => {
          const a = senderSigningKeyFromSeed({ crypto: node }, seed);
          const b = senderSigningKeyFromSeed({ crypto: portable }, seed);
          expect(a.publicKey).toEqual(b.publicKey);
          const signature = signWithSenderKey({ crypto: node }, a, message);
          expect(signWithSenderKey({ crypto: portable }, b, message)).toEqual(signature);
          expect(verifySignature(node, a.publicKey, message, signature)).toBe(true);
          expect(verifySignature(portable, a.publicKey, message, signature)).toBe(true);
          expect(
            lsc.PublicKey.deserialize(Buffer.from(a.publicKey)).verify(
              Buffer.from(message),
              Buffer.from(signature),
            ),
          ).toBe(true);
          // Without the sign bit in byte 63 the verifier rebuilds the other point: refused
          // whenever the bit is set.
          if (a.signBit) {
            const unmarked = signature.slice();
            unmarked[63]! &= 0x7f;
            expect(verifySignature(node, a.publicKey, message, unmarked)).toBe(false);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('Edwards → Montgomery is the inverse of the verifier’s Montgomery → Edwards', () => {
    const random = createDeterministicRandom('points');
    for (let i = 0; i < 40; i++) {
      const edwards = node.ed25519PublicKey(random(32));
      const u = edwardsToMontgomery(edwards)!;
      expect(montgomeryToEdwards(u, edwards[31]! >> 7)).toEqual(edwards);
      // And it agrees with X25519 on a key pair made the Curve25519 way.
      const pair = generateKeyPair({ crypto: node, random });
      const back = montgomeryToEdwards(pair.publicKey.subarray(1), 0)!;
      expect(edwardsToMontgomery(back)).toEqual(pair.publicKey.subarray(1));
    }
    const identity = new Uint8Array(32);
    identity[0] = 1;
    expect(edwardsToMontgomery(identity)).toBeUndefined();
  });

  it('a changed message or signature does not verify; bad seeds are refused', () => {
    const key = generateSenderSigningKey({ crypto: node, random: createDeterministicRandom('k') });
    const message = new TextEncoder().encode('group message');
    const signature = signWithSenderKey({ crypto: node }, key, message);
    for (const bit of [0, 77, 255, 256, 400, 504]) {
      const flipped = signature.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(verifySignature(node, key.publicKey, message, flipped)).toBe(false);
    }
    expect(verifySignature(node, key.publicKey, Uint8Array.of(1), signature)).toBe(false);
    for (const crypto of [node, portable]) {
      expectCode(() => crypto.ed25519Sign(new Uint8Array(31), message), 'ERR_INVALID_ARGUMENT');
      expectCode(() => crypto.ed25519PublicKey(new Uint8Array(33)), 'ERR_INVALID_ARGUMENT');
    }
  });
});
