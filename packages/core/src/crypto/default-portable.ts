import { createPortableCrypto } from './portable.js';
import type { CryptoProvider } from './provider.js';

/** Chosen through the package's `#default-crypto` import everywhere but Node (browsers, workers). */
export function createDefaultCrypto(): CryptoProvider {
  return createPortableCrypto();
}
