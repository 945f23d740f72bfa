/**
 * The harness's decisions (who sends when, which instance gets a frame, when and whom to kill)
 * from one seed: the same seed gives the same sequence of decisions. The processes' timing is
 * not reproducible, so which decision meets which message can differ between runs.
 */
import type { RandomSource } from '@parley/core';
import { createDeterministicRandom } from '@parley/core/testing';

export class Dice {
  readonly random: RandomSource;

  constructor(seed: string) {
    this.random = createDeterministicRandom(`parley multi-instance harness/${seed}`);
  }

  /** Uniform in [0, 1). */
  unit(): number {
    const b = this.random(4);
    return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.unit() * n));
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + this.unit() * (max - min);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}
