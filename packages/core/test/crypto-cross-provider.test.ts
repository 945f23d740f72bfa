/** The two providers must agree byte for byte on every method, including on what they refuse. */
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../src/bytes.js';
import { constantTimeEqual } from '../src/crypto/constant-time.js';
import { assertBytes } from '../src/crypto/guards.js';
import { createNodeCrypto } from '../src/crypto/node.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { createDeterministicRandom, defaultRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';

const portable = createPortableCrypto();
const node = createNodeCrypto();
const RUNS = { numRuns: 150 };

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const b32 = bytes(32, 32);

type Outcome = { ok: Uint8Array | boolean } | { code: string };

function outcome(fn: () => Uint8Array | boolean): Outcome {
  try {
    return { ok: fn() };
  } catch (error) {
    if (!isParleyError(error)) throw error;
    return { code: error.code };
  }
}

function agree(call: (crypto: CryptoProvider) => Uint8Array | boolean): Outcome {
  const a = outcome(() => call(portable));
  const b = outcome(() => call(node));
  expect(b).toEqual(a);
  return a;
}

/** The five u values of small order on the curve or its twist, plus encodings that reduce to them. */
const LOW_ORDER_U = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
].map((hex) => Uint8Array.from(Buffer.from(hex, 'hex')));

describe('portable and node providers agree', () => {
  it('x25519PublicKey', () => {
    fc.assert(
      fc.property(b32, (seed) => {
        agree((c) => c.x25519PublicKey(seed));
      }),
      RUNS,
    );
  });

  it('x25519 on random u, including twist points and set top bits', () => {
    fc.assert(
      fc.property(b32, b32, (privateKey, u) => {
        agree((c) => c.x25519(privateKey, u));
      }),
      RUNS,
    );
  });

  it('x25519 refuses every low-order u with ERR_INVALID_KEY', () => {
    fc.assert(
      fc.property(b32, fc.constantFrom(...LOW_ORDER_U), (privateKey, u) => {
        expect(agree((c) => c.x25519(privateKey, u))).toEqual({ code: 'ERR_INVALID_KEY' });
      }),
      { numRuns: 40 },
    );
  });

  it('x25519 between two generated keys is symmetric', () => {
    fc.assert(
      fc.property(b32, b32, (a, b) => {
        const shared = agree((c) => c.x25519(a, c.x25519PublicKey(b)));
        expect(shared).toEqual(agree((c) => c.x25519(b, c.x25519PublicKey(a))));
      }),
      { numRuns: 50 },
    );
  });

  it('xeddsaSign (the same deterministic function of key, message and nonce)', () => {
    fc.assert(
      fc.property(b32, bytes(0, 300), bytes(64, 64), (privateKey, msg, random) => {
        agree((c) => c.xeddsaSign(privateKey, msg, random));
      }),
      { numRuns: 50 },
    );
  });

  it('xeddsaVerify on valid, mutated and random signatures', () => {
    fc.assert(
      fc.property(b32, bytes(0, 100), bytes(64, 64), fc.nat(511), (privateKey, msg, random, bit) => {
        const publicKey = portable.x25519PublicKey(privateKey);
        const signature = portable.xeddsaSign(privateKey, msg, random);
        expect(agree((c) => c.xeddsaVerify(publicKey, msg, signature))).toEqual({ ok: true });
        const flipped = Uint8Array.from(signature);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expect(agree((c) => c.xeddsaVerify(publicKey, msg, flipped))).toEqual({ ok: false });
        agree((c) => c.xeddsaVerify(random.subarray(0, 32), msg, random));
      }),
      { numRuns: 60 },
    );
  });

  it('ed25519Verify on valid, mutated and random signatures', () => {
    fc.assert(
      fc.property(b32, bytes(0, 100), fc.nat(511), bytes(64, 64), (secret, msg, bit, junk) => {
        const publicKey = ed25519.getPublicKey(secret);
        const signature = ed25519.sign(msg, secret);
        expect(agree((c) => c.ed25519Verify(publicKey, msg, signature))).toEqual({ ok: true });
        const flipped = Uint8Array.from(signature);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expect(agree((c) => c.ed25519Verify(publicKey, msg, flipped))).toEqual({ ok: false });
        agree((c) => c.ed25519Verify(junk.subarray(0, 32), msg, junk));
        agree((c) => c.ed25519Verify(publicKey, msg, junk.subarray(0, 63)));
      }),
      { numRuns: 60 },
    );
  });

  it('sha256, sha512 and hmacSha256 (keys shorter and longer than a block)', () => {
    fc.assert(
      fc.property(bytes(0, 200), bytes(0, 300), (key, data) => {
        agree((c) => c.sha256(data));
        agree((c) => c.sha512(data));
        agree((c) => c.hmacSha256(key, data));
      }),
      RUNS,
    );
  });

  it('hkdfSha256 with absent, empty and given salts, long infos and every length up to the limit', () => {
    const salt = fc.oneof(fc.constant(undefined), fc.constant(new Uint8Array(0)), bytes(1, 80));
    fc.assert(
      fc.property(
        bytes(0, 80),
        salt,
        bytes(0, 1100),
        fc.integer({ min: 1, max: 8160 }),
        (ikm, s, info, length) => {
          agree((c) => c.hkdfSha256(ikm, s, info, length));
        },
      ),
      { numRuns: 100 },
    );
    const ikm = Uint8Array.of(1, 2, 3);
    expect(agree((c) => c.hkdfSha256(ikm, undefined, new Uint8Array(0), 32))).toEqual(
      agree((c) => c.hkdfSha256(ikm, new Uint8Array(32), new Uint8Array(0), 32)),
    );
    for (const length of [0, 8161, 1.5, -1, Number.NaN]) {
      expect(agree((c) => c.hkdfSha256(ikm, undefined, ikm, length))).toEqual({
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
  });

  it('AES-256-CBC encrypt, decrypt, and refusal of random ciphertexts', () => {
    fc.assert(
      fc.property(b32, bytes(16, 16), bytes(0, 100), bytes(0, 70), (key, iv, plaintext, junk) => {
        const sealed = agree((c) => c.aes256CbcEncrypt(key, iv, plaintext));
        const ciphertext = (sealed as { ok: Uint8Array }).ok;
        expect(ciphertext.length % 16).toBe(0);
        expect(agree((c) => c.aes256CbcDecrypt(key, iv, ciphertext))).toEqual({ ok: plaintext });
        // Random data: a 1-in-~256 valid padding must come out the same; anything else is refused alike.
        const result = agree((c) => c.aes256CbcDecrypt(key, iv, junk));
        if (junk.length % 16 !== 0 || junk.length === 0)
          expect(result).toEqual({ code: 'ERR_DECRYPTION_FAILED' });
      }),
      RUNS,
    );
  });

  it('AES-256-GCM encrypt, decrypt, absent vs empty AAD, and tamper refusal', () => {
    fc.assert(
      fc.property(
        b32,
        bytes(12, 12),
        bytes(0, 100),
        bytes(0, 40),
        fc.nat(),
        (key, nonce, plaintext, aad, at) => {
          const sealed = (agree((c) => c.aes256GcmEncrypt(key, nonce, plaintext, aad)) as { ok: Uint8Array })
            .ok;
          expect(sealed.length).toBe(plaintext.length + 16);
          expect(agree((c) => c.aes256GcmDecrypt(key, nonce, sealed, aad))).toEqual({ ok: plaintext });
          if (aad.length === 0) {
            expect(agree((c) => c.aes256GcmEncrypt(key, nonce, plaintext))).toEqual({ ok: sealed });
          }
          const tampered = Uint8Array.from(sealed);
          tampered[at % tampered.length]! ^= 0x01;
          expect(agree((c) => c.aes256GcmDecrypt(key, nonce, tampered, aad))).toEqual({
            code: 'ERR_DECRYPTION_FAILED',
          });
          expect(agree((c) => c.aes256GcmDecrypt(key, nonce, sealed.subarray(0, 15), aad))).toEqual({
            code: 'ERR_DECRYPTION_FAILED',
          });
        },
      ),
      RUNS,
    );
  });

  it('refuse malformed arguments with the same ERR_INVALID_ARGUMENT', () => {
    const k = new Uint8Array(32);
    const bad: Array<(c: CryptoProvider) => Uint8Array | boolean> = [
      (c) => c.x25519PublicKey(new Uint8Array(31)),
      (c) => c.x25519(k, new Uint8Array(33)),
      (c) => c.x25519('x' as unknown as Uint8Array, k),
      (c) => c.xeddsaVerify(new Uint8Array(33), k, new Uint8Array(64)),
      (c) => c.sha256([1, 2] as unknown as Uint8Array),
      (c) => c.hmacSha256(null as unknown as Uint8Array, k),
      (c) => c.aes256CbcEncrypt(new Uint8Array(16), new Uint8Array(16), k),
      (c) => c.aes256CbcDecrypt(k, new Uint8Array(12), k),
      (c) => c.aes256GcmEncrypt(k, new Uint8Array(16), k),
      (c) => c.aes256GcmDecrypt(k, new Uint8Array(12), k, 'aad' as unknown as Uint8Array),
    ];
    for (const call of bad) expect(agree(call)).toEqual({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('the node provider does not serve a stale cached key when the caller reuses an array', () => {
    const reused = new Uint8Array(32).fill(1);
    const peer = portable.x25519PublicKey(new Uint8Array(32).fill(9));
    const first = node.x25519(reused, peer);
    expect(node.x25519PublicKey(reused)).toEqual(portable.x25519PublicKey(reused));
    reused.fill(2);
    expect(node.x25519PublicKey(reused)).toEqual(portable.x25519PublicKey(reused));
    const second = node.x25519(reused, peer);
    expect(second).toEqual(portable.x25519(reused, peer));
    expect(second).not.toEqual(first);
  });

  it('outputs are fresh plain Uint8Arrays the caller owns', () => {
    const outputs = [
      node.sha256(new Uint8Array(1)),
      node.hmacSha256(new Uint8Array(1), new Uint8Array(1)),
      node.x25519PublicKey(new Uint8Array(32)),
      node.hkdfSha256(new Uint8Array(1), undefined, new Uint8Array(0), 32),
    ];
    for (const out of outputs) {
      expect(out.constructor).toBe(Uint8Array);
      expect(out.byteOffset).toBe(0);
      expect(out.buffer.byteLength).toBe(out.length);
    }
  });
});

describe('shared helpers', () => {
  it('constantTimeEqual compares content and length, and refuses non-bytes', () => {
    fc.assert(
      fc.property(bytes(0, 40), fc.nat(), (a, at) => {
        expect(constantTimeEqual(a, Uint8Array.from(a))).toBe(true);
        if (a.length > 0) {
          const b = Uint8Array.from(a);
          b[at % b.length]! ^= 1 << (at % 8);
          expect(constantTimeEqual(a, b)).toBe(false);
        }
        expect(constantTimeEqual(a, concatBytes(a, Uint8Array.of(0)))).toBe(false);
      }),
    );
    expect(() => constantTimeEqual('ab' as unknown as Uint8Array, new Uint8Array(2))).toThrow(
      /"a" expected Uint8Array/,
    );
  });

  it('assertBytes names the field and the lengths', () => {
    expect(() => assertBytes(new Uint8Array(16), 'nonce', 12)).toThrow('"nonce" expected 12 bytes, got 16');
    expect(() => assertBytes(new Uint8Array(16), 'key', 16, 32)).not.toThrow();
    expect(() => assertBytes(new Uint16Array(2), 'key')).toThrow(
      '"key" expected Uint8Array, got Uint16Array',
    );
  });

  it('defaultRandom fills lengths above the 65 536-byte getRandomValues quota', () => {
    const big = defaultRandom(200_000);
    expect(big.length).toBe(200_000);
    // Each 64 KiB chunk must have been filled, not left zero.
    for (const offset of [0, 65_536, 131_072, 196_608]) {
      expect(big.subarray(offset, offset + 64).some((b) => b !== 0)).toBe(true);
    }
    expect(defaultRandom(0).length).toBe(0);
    expect(() => defaultRandom(-1)).toThrow(/"length"/);
  });

  it('createDeterministicRandom is reproducible, independent of how reads are split, and seed-sensitive', () => {
    const whole = createDeterministicRandom('seed')(100);
    const split = createDeterministicRandom('seed');
    expect(concatBytes(split(10), split(0), split(33), split(57))).toEqual(whole);
    expect(createDeterministicRandom(new TextEncoder().encode('seed'))(100)).toEqual(whole);
    expect(createDeterministicRandom('seed2')(100)).not.toEqual(whole);
  });
});
