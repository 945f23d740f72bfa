import { ParleyError } from '../errors.js';

/** A remote device: a name (a person's pseudonym, a service id, a phone number) and a device id. */
export interface ProtocolAddress {
  readonly name: string;
  readonly deviceId: number;
}

export function assertAddress(address: ProtocolAddress): void {
  if (typeof address?.name !== 'string' || address.name.length === 0 || address.name.length > 256) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"address.name" expected a non-empty string of at most 256 characters',
    );
  }
  if (!Number.isInteger(address.deviceId) || address.deviceId < 1 || address.deviceId > 0x7fff_ffff) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"address.deviceId" expected an integer from 1 to 2^31-1', {
      deviceId: Number.isFinite(address.deviceId) ? address.deviceId : String(address.deviceId),
    });
  }
}

/** Stable key fragment for an address; names are URI-encoded so "/" cannot forge a prefix. */
export function addressKey(address: ProtocolAddress): string {
  return `${encodeURIComponent(address.name)}/${address.deviceId}`;
}

/** Prefix matching every device of one name. */
export function nameKeyPrefix(name: string): string {
  return `${encodeURIComponent(name)}/`;
}
