import { bytesEqual } from '../bytes.js';
import type { ProtocolAddress } from './address.js';

export type TrustDirection = 'sending' | 'receiving';

export interface TrustQuestion {
  readonly address: ProtocolAddress;
  /** The identity key (33 bytes) the operation is about to use. */
  readonly identityKey: Uint8Array;
  /** The identity key stored for this name, if any. */
  readonly storedIdentityKey: Uint8Array | undefined;
  readonly direction: TrustDirection;
}

/**
 * Decides whether an identity key may be used. Asked on a bundle (before its signature is
 * checked), on an incoming prekey message (before decrypting), on a whisper message (after
 * decrypting) and on encrypt — always awaited. "Not trusted" is `ERR_UNTRUSTED_IDENTITY`
 * and stores nothing.
 */
export interface TrustPolicy {
  readonly name: string;
  isTrusted(question: TrustQuestion): boolean | Promise<boolean>;
}

/** Default: the first identity seen for a name is pinned; any other is refused. */
export const strictTrustOnFirstUse: TrustPolicy = {
  name: 'strict-tofu',
  isTrusted: ({ identityKey, storedIdentityKey }) =>
    storedIdentityKey === undefined || bytesEqual(identityKey, storedIdentityKey),
};

/**
 * For gateways: a person who reinstalled their app comes back with a new identity. The
 * change is accepted, the old session archived, and the operation's result reports it.
 */
export const acceptIdentityChanges: TrustPolicy = {
  name: 'accept-changes',
  isTrusted: () => true,
};
