import type { KeyPair } from '../keys/curve.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import type { ProtocolAddress } from './address.js';

/** libsignal's message type numbers (the JS libraries use 1 for whisper). */
export const MessageType = { Whisper: 2, PreKey: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface CiphertextMessage {
  readonly type: MessageType;
  readonly body: Uint8Array;
}

export interface LocalIdentity {
  readonly identityKeyPair: KeyPair;
  readonly registrationId: number;
}

/** Reported when a trust policy accepted an identity other than the stored one. */
export interface IdentityChange {
  readonly address: ProtocolAddress;
  readonly previousIdentityKey: Uint8Array;
  readonly identityKey: Uint8Array;
}

export interface DecryptResult {
  readonly plaintext: Uint8Array;
  readonly messageType: MessageType;
  readonly sessionVersion: number;
  /** True when this message created a new session (a first prekey message). */
  readonly newSession: boolean;
  readonly identityChange?: IdentityChange | undefined;
}

export interface ProcessBundleResult {
  readonly sessionVersion: number;
  readonly identityChange?: IdentityChange | undefined;
  /**
   * False only with `ifNoSession` when the address already had a current session (another
   * writer sharing the store started one first): nothing was written, that session stays.
   */
  readonly established: boolean;
}

export interface ProcessBundleOptions {
  /**
   * Start a session only if the address has no current one, decided on the store's state in
   * the same commit: of several writers sharing a store (gateway instances), one starts it.
   */
  readonly ifNoSession?: boolean;
  /** More writes committed atomically with the new session (nothing when none is started). */
  readonly alsoWrite?: readonly WriteOperation[];
}

export interface EncryptOptions {
  /**
   * More writes committed atomically with the session update, computed from the message (e.g.
   * the gateway keeps the ciphertext it will hand to the transport, so a retry resends the very
   * same bytes).
   */
  readonly alsoWrite?: (message: CiphertextMessage) => readonly WriteOperation[];
  /**
   * Versions the commit must also find (e.g. "this frame was not stored yet": version 0). When
   * one of them has moved, the operation fails at once with a final `ERR_STORE_CONFLICT`
   * (`details.final`), without the re-runs a conflict on the session gets.
   */
  readonly alsoExpect?: readonly ExpectedVersion[];
}

export interface DecryptOptions {
  /**
   * More writes committed atomically with the session update (e.g. the gateway's inbound
   * queue entry), computed from the plaintext once it is known.
   */
  readonly alsoWrite?: (result: DecryptResult) => readonly WriteOperation[];
}
