import { assertBytes } from '../crypto/guards.js';
import type { RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { generateKeyPair, type KeyContext, type KeyPair } from './curve.js';

/** A long-term identity key pair (same shape as any Curve25519 key pair). */
export type IdentityKeyPair = KeyPair;

/** Registration ids are 14-bit; libsignal-java drew them from 1..16380 and peers expect that range. */
export const MIN_REGISTRATION_ID = 1;
export const MAX_REGISTRATION_ID = 16380;
/** A sound source needs ~1.0002 draws on average; hitting this means the source is broken. */
const MAX_REGISTRATION_ID_DRAWS = 64;

export function generateIdentityKeyPair(ctx: KeyContext): IdentityKeyPair {
  return generateKeyPair(ctx);
}

export function isValidRegistrationId(value: unknown): value is number {
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= MIN_REGISTRATION_ID &&
    value <= MAX_REGISTRATION_ID
  );
}

/** Uniform in [1, 16380] by rejection sampling over 14 random bits (a modulo would bias it). */
export function generateRegistrationId(random: RandomSource): number {
  for (let draw = 0; draw < MAX_REGISTRATION_ID_DRAWS; draw++) {
    const bytes = random(2);
    assertBytes(bytes, 'random output', 2);
    const candidate = ((bytes[0]! << 8) | bytes[1]!) & 0x3fff;
    if (isValidRegistrationId(candidate)) return candidate;
  }
  throw new ParleyError(
    'ERR_CONFIGURATION',
    `random source gave no usable registration id in ${MAX_REGISTRATION_ID_DRAWS} draws`,
    { draws: MAX_REGISTRATION_ID_DRAWS },
  );
}
