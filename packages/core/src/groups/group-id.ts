import { ParleyError } from '../errors.js';

/**
 * The caller's name for a group: an opaque string of 1–256 characters (a gateway uses a
 * pseudonymous id, never a list of phone numbers). It names the sender-key records of the
 * group; it never appears on the wire (the `signal` format carries a distribution id instead,
 * the `whatsapp` format carries no group at all).
 */
export type GroupId = string;

export const MAX_GROUP_ID_LENGTH = 256;

export function assertGroupId(group: unknown, field = 'group'): asserts group is GroupId {
  if (typeof group !== 'string' || group.length === 0 || group.length > MAX_GROUP_ID_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"${field}" expected a non-empty string of at most ${MAX_GROUP_ID_LENGTH} characters`,
      { field },
    );
  }
}
