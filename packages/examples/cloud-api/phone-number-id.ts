/**
 * Numbers in the cloud API's form: the reference API names numbers by digits without the "+"
 * (`wa_id`, `phone_number_id`, `to` may carry a "+" too). Parley speaks E.164 with the "+".
 * A business number's id is its digits: nothing to look up, nothing to keep in sync.
 */

/** Digits of an E.164 number ("+15550100" → "15550100"). */
export function phoneNumberId(e164: string): string {
  return e164.startsWith('+') ? e164.slice(1) : e164;
}

/** E.164 from digits with or without the "+" (shape already checked by the schema). */
export function toE164(digits: string): string {
  return digits.startsWith('+') ? digits : `+${digits}`;
}
