/**
 * HyperLogLog registers (Flajolet et al. 2007) over a caller-owned `Uint8Array` of 2^p bytes,
 * so a window can keep one register array per bucket inside a single allocation.
 *
 * A register holds the largest "leading zeros + 1" seen among the hashes routed to it: a
 * number from 0 to 33, shared by every pseudonym that lands there. It cannot say which
 * pseudonyms were added, and hashes are keyed (`SketchKey`), so it holds nothing personal.
 */
import type { Hash64 } from './sketch-key.js';

/** 2^4 registers is the smallest array the bias constants below are published for. */
export const HLL_MIN_PRECISION = 4;
/** 2^14 bytes per array is already 0.8 % error; more only costs memory. */
export const HLL_MAX_PRECISION = 14;

export function hllAdd(registers: Uint8Array, precision: number, hash: Hash64): void {
  const index = hash.high >>> (32 - precision);
  // The low word's leading zeros: 32 independent bits, enough for 2^32 × 2^p distinct values.
  const rank = Math.clz32(hash.low) + 1;
  if (rank > registers[index]!) registers[index] = rank;
}

/** Register-wise max: the sketch of the union of both sets. */
export function hllMergeInto(target: Uint8Array, source: Uint8Array): void {
  for (let i = 0; i < target.length; i++) if (source[i]! > target[i]!) target[i] = source[i]!;
}

function alpha(m: number): number {
  if (m === 16) return 0.673;
  if (m === 32) return 0.697;
  if (m === 64) return 0.709;
  return 0.7213 / (1 + 1.079 / m);
}

/**
 * The cardinality estimate, with linear counting for small sets (where it is near exact, so
 * a business with 12 contacts gets 12, not 15). Relative error ≈ 1.04 / √m above that.
 */
export function hllEstimate(registers: Uint8Array): number {
  const m = registers.length;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < m; i++) {
    const r = registers[i]!;
    sum += 2 ** -r;
    if (r === 0) zeros++;
  }
  const raw = (alpha(m) * m * m) / sum;
  if (raw <= 2.5 * m && zeros > 0) return m * Math.log(m / zeros);
  return raw;
}
