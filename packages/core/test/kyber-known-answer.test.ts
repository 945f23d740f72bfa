/**
 * NIST's round-3 CRYSTALS-Kyber-1024 known answers (`test/vectors/kyber`, entries 0 and 1 of
 * `PQCkemKAT_3168.rsp`; see SOURCES.md): with the encapsulation randomness the reference
 * generator draws from its AES-256-CTR DRBG, encapsulating to the KAT's public key gives the
 * KAT's ciphertext and shared secret, and decapsulating the KAT's ciphertext with its secret key
 * gives the same secret. This pins the round-3 derivation (SHA3-256 of the random m, then
 * SHAKE-256(k ‖ H(c))) that libsignal uses and FIPS-203 ML-KEM does not. Key generation is
 * FIPS 203's seed expansion (see kyber1024.ts), so the KAT's key pair is used as given.
 */
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/bytes.js';
import { KYBER_KEY_TYPE, kyberDecapsulate, kyberEncapsulate } from '../src/kyber/kyber1024.js';
import { VECTORS_DIR } from './support/vectors.js';

interface KatEntry {
  readonly count: number;
  readonly seed: Uint8Array;
  readonly pk: Uint8Array;
  readonly sk: Uint8Array;
  readonly ct: Uint8Array;
  readonly ss: Uint8Array;
}

function readKat(): KatEntry[] {
  const text = readFileSync(`${VECTORS_DIR}kyber/PQCkemKAT_3168.count0-1.rsp`, 'utf8');
  return text
    .split(/\n\s*\n/)
    .map((block) =>
      Object.fromEntries([...block.matchAll(/^(\w+) = ([0-9A-Fa-f]+)$/gm)].map((m) => [m[1], m[2]])),
    )
    .filter((fields) => fields.count !== undefined)
    .map((fields) => ({
      count: Number(fields.count),
      seed: fromHex(fields.seed!),
      pk: fromHex(fields.pk!),
      sk: fromHex(fields.sk!),
      ct: fromHex(fields.ct!),
      ss: fromHex(fields.ss!),
    }));
}

/** NIST's AES-256-CTR DRBG (`rng.c` of the PQC submission packages), without personalization. */
class NistDrbg {
  private key = new Uint8Array(32);
  private v = new Uint8Array(16);

  constructor(entropy: Uint8Array) {
    this.update(entropy);
  }

  randomBytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += 16) {
      this.increment();
      out.set(this.block().subarray(0, Math.min(16, length - offset)), offset);
    }
    this.update(undefined);
    return out;
  }

  private update(provided: Uint8Array | undefined): void {
    const temp = new Uint8Array(48);
    for (let i = 0; i < 3; i++) {
      this.increment();
      temp.set(this.block(), i * 16);
    }
    if (provided) for (let i = 0; i < 48; i++) temp[i]! ^= provided[i]!;
    this.key = temp.slice(0, 32);
    this.v = temp.slice(32, 48);
  }

  private increment(): void {
    for (let i = 15; i >= 0; i--) {
      this.v[i] = (this.v[i]! + 1) & 0xff;
      if (this.v[i] !== 0) break;
    }
  }

  private block(): Uint8Array {
    const cipher = createCipheriv('aes-256-ecb', this.key, null).setAutoPadding(false);
    return new Uint8Array(Buffer.concat([cipher.update(this.v), cipher.final()]));
  }
}

const serialized = (raw: Uint8Array) => Uint8Array.of(KYBER_KEY_TYPE, ...raw);
const entries = readKat();

describe('Kyber-1024 round 3: NIST known answers', () => {
  it('the vector file has the two entries SOURCES.md names', () => {
    expect(entries.map((entry) => entry.count)).toEqual([0, 1]);
  });

  for (const entry of entries) {
    it(`count ${entry.count}: encapsulation with the KAT's randomness gives its ciphertext and secret`, () => {
      const drbg = new NistDrbg(entry.seed);
      // crypto_kem_keypair draws 32 bytes (the CPA seed) and 32 more (z); encapsulation 32.
      drbg.randomBytes(32);
      drbg.randomBytes(32);
      const m = drbg.randomBytes(32);
      const { ciphertext, sharedSecret } = kyberEncapsulate(serialized(entry.pk), (length) => {
        expect(length).toBe(32);
        return m.slice();
      });
      expect(toHex(ciphertext.subarray(1))).toBe(toHex(entry.ct));
      expect(toHex(sharedSecret)).toBe(toHex(entry.ss));
    });

    it(`count ${entry.count}: decapsulating its ciphertext with its secret key gives its secret`, () => {
      expect(toHex(kyberDecapsulate(serialized(entry.sk), serialized(entry.ct)))).toBe(toHex(entry.ss));
    });
  }
});
