import { expect } from 'vitest';
import { concatBytes } from '../../src/bytes.js';
import { type ErrorCode, isParleyError, type ParleyError } from '../../src/errors.js';
import { encodeVarint } from '../../src/wire/protobuf.js';

/** What `fn` threw; fails the test when it did not throw. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

export function expectCode(fn: () => unknown, code: ErrorCode): ParleyError {
  const error = thrown(fn);
  expect(isParleyError(error), String(error)).toBe(true);
  expect((error as ParleyError).code).toBe(code);
  return error as ParleyError;
}

/** Codes a decoder may legitimately answer attacker bytes with. */
export const DECODE_CODES: readonly ErrorCode[] = [
  'ERR_INVALID_MESSAGE',
  'ERR_INVALID_KEY',
  'ERR_UNKNOWN_VERSION',
  'ERR_MESSAGE_TOO_LARGE',
];

/** Runs a decoder on attacker bytes: it may succeed, or throw a ParleyError with a decode code. */
export function expectDecodeOrParleyError(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    expect(isParleyError(error), String(error)).toBe(true);
    expect(DECODE_CODES).toContain((error as ParleyError).code);
  }
}

/** Hand-made protobuf fields, for feeding decoders shapes our encoder never writes. */
export const varintField = (field: number, value: number): Uint8Array =>
  concatBytes(encodeVarint(field * 8), encodeVarint(value));
export const bytesField = (field: number, value: Uint8Array): Uint8Array =>
  concatBytes(encodeVarint(field * 8 + 2), encodeVarint(value.length), value);
