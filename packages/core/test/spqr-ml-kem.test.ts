/**
 * The incremental ML-KEM-768 layer SPQR needs (header / key part, ct1 / ct2), checked against
 * two one-shot ML-KEM-768 implementations: @noble/post-quantum (whose key generation and
 * decapsulation we use) and the independent `mlkem` package. No ML-KEM-768 known-answer file
 * ships as data in an npm package we could find, so the cross-checks carry the weight here;
 * libsignal 0.103.0 (libcrux) confirms the same bytes on the wire in the interop tests.
 */
import { sha3_256 } from '@noble/hashes/sha3.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { MlKem768 } from 'mlkem';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import {
  CIPHERTEXT1_LENGTH,
  CIPHERTEXT2_LENGTH,
  decapsulate,
  ENCAPSULATION_KEY_LENGTH,
  encapsulate1,
  encapsulate2,
  encapsulationKeyMatchesHeader,
  generateKeys,
  HEADER_LENGTH,
} from '../src/spqr/incremental-ml-kem.js';

const random = createDeterministicRandom('incremental ml-kem');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fullKey = (ek: Uint8Array, header: Uint8Array) => new Uint8Array([...ek, ...header.subarray(0, 32)]);

describe('incremental ML-KEM-768', () => {
  it('encapsulate1 + encapsulate2 equal one-shot encapsulation in noble and in mlkem, both ways', async () => {
    const peer = new MlKem768();
    for (let round = 0; round < 12; round++) {
      const keys = generateKeys(random(64));
      expect(keys.header).toHaveLength(HEADER_LENGTH);
      expect(keys.encapsulationKey).toHaveLength(ENCAPSULATION_KEY_LENGTH);
      const ek = fullKey(keys.encapsulationKey, keys.header);
      expect(hex(keys.header.subarray(32))).toBe(hex(sha3_256(ek)));
      const m = random(32);
      const first = encapsulate1(keys.header, m);
      expect(first.ciphertext1).toHaveLength(CIPHERTEXT1_LENGTH);
      const ciphertext2 = encapsulate2(first.state, keys.encapsulationKey);
      expect(ciphertext2).toHaveLength(CIPHERTEXT2_LENGTH);
      const ciphertext = new Uint8Array([...first.ciphertext1, ...ciphertext2]);

      const noble = ml_kem768.encapsulate(ek, m);
      expect(hex(ciphertext)).toBe(hex(noble.cipherText));
      expect(hex(first.sharedSecret)).toBe(hex(noble.sharedSecret));
      const [peerCiphertext, peerSecret] = await peer.encap(ek, m);
      expect(hex(ciphertext)).toBe(hex(peerCiphertext));
      expect(hex(first.sharedSecret)).toBe(hex(peerSecret));

      expect(hex(decapsulate(keys.decapsulationKey, first.ciphertext1, ciphertext2))).toBe(
        hex(first.sharedSecret),
      );
      expect(hex(await peer.decap(ciphertext, keys.decapsulationKey))).toBe(hex(first.sharedSecret));
    }
  });

  it('keys made by the independent implementation work with our halves', async () => {
    const peer = new MlKem768();
    for (let round = 0; round < 4; round++) {
      const seed = random(64);
      const [ek, dk] = await peer.deriveKeyPair(seed);
      // The same seed gives the same keys in both implementations (FIPS 203 KeyGen_internal).
      const ours = generateKeys(seed);
      expect(hex(fullKey(ours.encapsulationKey, ours.header))).toBe(hex(ek));
      expect(hex(ours.decapsulationKey)).toBe(hex(dk));
      const header = new Uint8Array([...ek.subarray(ENCAPSULATION_KEY_LENGTH), ...sha3_256(ek)]);
      const first = encapsulate1(header, random(32));
      const ciphertext2 = encapsulate2(first.state, ek.subarray(0, ENCAPSULATION_KEY_LENGTH));
      const secret = await peer.decap(new Uint8Array([...first.ciphertext1, ...ciphertext2]), dk);
      expect(hex(secret)).toBe(hex(first.sharedSecret));
    }
  });

  it('a key part is checked against its header: hash and modulus', () => {
    const keys = generateKeys(random(64));
    expect(encapsulationKeyMatchesHeader(keys.encapsulationKey, keys.header)).toBe(true);
    const other = generateKeys(random(64));
    expect(encapsulationKeyMatchesHeader(other.encapsulationKey, keys.header)).toBe(false);
    for (const index of [0, 100, ENCAPSULATION_KEY_LENGTH - 1]) {
      const flipped = keys.encapsulationKey.slice();
      flipped[index]! ^= 1;
      expect(encapsulationKeyMatchesHeader(flipped, keys.header)).toBe(false);
    }
    const header = keys.header.slice();
    header[5]! ^= 0x80;
    expect(encapsulationKeyMatchesHeader(keys.encapsulationKey, header)).toBe(false);
    // A coefficient of q (3329 = 0xd01) with a header hashing to it: only the modulus check refuses it.
    const outOfRange = keys.encapsulationKey.slice();
    outOfRange[0] = 0x01;
    outOfRange[1] = (outOfRange[1]! & 0xf0) | 0x0d;
    const rho = keys.header.subarray(0, 32);
    const forged = new Uint8Array([...rho, ...sha3_256(new Uint8Array([...outOfRange, ...rho]))]);
    expect(encapsulationKeyMatchesHeader(outOfRange, forged)).toBe(false);
    expect(encapsulationKeyMatchesHeader(keys.encapsulationKey.subarray(1), keys.header)).toBe(false);
  });

  it('a tampered ciphertext decapsulates to an unrelated key (implicit rejection), never throws', () => {
    const keys = generateKeys(random(64));
    const first = encapsulate1(keys.header, random(32));
    const ciphertext2 = encapsulate2(first.state, keys.encapsulationKey);
    const tampered = ciphertext2.slice();
    tampered[0]! ^= 1;
    const secret = decapsulate(keys.decapsulationKey, first.ciphertext1, tampered);
    expect(secret).toHaveLength(32);
    expect(hex(secret)).not.toBe(hex(first.sharedSecret));
  });
});
