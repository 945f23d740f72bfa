/**
 * Wycheproof known-answer tests (C2SP/wycheproof, copied unmodified into test/vectors; see
 * test/vectors/SOURCES.md), run against BOTH providers.
 */
import { describe, expect, it } from 'vitest';
import { fromHex } from '../src/bytes.js';
import { constantTimeEqual } from '../src/crypto/constant-time.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { isParleyError } from '../src/errors.js';
import { readVectorJson } from './support/vectors.js';

interface Suite<T> {
  numberOfTests: number;
  testGroups: Array<
    Record<string, unknown> & {
      tests: Array<T & { tcId: number; comment: string; flags: string[]; result: string }>;
    }
  >;
}

function load<T>(name: string): Suite<T> {
  return readVectorJson<Suite<T>>(`wycheproof/${name}`);
}

const providers: CryptoProvider[] = [createPortableCrypto(), createNodeCrypto()];

function expectCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isParleyError(caught), `expected a ParleyError ${code}, got ${String(caught)}`).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
}

const label = (t: { tcId: number; comment: string; flags: string[]; result: string }) =>
  `tc ${t.tcId} ${t.result} [${t.flags.join(',')}] ${t.comment}`;

describe.each(providers)('$name provider', (crypto) => {
  describe('X25519 (x25519_test.json)', () => {
    const suite = load<{ public: string; private: string; shared: string }>('x25519_test.json');
    const tests = suite.testGroups.flatMap((g) => g.tests);

    it('covers every vector in the file', () => {
      expect(tests.length).toBe(suite.numberOfTests);
    });

    // "acceptable" in Wycheproof means an implementation may go either way. Parley's rule:
    // a result of all zeros (low-order public key, flag ZeroSharedSecret) is refused with
    // ERR_INVALID_KEY; every other acceptable case (twist points, non-canonical u ≥ p, a set
    // top bit) is computed as RFC 7748 says — top bit masked, u reduced mod p — which is what
    // libsignal (x25519-dalek) does too.
    it.each(tests.map((t) => [label(t), t] as const))('%s', (_, t) => {
      const privateKey = fromHex(t.private);
      const publicKey = fromHex(t.public);
      const refused = t.result === 'invalid' || t.flags.includes('ZeroSharedSecret');
      if (refused) {
        expect(t.shared === '' || /^0+$/.test(t.shared)).toBe(true);
        expectCode(() => crypto.x25519(privateKey, publicKey), 'ERR_INVALID_KEY');
      } else {
        expect(crypto.x25519(privateKey, publicKey)).toEqual(fromHex(t.shared));
      }
    });
  });

  describe('HMAC-SHA256 (hmac_sha256_test.json)', () => {
    const suite = load<{ key: string; msg: string; tag: string }>('hmac_sha256_test.json');
    const tests = suite.testGroups.flatMap((g) => g.tests);
    it('covers every vector in the file', () => {
      expect(tests.length).toBe(suite.numberOfTests);
    });
    // Truncated tags (tagSize 128) compare against the prefix, as Signal does with its 8-byte MACs.
    it.each(tests.map((t) => [label(t), t] as const))('%s', (_, t) => {
      const expected = fromHex(t.tag);
      const mac = crypto.hmacSha256(fromHex(t.key), fromHex(t.msg)).subarray(0, expected.length);
      expect(constantTimeEqual(mac, expected)).toBe(t.result === 'valid');
    });
  });

  describe('HKDF-SHA256 (hkdf_sha256_test.json)', () => {
    const suite = load<{ ikm: string; salt: string; info: string; size: number; okm: string }>(
      'hkdf_sha256_test.json',
    );
    const tests = suite.testGroups.flatMap((g) => g.tests);
    it('covers every vector in the file', () => {
      expect(tests.length).toBe(suite.numberOfTests);
    });
    it.each(tests.map((t) => [label(t), t] as const))('%s', (_, t) => {
      const run = () => crypto.hkdfSha256(fromHex(t.ikm), fromHex(t.salt), fromHex(t.info), t.size);
      if (t.result === 'valid') expect(run()).toEqual(fromHex(t.okm));
      else expectCode(run, 'ERR_INVALID_ARGUMENT');
    });
  });

  describe('AES-256-CBC-PKCS7 (aes_cbc_pkcs5_test.json)', () => {
    const suite = load<{ key: string; iv: string; msg: string; ct: string }>('aes_cbc_pkcs5_test.json');
    for (const group of suite.testGroups) {
      if (group.keySize !== 256 || group.ivSize !== 128) {
        it.skip(`group keySize ${group.keySize}: outside the AES-256 API (${group.tests.length} vectors)`, () => {});
        continue;
      }
      it.each(group.tests.map((t) => [label(t), t] as const))('%s', (_, t) => {
        const key = fromHex(t.key);
        const iv = fromHex(t.iv);
        if (t.result === 'valid') {
          expect(crypto.aes256CbcEncrypt(key, iv, fromHex(t.msg))).toEqual(fromHex(t.ct));
          expect(crypto.aes256CbcDecrypt(key, iv, fromHex(t.ct))).toEqual(fromHex(t.msg));
        } else {
          expectCode(() => crypto.aes256CbcDecrypt(key, iv, fromHex(t.ct)), 'ERR_DECRYPTION_FAILED');
        }
      });
    }
  });

  describe('AES-256-GCM (aes_gcm_test.json)', () => {
    const suite = load<{ key: string; iv: string; aad: string; msg: string; ct: string; tag: string }>(
      'aes_gcm_test.json',
    );
    for (const group of suite.testGroups) {
      if (group.keySize !== 256 || group.ivSize !== 96 || group.tagSize !== 128) {
        it.skip(`group key ${group.keySize} / iv ${group.ivSize} / tag ${group.tagSize}: the API takes 256-bit keys, 12-byte nonces, 16-byte tags (${group.tests.length} vectors)`, () => {});
        continue;
      }
      it.each(group.tests.map((t) => [label(t), t] as const))('%s', (_, t) => {
        const key = fromHex(t.key);
        const nonce = fromHex(t.iv);
        const aad = fromHex(t.aad);
        const sealed = fromHex(t.ct + t.tag);
        if (t.result === 'valid') {
          expect(crypto.aes256GcmEncrypt(key, nonce, fromHex(t.msg), aad)).toEqual(sealed);
          expect(crypto.aes256GcmDecrypt(key, nonce, sealed, aad)).toEqual(fromHex(t.msg));
        } else {
          expectCode(() => crypto.aes256GcmDecrypt(key, nonce, sealed, aad), 'ERR_DECRYPTION_FAILED');
        }
      });
    }
  });

  describe('Ed25519 verify (ed25519_test.json)', () => {
    const suite = load<{ msg: string; sig: string }>('ed25519_test.json');
    const tests = suite.testGroups.flatMap((g) =>
      g.tests.map((t) => ({ ...t, pk: (g.publicKey as { pk: string }).pk })),
    );
    it('covers every vector in the file', () => {
      expect(tests.length).toBe(suite.numberOfTests);
    });
    it.each(tests.map((t) => [label(t), t] as const))('%s', (_, t) => {
      expect(crypto.ed25519Verify(fromHex(t.pk), fromHex(t.msg), fromHex(t.sig))).toBe(t.result === 'valid');
    });
  });
});
