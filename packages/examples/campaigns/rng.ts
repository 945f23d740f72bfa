import { createHash } from 'node:crypto';

/**
 * The campaigns' own pseudo-random stream (xoshiro128**): fast, and reproducible from a
 * string, so every input of a campaign is a function of (seed, stream name, index) alone.
 * It decides what to mutate and which moment to kill; Parley's own randomness (keys, ids)
 * comes from `createDeterministicRandom`, seeded from the same strings.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: string) {
    const digest = createHash('sha256').update(seed).digest();
    this.s0 = digest.readUInt32BE(0) | 1;
    this.s1 = digest.readUInt32BE(4);
    this.s2 = digest.readUInt32BE(8);
    this.s3 = digest.readUInt32BE(12);
  }

  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform integer in [0, n) for n ≤ 2^32. */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** Uniform integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** One of `choices`, each with its weight. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, weight] of choices) total += weight;
    let roll = (this.u32() / 0x1_0000_0000) * total;
    for (const [value, weight] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return choices[choices.length - 1]![0];
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A seed nobody chose: for `--seed=random`. */
export function freshSeed(): string {
  return createHash('sha256').update(`${process.pid}/${process.hrtime.bigint()}`).digest('hex').slice(0, 12);
}
