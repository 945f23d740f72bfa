import { ParleyError } from '../errors.js';
import type { MediaType } from './media-type.js';

/**
 * Which check a blob failed. `changed`: the source gave other bytes on the second pass than on
 * the verified first one (see `segment-binding.ts`).
 */
export type MediaCheck =
  | 'length'
  | 'mac'
  | 'fileEncSha256'
  | 'padding'
  | 'fileLength'
  | 'fileSha256'
  | 'changed';

const EXPLANATION: Readonly<Record<MediaCheck, string>> = {
  length: 'the blob has the wrong length for its fileLength (truncated or padded)',
  mac: 'the blob MAC does not verify (tampered blob or wrong media key)',
  fileEncSha256: 'the blob does not match fileEncSha256',
  padding: 'the blob decrypts to invalid padding',
  fileLength: 'the plaintext length does not match fileLength',
  fileSha256: 'the plaintext does not match fileSha256',
  changed: 'the blob changed between verification and decryption',
};

/** No plaintext is ever released once this is thrown; the message names the check only. */
export function mediaIntegrityError(check: MediaCheck, type: MediaType): ParleyError {
  return new ParleyError('ERR_MEDIA_INTEGRITY', `media ${type}: ${EXPLANATION[check]}`, { check, type });
}

export function mediaTooLargeError(what: string, limit: number, length?: number): ParleyError {
  const got = length === undefined ? 'more' : String(length);
  return new ParleyError('ERR_MEDIA_TOO_LARGE', `${what} is ${got} bytes, limit ${limit}`, {
    what,
    limit,
    length,
  });
}
