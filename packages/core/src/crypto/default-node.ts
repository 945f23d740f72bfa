import { createNodeCrypto } from './node.js';
import type { CryptoProvider } from './provider.js';

/** Chosen through the package's `#default-crypto` import under the `node` condition. */
export function createDefaultCrypto(): CryptoProvider {
  return createNodeCrypto();
}
