/**
 * Branded types for personal data. The gateway wraps a phone number, a device id, a pseudonym
 * or message content in one of these as soon as it has it, so the compiler can refuse them
 * wherever only non-personal data may go (statistics, billing, integrity snapshots, logs).
 *
 * The other half of the trick is `Unbranded<T>`: every field of an exported snapshot is an
 * `Unbranded<number>` or `Unbranded<string>` (or a closed literal union), which accepts plain
 * values but refuses any value carrying a brand — `DeviceId` is a `number`, yet it cannot be
 * assigned to `Unbranded<number>` because its brand is not `undefined`.
 */
import { ParleyError } from '../errors.js';

declare const brand: unique symbol;

/** `T` tagged with a compile-time name; the tag costs nothing at run time. */
export type Brand<T, Name extends string> = T & { readonly [brand]: Name };

/** `T` that carries no brand at all: plain values fit, branded personal data does not. */
export type Unbranded<T> = T & { readonly [brand]?: undefined };

/** A person's phone number (E.164). Only a message's source or destination; never exported. */
export type PhoneNumber = Brand<string, 'PhoneNumber'>;
/** A device id of a person's messaging client (libsignal: 1 … 2^31 − 1). */
export type DeviceId = Brand<number, 'DeviceId'>;
/** The keyed pseudonym of a person within one business (see `gateway/pseudonym.ts`). */
export type Pseudonym = Brand<string, 'Pseudonym'>;
/** Message plaintext. */
export type MessageContent = Brand<Uint8Array, 'MessageContent'>;

/** E.164: a plus sign, then at most 15 digits, the first not zero. */
const E164 = /^\+[1-9][0-9]{1,14}$/;
/** Something that reads as a phone number with or without the plus and separators. */
const PHONE_LIKE = /^\+?[0-9 ()./-]{6,}$/;
/** Far above any pseudonym encoding (HMAC-SHA256 hex is 64 characters). */
const MAX_PSEUDONYM_LENGTH = 256;
const MAX_DEVICE_ID = 0x7fff_ffff;

function invalid(field: string, expected: string): ParleyError {
  // The value itself is personal data: name the field and what was expected, never the value.
  return new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected ${expected}`, { field });
}

export function isPhoneNumber(value: unknown): value is PhoneNumber {
  return typeof value === 'string' && E164.test(value);
}

export function phoneNumber(value: string): PhoneNumber {
  if (!isPhoneNumber(value)) throw invalid('phoneNumber', 'an E.164 number (+ and 2 to 15 digits)');
  return value;
}

export function isDeviceId(value: unknown): value is DeviceId {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_DEVICE_ID;
}

export function deviceId(value: number): DeviceId {
  if (!isDeviceId(value)) throw invalid('deviceId', `an integer from 1 to ${MAX_DEVICE_ID}`);
  return value;
}

/**
 * A pseudonym is any non-empty string up to 256 characters that does not read as a phone
 * number: wrapping a clear number by mistake is refused loudly rather than counted.
 */
export function isPseudonym(value: unknown): value is Pseudonym {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_PSEUDONYM_LENGTH &&
    !PHONE_LIKE.test(value)
  );
}

export function pseudonym(value: string): Pseudonym {
  if (!isPseudonym(value))
    throw invalid('pseudonym', `1 to ${MAX_PSEUDONYM_LENGTH} characters that are not a phone number`);
  return value;
}

export function isMessageContent(value: unknown): value is MessageContent {
  return value instanceof Uint8Array;
}

/** Brands the caller's bytes without copying; a string is encoded as UTF-8. */
export function messageContent(value: Uint8Array | string): MessageContent {
  if (typeof value === 'string') return new TextEncoder().encode(value) as MessageContent;
  if (!(value instanceof Uint8Array)) throw invalid('content', 'a Uint8Array or a string');
  return value as MessageContent;
}
