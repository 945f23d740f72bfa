/**
 * Input guards in the noble style: each names the field it checks, so a caller sees
 * `"nonce" expected 12 bytes, got 16` instead of a failure deep inside a primitive.
 * Messages carry lengths and types only, never the bytes themselves.
 */
import { ParleyError } from '../errors.js';

/** True for a `Uint8Array`, including subclasses (Buffer) and arrays from another realm. */
export function isBytes(value: unknown): value is Uint8Array {
  return (
    value instanceof Uint8Array ||
    (ArrayBuffer.isView(value) && value.constructor !== undefined && value.constructor.name === 'Uint8Array')
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (Array.isArray(value)) return 'Array';
  return typeof value;
}

/** Throws `ERR_INVALID_ARGUMENT` unless `value` is a `Uint8Array` of one of the given lengths (any if none). */
export function assertBytes(
  value: unknown,
  field: string,
  ...lengths: number[]
): asserts value is Uint8Array {
  if (!isBytes(value)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected Uint8Array, got ${describe(value)}`, {
      field,
    });
  }
  if (lengths.length > 0 && !lengths.includes(value.length)) {
    const expected = lengths.join(' or ');
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"${field}" expected ${expected} bytes, got ${value.length}`,
      {
        field,
        length: value.length,
      },
    );
  }
}

/** Throws `ERR_INVALID_ARGUMENT` unless `value` is an integer in [min, max]. */
export function assertInteger(
  value: unknown,
  field: string,
  min: number,
  max: number,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const got = typeof value === 'number' ? String(value) : describe(value);
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"${field}" expected an integer in [${min}, ${max}], got ${got}`,
      {
        field,
      },
    );
  }
}
