import { createHmac, hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fitsShortHkdf,
  fitsShortHmac,
  SHORT_HKDF_MAX_INPUT,
  SHORT_HMAC_MAX_DATA,
  shortHkdfSha256,
  shortHmacSha256,
} from '../src/crypto/short-hmac.js';

// The JavaScript HMAC and HKDF the node provider uses for short inputs, against OpenSSL's on
// the sizes where SHA-256 padding changes shape (55/56/64-byte messages, one or two tail blocks).
describe('short HMAC-SHA256', () => {
  it('equals node:crypto createHmac for every size it accepts', () => {
    const sizes = fc.oneof(fc.constantFrom(0, 1, 32, 55, 56, 63, 64), fc.nat(64));
    fc.assert(
      fc.property(
        sizes.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        fc
          .oneof(fc.constantFrom(0, 1, 55, 56, 64, 118, SHORT_HMAC_MAX_DATA), fc.nat(SHORT_HMAC_MAX_DATA))
          .chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        (key, data) => {
          expect(fitsShortHmac(key, data)).toBe(true);
          expect(shortHmacSha256(key, data)).toEqual(
            new Uint8Array(createHmac('sha256', key).update(data).digest()),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sends longer keys and data elsewhere', () => {
    expect(fitsShortHmac(new Uint8Array(65), new Uint8Array(1))).toBe(false);
    expect(fitsShortHmac(new Uint8Array(32), new Uint8Array(SHORT_HMAC_MAX_DATA + 1))).toBe(false);
  });
});

describe('short HKDF-SHA256', () => {
  it('equals node:crypto hkdfSync for every size it accepts', () => {
    const sizes = fc.oneof(fc.constantFrom(0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 128), fc.nat(200));
    fc.assert(
      fc.property(
        sizes.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        sizes.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        fc.integer({ min: 1, max: 400 }),
        (ikm, salt, info, length) => {
          expect(fitsShortHkdf(ikm, salt, info, length)).toBe(true);
          const expected = new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
          expect(shortHkdfSha256(ikm, salt, info, length)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sends what it does not handle elsewhere', () => {
    const small = new Uint8Array(32);
    expect(fitsShortHkdf(new Uint8Array(SHORT_HKDF_MAX_INPUT + 1), small, small, 32)).toBe(false);
    expect(fitsShortHkdf(small, new Uint8Array(65), small, 32)).toBe(false);
    expect(fitsShortHkdf(small, small, new Uint8Array(SHORT_HKDF_MAX_INPUT + 1), 32)).toBe(false);
    expect(fitsShortHkdf(small, small, small, 255 * 32 + 1)).toBe(false);
  });

  it('derives with all-zero salts of any length as OpenSSL does (their pads are precomputed)', () => {
    const ikm = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    const info = new TextEncoder().encode('WhisperMessageKeys');
    for (const length of [1, 31, 32, 33, 64]) {
      const salt = new Uint8Array(length);
      expect(shortHkdfSha256(ikm, salt, info, 80)).toEqual(
        new Uint8Array(hkdfSync('sha256', ikm, salt, info, 80)),
      );
      // And a non-zero salt right after still uses its own key.
      const other = Uint8Array.from(salt).fill(9);
      expect(shortHkdfSha256(ikm, other, info, 80)).toEqual(
        new Uint8Array(hkdfSync('sha256', ikm, other, info, 80)),
      );
    }
  });

  it('leaves its inputs untouched and returns a fresh array each call', () => {
    const ikm = Uint8Array.from({ length: 40 }, (_, i) => i);
    const salt = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const info = Uint8Array.from({ length: 18 }, (_, i) => i * 3);
    const copies = [ikm, salt, info].map((a) => Uint8Array.from(a));
    const first = shortHkdfSha256(ikm, salt, info, 80);
    const second = shortHkdfSha256(ikm, salt, info, 80);
    expect([ikm, salt, info]).toEqual(copies);
    expect(first).not.toBe(second);
    expect(first).toEqual(second);
  });
});
