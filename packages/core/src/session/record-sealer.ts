import type { Namespace } from '../storage/contract.js';

/**
 * Encrypts protocol records (identity keys, prekeys, session records — they hold chain
 * keys) before they reach a store. Synchronous, like the crypto facade: a gateway unwraps
 * its data key from the operator's key provider once, then seals with AES-256-GCM using
 * the record's namespace and key as associated data, so a sealed record moved under
 * another key does not open.
 */
export interface RecordSealer {
  seal(namespace: Namespace, key: string, plaintext: Uint8Array): Uint8Array;
  /** Throws `ERR_INVALID_RECORD` when the record does not open. */
  open(namespace: Namespace, key: string, sealed: Uint8Array): Uint8Array;
}

/** No sealing: records are stored as encoded. For tests and stores that encrypt themselves. */
export const plainRecords: RecordSealer = {
  seal: (_namespace, _key, plaintext) => plaintext,
  open: (_namespace, _key, sealed) => sealed,
};
