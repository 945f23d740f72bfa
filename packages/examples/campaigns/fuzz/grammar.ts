import { isParleyError } from '@parley/core';
import type { Rng } from '../rng.js';
import { codeOf, untypedViolation, violation } from './classify.js';
import type { Execution, Violation } from './target.js';

/**
 * An argument of a generated call. `invalid: true` when the contract plainly requires a
 * refusal (wrong type, out of range, empty content); left undefined when it is not ours to
 * say (a well-formed id nobody issued), so only clear cases become `accepted-invalid`.
 */
export interface Arg {
  readonly value: unknown;
  readonly label: string;
  readonly invalid?: boolean;
  /** For an object argument built field by field: the field that makes it invalid. */
  readonly invalidField?: string;
}

export const ok = (value: unknown, label: string): Arg => ({ value, label });
export const bad = (value: unknown, label: string): Arg => ({ value, label, invalid: true });

/** What a parameter is, so generic wrong values are drawn only from other types. */
export type ParamKind = 'object' | 'number' | 'string' | 'bytes' | 'array' | 'content' | 'function';

const GENERIC: Readonly<Record<ParamKind, readonly Arg[]>> = (() => {
  const common = [
    bad(undefined, 'undefined'),
    bad(null, 'null'),
    bad(true, 'true'),
    bad(1n, '1n'),
    bad(() => 1, 'a function'),
  ];
  return {
    object: [...common, bad(5, '5'), bad('text', '"text"')],
    number: [...common, bad({}, '{}'), bad([], '[]'), bad('1', '"1"'), bad(Number.NaN, 'NaN')],
    string: [...common, bad({}, '{}'), bad([], '[]'), bad(5, '5'), bad('', '""')],
    bytes: [
      ...common,
      bad({}, '{}'),
      bad([1, 2], '[1,2]'),
      bad('text', '"text"'),
      bad(new ArrayBuffer(4), 'an ArrayBuffer'),
    ],
    array: [...common, bad({}, '{}'), bad(5, '5'), bad('12', '"12"')],
    function: [
      bad(undefined, 'undefined'),
      bad(null, 'null'),
      bad(true, 'true'),
      bad(5, '5'),
      bad({}, '{}'),
      bad('text', '"text"'),
    ],
    /** Text or bytes. */
    content: [
      ...common,
      bad({}, '{}'),
      bad([1, 2], '[1,2]'),
      bad(5, '5'),
      bad(new ArrayBuffer(4), 'an ArrayBuffer'),
    ],
  };
})();

/**
 * A valid argument most of the time; otherwise one of `invalids`, or a generic value of
 * another type (never one that `valids` lists, e.g. `undefined` for an optional parameter).
 */
export function arg(
  rng: Rng,
  kind: ParamKind,
  valids: readonly Arg[],
  invalids: readonly Arg[] = [],
  pInvalid = 0.3,
): Arg {
  if (valids.length > 0 && !rng.chance(pInvalid)) return rng.pick(valids);
  if (invalids.length > 0 && rng.chance(0.7)) return rng.pick(invalids);
  // An optional parameter (undefined is valid) reads null as "absent" too (`??`): no verdict on either.
  const optional = valids.some((v) => v.value === undefined);
  const generic = GENERIC[kind].filter(
    (candidate) =>
      !valids.some((v) => Object.is(v.value, candidate.value)) && !(optional && candidate.value === null),
  );
  return rng.pick(generic);
}

/** A generated call: an operation name, its arguments, and the code that makes it. */
export interface Call {
  readonly op: string;
  readonly args: readonly Arg[];
  /** Runs the call against the state under test. */
  readonly run: () => Promise<unknown>;
}

export function describeCall(call: Call): string {
  return `${call.op}(${call.args.map((a) => `${a.label}${a.invalid ? ' [invalid]' : ''}`).join(', ')})`;
}

export const GRAMMAR_DEPTHS = ['boundary (argument refused)', 'refused deeper', 'accepted'];

/**
 * Runs one call and judges it: an untyped throw (sync or async), an invalid argument that was
 * accepted. Returns whether it was refused, for the caller's state check.
 */
export async function judgeCall(call: Call): Promise<Execution & { readonly refused: boolean }> {
  const invalid = call.args.find((a) => a.invalid);
  try {
    await call.run();
  } catch (error) {
    const outcome = codeOf(error);
    const depth = outcome === 'ERR_INVALID_ARGUMENT' || outcome === 'ERR_CONFIGURATION' ? 0 : 1;
    const found: Violation | undefined = isParleyError(error) ? undefined : untypedViolation(error, call.op);
    return { outcome: `${call.op}: ${outcome}`, depth, violation: found, refused: true };
  }
  if (invalid) {
    const field = invalid.invalidField ? ` (${invalid.invalidField})` : '';
    const position = `argument ${call.args.indexOf(invalid) + 1}${field}`;
    const error = new Error(`${call.op} accepted ${invalid.label} as ${position}`);
    return {
      outcome: `${call.op}: accepted`,
      depth: 2,
      violation: violation('accepted-invalid', error, `${call.op} ${position}`),
      refused: false,
    };
  }
  return { outcome: `${call.op}: accepted`, depth: 2, refused: false };
}
