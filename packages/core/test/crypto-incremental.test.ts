/**
 * The incremental primitives (SHA-256, HMAC-SHA256, AES-256-CBC both ways) in both providers:
 * any chunking of the input gives exactly the one-shot bytes, the two providers agree, and
 * misuse and bad ciphertext are typed errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex } from '../src/bytes.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import type { CryptoProvider, IncrementalCipher, IncrementalHash } from '../src/crypto/provider.js';
import { isParleyError } from '../src/errors.js';
import { readVectorJson } from './support/vectors.js';

const providers: readonly CryptoProvider[] = [createPortableCrypto(), createNodeCrypto()];
const RUNS = { numRuns: 120 };

/** Splits `data` at the given cut points (sorted, deduplicated, clamped). */
function split(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, data.length]) {
    parts.push(data.subarray(start, point));
    start = point;
  }
  return parts;
}

function feedHash(hash: IncrementalHash, parts: readonly Uint8Array[]): Uint8Array {
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function feedCipher(cipher: IncrementalCipher, parts: readonly Uint8Array[]): Uint8Array {
  const out = parts.map((part) => cipher.update(part).slice());
  return concatBytes(...out, cipher.final());
}

function code(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (!isParleyError(error)) throw error;
    return error.code;
  }
}

const data = fc.uint8Array({ minLength: 0, maxLength: 300 });
const cuts = fc.array(fc.nat(400), { maxLength: 8 });
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const iv16 = fc.uint8Array({ minLength: 16, maxLength: 16 });

describe.each(providers.map((p) => [p.name, p] as const))(
  '%s provider: incremental primitives',
  (_, crypto) => {
    it('SHA-256 and HMAC-SHA256 in any chunking equal the one-shot digests', () => {
      fc.assert(
        fc.property(data, cuts, key32, (input, at, key) => {
          const before = input.slice();
          expect(feedHash(crypto.createSha256(), split(input, at))).toEqual(crypto.sha256(input));
          expect(feedHash(crypto.createHmacSha256(key), split(input, at))).toEqual(
            crypto.hmacSha256(key, input),
          );
          expect(input).toEqual(before);
        }),
        RUNS,
      );
    });

    it('AES-256-CBC encrypt and decrypt in any chunking equal the one-shot bytes', () => {
      fc.assert(
        fc.property(data, cuts, cuts, key32, iv16, (plaintext, at, at2, key, iv) => {
          const expected = crypto.aes256CbcEncrypt(key, iv, plaintext);
          const ciphertext = feedCipher(crypto.createAes256CbcEncryptor(key, iv), split(plaintext, at));
          expect(ciphertext).toEqual(expected);
          const copy = ciphertext.slice();
          expect(feedCipher(crypto.createAes256CbcDecryptor(key, iv), split(ciphertext, at2))).toEqual(
            plaintext,
          );
          expect(ciphertext).toEqual(copy);
        }),
        RUNS,
      );
    });

    it('AES-256-GMAC in any chunking equals the tag of one-shot AES-256-GCM over an empty plaintext', () => {
      fc.assert(
        fc.property(
          data,
          cuts,
          key32,
          fc.uint8Array({ minLength: 12, maxLength: 12 }),
          (aad, at, key, nonce) => {
            const expected = crypto.aes256GcmEncrypt(key, nonce, new Uint8Array(0), aad);
            expect(feedHash(crypto.createAes256Gmac(key, nonce), split(aad, at))).toEqual(expected);
          },
        ),
        RUNS,
      );
    });

    it('AES-256-GMAC matches the empty-message AES-256-GCM vectors of Wycheproof', () => {
      const suite = readVectorJson<{
        testGroups: {
          keySize: number;
          ivSize: number;
          tests: { key: string; iv: string; aad: string; msg: string; tag: string; result: string }[];
        }[];
      }>('wycheproof/aes_gcm_test.json');
      const vectors = suite.testGroups
        .filter((g) => g.keySize === 256 && g.ivSize === 96)
        .flatMap((g) => g.tests)
        .filter((t) => t.msg === '' && t.result === 'valid');
      expect(vectors.length).toBeGreaterThanOrEqual(2);
      for (const t of vectors) {
        const aad = fromHex(t.aad);
        const mac = crypto.createAes256Gmac(fromHex(t.key), fromHex(t.iv));
        for (const part of split(aad, [1, 5, 17])) mac.update(part);
        expect(mac.digest()).toEqual(fromHex(t.tag));
      }
    });

    it('the decryptor holds back the last block until final', () => {
      const key = new Uint8Array(32).fill(7);
      const iv = new Uint8Array(16).fill(9);
      const ciphertext = crypto.aes256CbcEncrypt(key, iv, new Uint8Array(40).fill(1));
      const decryptor = crypto.createAes256CbcDecryptor(key, iv);
      const early = decryptor.update(ciphertext);
      expect(early.length).toBeLessThan(40);
      expect(concatBytes(early, decryptor.final())).toEqual(new Uint8Array(40).fill(1));
    });

    it('refuses bad padding, a partial block and empty input at final with ERR_DECRYPTION_FAILED', () => {
      const key = new Uint8Array(32).fill(3);
      const iv = new Uint8Array(16).fill(4);
      const good = crypto.aes256CbcEncrypt(key, iv, new Uint8Array(20).fill(0x41));
      const cases: Uint8Array[] = [
        new Uint8Array(0),
        good.subarray(0, good.length - 1),
        good.subarray(0, 16),
        crypto.aes256CbcEncrypt(key, iv, new Uint8Array(32)).subarray(0, 32),
      ];
      for (const ciphertext of cases) {
        const decryptor = crypto.createAes256CbcDecryptor(key, iv);
        expect(
          code(() => {
            decryptor.update(ciphertext);
            decryptor.final();
          }),
        ).toBe('ERR_DECRYPTION_FAILED');
      }
    });

    it('refuses use after the end and malformed arguments with ERR_INVALID_ARGUMENT', () => {
      const key = new Uint8Array(32);
      const iv = new Uint8Array(16);
      const hash = crypto.createSha256();
      hash.digest();
      expect(code(() => hash.update(new Uint8Array(1)))).toBe('ERR_INVALID_ARGUMENT');
      expect(code(() => hash.digest())).toBe('ERR_INVALID_ARGUMENT');
      const mac = crypto.createHmacSha256(key);
      expect(code(() => mac.update('text' as unknown as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
      const encryptor = crypto.createAes256CbcEncryptor(key, iv);
      encryptor.final();
      expect(code(() => encryptor.update(new Uint8Array(16)))).toBe('ERR_INVALID_ARGUMENT');
      expect(code(() => encryptor.final())).toBe('ERR_INVALID_ARGUMENT');
      expect(code(() => crypto.createAes256CbcEncryptor(new Uint8Array(16), iv))).toBe(
        'ERR_INVALID_ARGUMENT',
      );
      expect(code(() => crypto.createAes256CbcDecryptor(key, new Uint8Array(12)))).toBe(
        'ERR_INVALID_ARGUMENT',
      );
      expect(code(() => crypto.createHmacSha256(null as unknown as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
      expect(code(() => crypto.createAes256Gmac(key, new Uint8Array(16)))).toBe('ERR_INVALID_ARGUMENT');
      const gmac = crypto.createAes256Gmac(key, new Uint8Array(12));
      gmac.digest();
      expect(code(() => gmac.update(new Uint8Array(1)))).toBe('ERR_INVALID_ARGUMENT');
    });

    it('keeps its own copy of the key and IV', () => {
      const key = new Uint8Array(32).fill(1);
      const iv = new Uint8Array(16).fill(2);
      const plaintext = new Uint8Array(50).fill(3);
      const expected = crypto.aes256CbcEncrypt(key.slice(), iv.slice(), plaintext);
      const encryptor = crypto.createAes256CbcEncryptor(key, iv);
      const first = encryptor.update(plaintext.subarray(0, 20)).slice();
      key.fill(0);
      iv.fill(0);
      expect(concatBytes(first, encryptor.update(plaintext.subarray(20)), encryptor.final())).toEqual(
        expected,
      );
    });
  },
);

describe('portable and node incremental primitives agree', () => {
  it('on the concatenated output for the same input and chunking', () => {
    fc.assert(
      fc.property(data, cuts, key32, iv16, (input, at, key, iv) => {
        const [a, b] = providers.map((crypto) => ({
          sha: feedHash(crypto.createSha256(), split(input, at)),
          mac: feedHash(crypto.createHmacSha256(key), split(input, at)),
          cbc: feedCipher(crypto.createAes256CbcEncryptor(key, iv), split(input, at)),
          gmac: feedHash(crypto.createAes256Gmac(key, iv.subarray(0, 12)), split(input, at)),
        }));
        expect(b).toEqual(a);
      }),
      RUNS,
    );
  });
});
