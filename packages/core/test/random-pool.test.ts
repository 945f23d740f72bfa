import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { pooledRandom, RANDOM_POOL_BLOCK } from '../src/crypto/random-pool.js';
import { isParleyError } from '../src/errors.js';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const requestSizes = fc.array(
  fc.oneof(
    fc.constantFrom(0, 1, 32, 64, RANDOM_POOL_BLOCK - 1, RANDOM_POOL_BLOCK, RANDOM_POOL_BLOCK + 1),
    fc.nat(200),
    fc.nat(3 * RANDOM_POOL_BLOCK),
  ),
  { maxLength: 40 },
);

describe('pooled randomness', () => {
  it('hands out exactly the source stream, in order, for any sequence of request sizes', () => {
    fc.assert(
      fc.property(fc.string(), requestSizes, (seed, sizes) => {
        const pool = pooledRandom(createDeterministicRandom(seed));
        const draws = sizes.map((n) => pool(n));
        expect(draws.map((d) => d.length)).toEqual(sizes);
        const total = sizes.reduce((n, s) => n + s, 0);
        expect(concat(draws)).toEqual(createDeterministicRandom(seed)(total));
      }),
      { numRuns: 150 },
    );
  });

  it('is one pool per source, so users of one source share its stream', () => {
    const source = createDeterministicRandom('shared');
    const first = pooledRandom(source);
    expect(pooledRandom(source)).toBe(first);
    expect(pooledRandom(first)).toBe(first);
    const a = first(10);
    const b = pooledRandom(source)(22);
    expect(concat([a, b])).toEqual(createDeterministicRandom('shared')(32));
  });

  it('fills in large blocks', () => {
    const sizes: number[] = [];
    const pool = pooledRandom((n) => {
      sizes.push(n);
      return new Uint8Array(n).fill(7);
    });
    for (let i = 0; i < 200; i++) pool(32);
    expect(sizes).toEqual([RANDOM_POOL_BLOCK, RANDOM_POOL_BLOCK]);
  });

  it('refuses a bad length or a source that returns the wrong thing with a typed error', () => {
    const pool = pooledRandom(createDeterministicRandom('x'));
    for (const bad of [-1, 1.5, Number.NaN, '3' as unknown as number]) {
      expect(() => pool(bad)).toThrow(expect.toSatisfy((e) => isParleyError(e, 'ERR_INVALID_ARGUMENT')));
    }
    const short = pooledRandom((n) => new Uint8Array(Math.max(0, n - 1)));
    expect(() => short(1)).toThrow(expect.toSatisfy((e) => isParleyError(e, 'ERR_INVALID_ARGUMENT')));
  });
});
