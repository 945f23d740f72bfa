/**
 * The node provider remembers imported private keys by content and XEdDSA keys converted to
 * Edwards form. Those caches must never change an answer: the same key in a new array, an
 * array reused for another key, and a signature re-checked with its sign bit flipped or its
 * bytes mutated all give what the portable provider gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';

const portable = createPortableCrypto();

describe('node provider key caches', () => {
  it('x25519 with a private key seen before in another array, or an array reused for another key', () => {
    const node = createNodeCrypto();
    const random = createDeterministicRandom('node key caches');
    const peer = node.x25519PublicKey(random(32));
    for (let i = 0; i < 20; i++) {
      const a = random(32);
      const b = random(32);
      const array = Uint8Array.from(a);
      expect(node.x25519(array, peer)).toEqual(portable.x25519(a, peer));
      // Same content, new array: found by content.
      expect(node.x25519(Uint8Array.from(a), peer)).toEqual(portable.x25519(a, peer));
      expect(node.x25519PublicKey(Uint8Array.from(a))).toEqual(portable.x25519PublicKey(a));
      // Same array, new content: never the old key.
      array.set(b);
      expect(node.x25519(array, peer)).toEqual(portable.x25519(b, peer));
      expect(node.x25519PublicKey(array)).toEqual(portable.x25519PublicKey(b));
    }
  });

  it('Ed25519 signing seeds and X25519 keys with the same bytes stay apart', () => {
    const node = createNodeCrypto();
    const seed = createDeterministicRandom('same bytes')(32);
    const message = new Uint8Array([1, 2, 3]);
    const x = node.x25519PublicKey(Uint8Array.from(seed));
    const ed = node.ed25519PublicKey(Uint8Array.from(seed));
    expect(x).toEqual(portable.x25519PublicKey(seed));
    expect(ed).toEqual(portable.ed25519PublicKey(seed));
    expect(node.ed25519Sign(Uint8Array.from(seed), message)).toEqual(portable.ed25519Sign(seed, message));
  });

  it('xeddsaVerify of one identity key, repeated with mutated signatures and flipped sign bits', () => {
    const node = createNodeCrypto();
    const random = createDeterministicRandom('xeddsa cache');
    const keys = Array.from({ length: 3 }, () => random(32));
    const publics = keys.map((k) => portable.x25519PublicKey(k));
    fc.assert(
      fc.property(
        fc.nat(2),
        fc.uint8Array({ maxLength: 40 }),
        fc.oneof(fc.constant(-1), fc.nat(63), fc.constant(63)),
        fc.nat(7),
        (which, message, position, bit) => {
          const signature = portable.xeddsaSign(keys[which]!, message, random(64));
          if (position >= 0) signature[position]! ^= 1 << bit;
          const expected = portable.xeddsaVerify(publics[which]!, message, signature);
          expect(node.xeddsaVerify(publics[which]!, message, signature)).toBe(expected);
          if (position < 0) expect(expected).toBe(true);
        },
      ),
      { numRuns: 120 },
    );
  });
});
