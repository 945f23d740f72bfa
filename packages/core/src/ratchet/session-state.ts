import type { KeyPair } from '../keys/curve.js';
import type { PqRatchetState } from '../spqr/pq-ratchet.js';
import type { ChainKey } from './chain-key.js';
import type { SkippedKeys } from './skipped-keys.js';

/** Our side of the symmetric-key ratchet: the ratchet key pair we advertise and its chain. */
export interface SenderChain {
  ratchetKeyPair: KeyPair;
  chainKey: ChainKey;
}

/**
 * The remote side's chain for one of their ratchet keys. Skipped message keys are kept as
 * 32-byte seeds by counter until the late message arrives, oldest (smallest) evicted first.
 */
export interface ReceiverChain {
  readonly ratchetKey: Uint8Array;
  chainKey: ChainKey;
  readonly skipped: SkippedKeys;
}

/** What an initiator repeats in every message until the responder's first reply proves receipt. */
export interface PendingPreKey {
  readonly preKeyId?: number | undefined;
  readonly signedPreKeyId: number;
  readonly baseKey: Uint8Array;
  readonly kyberPreKeyId?: number | undefined;
  readonly kyberCiphertext?: Uint8Array | undefined;
  /** When the session was created (injected clock), for the 30-day unacknowledged limit. */
  readonly createdAt: number;
}

/**
 * One Double Ratchet session with one remote device. Mutable on purpose: operations work
 * on a freshly decoded copy and the record is replaced only after the operation succeeds.
 */
export interface SessionState {
  /** Protocol version: 3 (X3DH) or 4 (PQXDH). */
  readonly version: 3 | 4;
  /** The initiator's base key: identifies the session when prekey messages repeat. */
  readonly baseKey: Uint8Array;
  readonly localIdentityKey: Uint8Array;
  readonly remoteIdentityKey: Uint8Array;
  readonly localRegistrationId: number;
  readonly remoteRegistrationId: number;
  rootKey: Uint8Array;
  /** Index of the last message sent on our previous sending chain (wire `previous_counter`). */
  previousCounter: number;
  sender: SenderChain;
  /** Newest last; at most MAX_RECEIVER_CHAINS. */
  receivers: ReceiverChain[];
  pendingPreKey?: PendingPreKey | undefined;
  /**
   * The sparse post-quantum ratchet (v4 sessions, libsignal ≥ 0.75). Undefined: the session
   * runs without SPQR — it was started with SPQR off, the peer did not speak it, or the record
   * predates it.
   */
  spqr?: PqRatchetState | undefined;
}
