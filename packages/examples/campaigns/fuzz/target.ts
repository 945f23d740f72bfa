import type { Rng } from '../rng.js';

/**
 * One fuzz target: a decoder or entry point of `@parley/core`, with the state it needs.
 * `setup` builds that state once (real sessions, real stored records); `generate` turns a
 * per-input random stream into an input, so input i is a function of (seed, target, i).
 */
export interface FuzzTarget<I> {
  readonly name: string;
  /** Depth stages in the order an input can reach them; the first is "refused at the first byte / boundary". */
  readonly depths: readonly string[];
  /** Inputs of a `--quick` run and of a full run. */
  readonly inputs: { readonly quick: number; readonly full: number };
  setup(seed: string): Promise<FuzzHarness<I>>;
}

export interface FuzzHarness<I> {
  generate(rng: Rng, index: number): I;
  /** Runs one input against the base state (restoring it afterwards when the input changed it). */
  execute(input: I, index: number): Promise<Execution>;
  /** What to print as the reproducer: the fuzz input itself, never keys. */
  describe(input: I): string;
  /** Smaller inputs to try while minimizing a violation (bytes: chunks removed). */
  shrink?(input: I): Iterable<I>;
  close?(): Promise<void>;
}

export interface Execution {
  /** `accepted`, a ParleyError code, or a target-specific outcome (`duplicate`, …). */
  readonly outcome: string;
  /** Index into the target's `depths`. */
  readonly depth: number;
  readonly violation?: Violation | undefined;
  /** Background errors of the gateway during this input (typed ones are counted, not violations). */
  readonly backgroundCodes?: readonly string[];
}

export type ViolationKind =
  /** Something other than a ParleyError escaped (thrown, or reported to `onError`). */
  | 'untyped-throw'
  /** A refused input left a stored record changed. */
  | 'state-changed'
  /** An input the contract calls invalid was accepted. */
  | 'accepted-invalid'
  /** An accepted value did not survive encode → decode. */
  | 'round-trip'
  /** Background work failed in a healthy world (no fuzzed argument involved). */
  | 'background-error';

export interface Violation {
  readonly kind: ViolationKind;
  /** Groups occurrences of one defect: kind, error class, normalized message and where it was thrown. */
  readonly signature: string;
  readonly detail: string;
}
