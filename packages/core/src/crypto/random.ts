import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from '../bytes.js';
import { assertBytes, assertInteger } from './guards.js';
import type { RandomSource } from './provider.js';

/** Web Crypto refuses more than 65 536 bytes per `getRandomValues` call (QuotaExceededError). */
const MAX_RANDOM_CHUNK = 65_536;
/** Far above any single request Parley makes; catches a length passed in the wrong unit. */
const MAX_RANDOM_LENGTH = 1 << 30;

/** The platform CSPRNG (`globalThis.crypto.getRandomValues`), in Node 20+ and every browser. */
export const defaultRandom: RandomSource = (length: number): Uint8Array => {
  assertInteger(length, 'length', 0, MAX_RANDOM_LENGTH);
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += MAX_RANDOM_CHUNK) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + MAX_RANDOM_CHUNK)));
  }
  return out;
};

/**
 * A reproducible stream for tests and the testing kit — NOT for production keys.
 * Block i is SHA-256(domain ‖ SHA-256(seed) ‖ i as 8 bytes big-endian); bytes are handed
 * out in order, so the same seed and the same sequence of calls give the same bytes.
 */
export function createDeterministicRandom(seed: Uint8Array | string): RandomSource {
  const seedBytes = typeof seed === 'string' ? utf8(seed) : seed;
  assertBytes(seedBytes, 'seed');
  const input = new Uint8Array(32 + 32 + 8);
  input.set(utf8('parley deterministic random v1').subarray(0, 32), 0);
  input.set(sha256(seedBytes), 32);
  const counterView = new DataView(input.buffer, 64, 8);
  let counter = 0n;
  let block = new Uint8Array(0);
  let used = 0;
  return (length: number): Uint8Array => {
    assertInteger(length, 'length', 0, MAX_RANDOM_LENGTH);
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      if (used === block.length) {
        counterView.setBigUint64(0, counter);
        counter++;
        block = sha256(input);
        used = 0;
      }
      const take = Math.min(length - filled, block.length - used);
      out.set(block.subarray(used, used + take), filled);
      used += take;
      filled += take;
    }
    return out;
  };
}
