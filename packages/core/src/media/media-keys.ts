import { copyBytes, utf8, wipe } from '../bytes.js';
import { assertBytes } from '../crypto/guards.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { MEDIA_KEY_LENGTH } from './media-format.js';
import { type MediaType, mediaKeyInfo } from './media-type.js';

/** HKDF output per media key: IV 16 ‖ cipher key 32 ‖ MAC key 32 ‖ ref key 32. */
export const EXPANDED_MEDIA_KEY_LENGTH = 112;

/** The keys one media key expands to. Wipe them with `wipeMediaKeys` when done. */
export interface MediaKeys {
  readonly iv: Uint8Array;
  readonly cipherKey: Uint8Array;
  readonly macKey: Uint8Array;
  /** The last 32 bytes; the blob format does not use them (WhatsApp's "ref key"). */
  readonly refKey: Uint8Array;
}

/** HKDF-SHA256(media key, no salt, "WhatsApp <Type> Keys", 112 bytes), split in four. */
export function deriveMediaKeys(crypto: CryptoProvider, mediaKey: Uint8Array, type: MediaType): MediaKeys {
  assertBytes(mediaKey, 'mediaKey', MEDIA_KEY_LENGTH);
  const expanded = crypto.hkdfSha256(
    mediaKey,
    undefined,
    utf8(mediaKeyInfo(type)),
    EXPANDED_MEDIA_KEY_LENGTH,
  );
  const keys = {
    iv: copyBytes(expanded.subarray(0, 16)),
    cipherKey: copyBytes(expanded.subarray(16, 48)),
    macKey: copyBytes(expanded.subarray(48, 80)),
    refKey: copyBytes(expanded.subarray(80, 112)),
  };
  expanded.fill(0);
  return keys;
}

export function wipeMediaKeys(keys: MediaKeys): void {
  wipe(keys.iv, keys.cipherKey, keys.macKey, keys.refKey);
}
