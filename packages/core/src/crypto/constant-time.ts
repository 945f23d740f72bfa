import { assertBytes } from './guards.js';

/**
 * Compares two byte arrays in time that depends only on their lengths. Every MAC and
 * tag check in Parley goes through here (libsignal@6.0.0 compares MACs with `===` on
 * strings, a timing oracle). Lengths are public: different lengths return false at once.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  assertBytes(a, 'a');
  assertBytes(b, 'b');
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
