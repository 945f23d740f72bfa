/**
 * `@parley/core/hazmat`: raw cryptographic primitives. Misusing them breaks the protocol's
 * guarantees; application code wants the session and gateway APIs from the root entry.
 */
export { constantTimeEqual } from './crypto/constant-time.js';
export { assertBytes, assertInteger, isBytes } from './crypto/guards.js';
export { createPortableCrypto, HKDF_SHA256_MAX_LENGTH } from './crypto/portable.js';
export type { CryptoProvider, RandomSource } from './crypto/provider.js';
export { defaultRandom } from './crypto/random.js';
export { clampPrivateKey, montgomeryToEdwards, xeddsaSign, xeddsaVerify } from './crypto/xeddsa.js';
export * from './kyber/index.js';
