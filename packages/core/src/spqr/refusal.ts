import { ParleyError } from '../errors.js';

/** Why the sparse post-quantum ratchet refused a pq_ratchet field (`details.reason` of `ERR_PQ_RATCHET`). */
export type PqRatchetRefusal =
  /** Not a well-formed SPQR v1 message. */
  | 'malformed'
  /** An epoch this state cannot be in yet (or no longer keeps). */
  | 'epoch'
  /** The message index is more than the allowed jump ahead of its chain. */
  | 'jump'
  /** The key of this index was already used. */
  | 'key-used'
  /** The key of this index was dropped (too old). */
  | 'key-trimmed'
  /** An SPQR authenticator MAC (over an ML-KEM header or ciphertext) failed. */
  | 'authentication'
  /** The peer sent data that contradicts what it sent before (a key part not matching its header). */
  | 'erroneous-data'
  /** The peer changed SPQR versions after negotiation finished. */
  | 'version-mismatch'
  /** This side's SPQR state cannot do what was asked (a corrupted or impossible record). */
  | 'state';

export function pqRatchetError(
  reason: PqRatchetRefusal,
  message: string,
  details: Record<string, string | number | boolean | undefined> = {},
): ParleyError {
  return new ParleyError('ERR_PQ_RATCHET', `post-quantum ratchet: ${message}`, { reason, ...details });
}
