/**
 * Kyber public keys are kept expanded (noble's `prepare`) between operations. Whatever the
 * cache holds, every encapsulation and decapsulation must equal the unprepared computation:
 * a key used again and again, more keys than the cache keeps, keys sharing their first bytes.
 */
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { generateKyberKeyPair, kyberDecapsulate, kyberEncapsulate } from '../src/kyber/kyber1024.js';

/** Round 3 from the unprepared ML-KEM calls, as kyber1024.ts documents it. */
function unpreparedEncapsulate(publicKey: Uint8Array, entropy: Uint8Array) {
  const { cipherText, sharedSecret } = ml_kem1024.encapsulate(publicKey.subarray(1), sha3_256(entropy));
  return {
    ciphertext: Uint8Array.of(0x08, ...cipherText),
    sharedSecret: shake256.create({ dkLen: 32 }).update(sharedSecret).update(sha3_256(cipherText)).digest(),
  };
}

describe('prepared Kyber keys', () => {
  it('give the unprepared results for repeated keys and more keys than the cache keeps', () => {
    const random = createDeterministicRandom('prepared kyber');
    const keys = Array.from({ length: 20 }, () => generateKyberKeyPair(random));
    // Round robin over 20 keys (beyond the 16 kept), each used several times.
    for (let round = 0; round < 3; round++) {
      for (const key of keys) {
        const entropy = createDeterministicRandom(`e${round}`)(32);
        const ours = kyberEncapsulate(key.publicKey, () => entropy.slice());
        expect(ours).toEqual(unpreparedEncapsulate(key.publicKey, entropy));
        expect(kyberDecapsulate(key.secretKey, ours.ciphertext)).toEqual(ours.sharedSecret);
        const direct = ml_kem1024.decapsulate(ours.ciphertext.subarray(1), key.secretKey.subarray(1));
        expect(
          shake256
            .create({ dkLen: 32 })
            .update(direct)
            .update(sha3_256(ours.ciphertext.subarray(1)))
            .digest(),
        ).toEqual(ours.sharedSecret);
      }
    }
  });

  it('tells apart keys with the same first bytes, and refuses a secret key that does not embed its own', () => {
    const random = createDeterministicRandom('same prefix');
    const key = generateKyberKeyPair(random);
    const ciphertext = kyberEncapsulate(key.publicKey, random).ciphertext;
    // Same first bytes, another tail: a different (invalid) public key.
    const twin = key.publicKey.slice();
    twin[twin.length - 1]! ^= 1;
    const entropy = random(32);
    expect(kyberEncapsulate(twin, () => entropy.slice())).toEqual(unpreparedEncapsulate(twin, entropy));
    // The cached original still serves the original key.
    expect(kyberDecapsulate(key.secretKey, ciphertext)).toEqual(
      kyberDecapsulate(key.secretKey.slice(), ciphertext),
    );
    // A secret key whose embedded ek differs at the end, with the stored hash left as it was.
    const corrupt = key.secretKey.slice();
    corrupt[1 + 1536 + 1567]! ^= 1;
    expect(() => kyberDecapsulate(corrupt, ciphertext)).toThrow(
      expect.toSatisfy((e) => isParleyError(e, 'ERR_INVALID_KEY')),
    );
  });
});
