/**
 * A breakdown label for statistics ("region:eu", "cc:49", "number:support"): chosen by the
 * gateway, shared by many people, branded so that a phone number or pseudonym cannot be
 * used as one. It must start with a letter, which no phone number does.
 */
import { ParleyError } from '../errors.js';
import type { Brand } from '../privacy/branded.js';

export type Category = Brand<string, 'Category'>;

const CATEGORY_PATTERN = /^[a-z][a-z0-9._:-]{0,63}$/;
/** Digits runs long enough to be a phone number or an id of one person. */
const LONG_DIGITS = /[0-9]{6,}/;

export function isCategory(value: unknown): value is Category {
  return typeof value === 'string' && CATEGORY_PATTERN.test(value) && !LONG_DIGITS.test(value);
}

export function category(value: string): Category {
  if (!isCategory(value))
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"category" expected a lowercase label of 1 to 64 characters starting with a letter, without long digit runs',
      { field: 'category' },
    );
  return value;
}

/** Where categories describing fewer than k people are folded. */
export const OTHER_CATEGORY = 'other' as Category;
