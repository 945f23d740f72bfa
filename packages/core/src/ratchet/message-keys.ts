import type { CryptoProvider } from '../crypto/provider.js';

const MESSAGE_KEYS_INFO = new TextEncoder().encode('WhisperMessageKeys');

/** Keys for exactly one message: AES-256-CBC key and IV, and the HMAC key of its MAC. */
export interface MessageKeys {
  readonly cipherKey: Uint8Array;
  readonly macKey: Uint8Array;
  readonly iv: Uint8Array;
  readonly counter: number;
}

/**
 * HKDF(seed, salt, "WhisperMessageKeys") → 32 cipher ‖ 32 MAC ‖ 16 IV. The salt is the
 * message's SPQR key in SPQR sessions (libsignal `MessageKeys::derive_keys`), none otherwise.
 */
export function deriveMessageKeys(
  crypto: CryptoProvider,
  seed: Uint8Array,
  counter: number,
  spqrKey?: Uint8Array,
): MessageKeys {
  const okm = crypto.hkdfSha256(seed, spqrKey, MESSAGE_KEYS_INFO, 80);
  return {
    cipherKey: okm.subarray(0, 32),
    macKey: okm.subarray(32, 64),
    iv: okm.subarray(64, 80),
    counter,
  };
}
