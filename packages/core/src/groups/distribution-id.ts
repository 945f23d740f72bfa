/**
 * Distribution ids of the `signal` format: a UUID that the sender picks for a group and
 * sends, as 16 raw bytes, in every distribution message and group message. Exposed to callers
 * in the usual 8-4-4-4-12 lowercase hex form, as libsignal-client does.
 */
import { toHex } from '../bytes.js';
import type { RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { DISTRIBUTION_ID_LENGTH } from '../wire/sender-key-format.js';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A random (version 4, RFC 9562) UUID's 16 bytes. */
export function generateDistributionId(random: RandomSource): Uint8Array {
  const bytes = random(DISTRIBUTION_ID_LENGTH);
  if (!(bytes instanceof Uint8Array) || bytes.length !== DISTRIBUTION_ID_LENGTH) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"random" returned the wrong number of bytes', {
      field: 'random',
    });
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}

export function distributionIdToString(bytes: Uint8Array): string {
  const hex = toHex(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function distributionIdFromString(value: unknown, field = 'distributionId'): Uint8Array {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected a UUID string`, { field });
  }
  const hex = value.replaceAll('-', '');
  const out = new Uint8Array(DISTRIBUTION_ID_LENGTH);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
