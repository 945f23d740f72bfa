import { createDefaultCrypto } from '#default-crypto';
import type { CryptoProvider } from './provider.js';

let shared: CryptoProvider | undefined;

/**
 * The provider used when none is passed: the node:crypto provider on Node, the portable
 * (noble) one elsewhere. The choice is made by the package's `#default-crypto` import
 * conditions, so a browser bundle never pulls in `node:*`.
 */
export function defaultCrypto(): CryptoProvider {
  shared ??= createDefaultCrypto();
  return shared;
}
