import { utf8 } from '../bytes.js';
import type { CryptoProvider } from '../crypto/provider.js';

const SENDER_MESSAGE_KEY_INFO = utf8('WhisperGroup');

/** The AES-256-CBC key and IV of one group message (no MAC: the message is signed instead). */
export interface SenderMessageKey {
  readonly iteration: number;
  readonly cipherKey: Uint8Array;
  readonly iv: Uint8Array;
}

/**
 * libsignal `SenderMessageKey::new` (and Baileys' `deriveSecrets` split the same way):
 * HKDF-SHA256(seed, no salt, "WhisperGroup", 48) → 16-byte IV ‖ 32-byte cipher key.
 */
export function deriveSenderMessageKey(
  crypto: CryptoProvider,
  seed: Uint8Array,
  iteration: number,
): SenderMessageKey {
  const okm = crypto.hkdfSha256(seed, undefined, SENDER_MESSAGE_KEY_INFO, 48);
  return { iteration, iv: okm.subarray(0, 16), cipherKey: okm.subarray(16, 48) };
}
