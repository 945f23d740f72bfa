import type { Rng } from '../rng.js';
import { hex, shrinkBytes } from './engine.js';
import { type Mutated, mutate, type Shape } from './mutate.js';

/** A mutated seed: which seed, what was done to it, and the bytes. */
export interface ByteInput {
  readonly seed: string;
  readonly steps: readonly string[];
  readonly bytes: Uint8Array;
}

export interface ByteSeed {
  readonly label: string;
  readonly bytes: Uint8Array;
  readonly shape: Shape;
}

/** Picks a seed and mutates it; a few inputs stay unmutated so the accepting path is exercised too. */
export function generateByteInput(rng: Rng, seeds: readonly ByteSeed[]): ByteInput {
  const seed = rng.pick(seeds);
  if (rng.chance(0.02)) return { seed: seed.label, steps: ['none'], bytes: seed.bytes.slice() };
  const others = seeds.filter((other) => other.shape === seed.shape).map((other) => other.bytes);
  const mutated: Mutated = mutate(rng, seed.bytes, seed.shape, others);
  return { seed: seed.label, steps: mutated.steps, bytes: mutated.bytes };
}

export function describeByteInput(input: ByteInput): string {
  return `seed ${input.seed}, mutations [${input.steps.join(', ')}], ${input.bytes.length} bytes: ${hex(input.bytes)}`;
}

export function* shrinkByteInput(input: ByteInput, keepPrefix = 0): Iterable<ByteInput> {
  for (const bytes of shrinkBytes(input.bytes, keepPrefix))
    yield { ...input, steps: [...input.steps, 'shrunk'], bytes };
}
