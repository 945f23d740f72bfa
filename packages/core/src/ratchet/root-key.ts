import type { CryptoProvider } from '../crypto/provider.js';
import type { ChainKey } from './chain-key.js';

const RATCHET_INFO = new TextEncoder().encode('WhisperRatchet');

export interface RootStep {
  readonly rootKey: Uint8Array;
  readonly chainKey: ChainKey;
}

/**
 * One DH ratchet step (Double Ratchet spec KDF_RK): the DH output keyed by the current
 * root key gives the next root key and a fresh chain starting at index 0.
 */
export function ratchetRootKey(
  crypto: CryptoProvider,
  rootKey: Uint8Array,
  sharedSecret: Uint8Array,
): RootStep {
  const okm = crypto.hkdfSha256(sharedSecret, rootKey, RATCHET_INFO, 64);
  return { rootKey: okm.slice(0, 32), chainKey: { key: okm.slice(32, 64), index: 0 } };
}
