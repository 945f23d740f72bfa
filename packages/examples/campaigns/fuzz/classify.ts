import { isParleyError } from '@parley/core';
import type { Violation, ViolationKind } from './target.js';

/** The outcome label of a thrown value: its code for a ParleyError, else `UNTYPED`. */
export function codeOf(error: unknown): string {
  return isParleyError(error) ? error.code : 'UNTYPED';
}

/**
 * Where an error was thrown, as the first two frames inside `packages/*` sources: enough to
 * tell two defects apart without printing a whole stack.
 */
export function throwSite(error: unknown): string {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const frames: string[] = [];
  for (const line of stack.split('\n').slice(1)) {
    const match = /packages\/(core|storage-adapters)\/(?:src\/)?([^:)]+):(\d+)/.exec(line);
    if (!match) continue;
    const fn = /at (?:async )?([^\s(]+) \(/.exec(line)?.[1] ?? '?';
    frames.push(`${match[2]}:${fn}`);
    if (frames.length === 2) break;
  }
  return frames.join(' ← ') || 'unknown site';
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `non-Error thrown: ${typeof error} ${String(error).slice(0, 80)}`;
}

/** Messages with their numbers, quoted strings and hex replaced, so one defect is one signature. */
function normalize(message: string): string {
  return message
    .replace(/0x[0-9a-f]+/gi, 'X')
    .replace(/\d+/g, 'N')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/'[^']*'/g, "'…'")
    .slice(0, 120);
}

export function untypedViolation(error: unknown, context: string): Violation {
  return violation('untyped-throw', error, context);
}

/**
 * A violation. Throws are told apart by class, message and site; the other kinds (an accepted
 * invalid argument, a changed record family) by their context alone.
 */
export function violation(kind: ViolationKind, error: unknown, context: string): Violation {
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  const thrown = kind === 'untyped-throw';
  return {
    kind,
    signature: thrown
      ? `${kind} | ${context} | ${name}: ${normalize(message)} | ${throwSite(error)}`
      : `${kind} | ${context}`,
    detail: describeError(error),
  };
}
