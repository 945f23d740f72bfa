import { assertBytes, assertInteger } from './guards.js';
import type { RandomSource } from './provider.js';

/**
 * Randomness drawn from a buffer filled in large blocks from the injected source. Each call
 * of the platform CSPRNG costs ~2 µs whatever its size (a native crossing), and the session
 * path asks for 32 or 64 bytes at a time; one 4 KiB fill serves about a hundred requests.
 *
 * The bytes handed out are exactly the source's stream, in order: a pooled source returns the
 * same bytes as calling the source directly whenever the source's output does not depend on how
 * it is chunked (the platform CSPRNG, `createDeterministicRandom`). There is one pool per
 * source (kept in a WeakMap), so several managers given one deterministic source still share
 * one stream between them, as they did without the pool. Bytes leave the pool once: each is
 * zeroed in the buffer as it is handed out.
 */
export const RANDOM_POOL_BLOCK = 4096;
/** Far above any single request Parley makes; catches a length passed in the wrong unit. */
const MAX_RANDOM_LENGTH = 1 << 30;

const pools = new WeakMap<RandomSource, RandomSource>();
const pooled = new WeakSet<RandomSource>();

/** The pooled form of `source`: the same function for the same source (and a pooled source itself). */
export function pooledRandom(source: RandomSource): RandomSource {
  if (pooled.has(source)) return source;
  let pool = pools.get(source);
  if (pool === undefined) {
    pool = createPool(source);
    pools.set(source, pool);
    pooled.add(pool);
  }
  return pool;
}

function createPool(source: RandomSource): RandomSource {
  let buffer: Uint8Array = new Uint8Array(0);
  let used = 0;
  return (length: number): Uint8Array => {
    assertInteger(length, 'length', 0, MAX_RANDOM_LENGTH);
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      if (used === buffer.length) {
        const rest = length - filled;
        if (rest >= RANDOM_POOL_BLOCK) {
          // A large request past the pool's end goes to the source directly (same stream).
          const direct = source(rest);
          assertBytes(direct, 'random output', rest);
          out.set(direct, filled);
          direct.fill(0);
          return out;
        }
        const block = source(RANDOM_POOL_BLOCK);
        assertBytes(block, 'random output', RANDOM_POOL_BLOCK);
        buffer = block;
        used = 0;
      }
      const take = Math.min(length - filled, buffer.length - used);
      out.set(buffer.subarray(used, used + take), filled);
      buffer.fill(0, used, used + take);
      used += take;
      filled += take;
    }
    return out;
  };
}
