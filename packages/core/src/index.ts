/**
 * @parley/core — Signal-protocol sessions held on a business's behalf.
 *
 * The root entry imports nothing from `node:*`; the node:crypto provider lives at
 * `@parley/core/node`, and raw primitives at `@parley/core/hazmat`.
 */

export { defaultCrypto } from './crypto/default.js';
export { createPortableCrypto } from './crypto/portable.js';

// Crypto facade (providers and randomness)
export type { CryptoProvider, RandomSource } from './crypto/provider.js';
export { defaultRandom } from './crypto/random.js';
export { ERROR_CODES, type ErrorCode, type ErrorDetails, isParleyError, ParleyError } from './errors.js';
// The business gateway
export * from './gateway/index.js';
// Groups (sender keys)
export * from './groups/index.js';
// Integrity signals (the transport side's view), statistics and billing (the platform's)
export * from './integrity/index.js';
// Keys
export type { KeyPair } from './keys/curve.js';
export { generateKeyPair } from './keys/curve.js';
export { generateIdentityKeyPair, generateRegistrationId } from './keys/identity.js';
export type { OneTimePreKey, PreKeyBundle, SignedPreKey } from './keys/prekeys.js';
export { verifyPreKeyBundle } from './keys/prekeys.js';
// Media: encrypted attachments in the WhatsApp family's format (more at `@parley/core/media`)
export {
  type BlobStore,
  createMediaPointer,
  createMemoryBlobStore,
  decryptMedia,
  decryptMediaStream,
  type EncryptedMedia,
  encryptMedia,
  encryptMediaStream,
  type MediaPointer,
  type MediaType,
} from './media/index.js';
// Branded personal data (kept out of every export by the types)
export * from './privacy/index.js';
// Sessions
export type { ProtocolAddress } from './session/address.js';
export { plainRecords, type RecordSealer } from './session/record-sealer.js';
export { SessionBuilder, SessionCipher } from './session/session-cipher.js';
export {
  type ArchiveSessionOptions,
  type CiphertextMessage,
  type DecryptOptions,
  type DecryptResult,
  type EncryptOptions,
  type IdentityChange,
  type LocalIdentity,
  MessageType,
  type ProcessBundleOptions,
  type ProcessBundleResult,
  SessionManager,
  type SessionManagerOptions,
} from './session/session-manager.js';
export {
  acceptIdentityChanges,
  strictTrustOnFirstUse,
  type TrustDirection,
  type TrustPolicy,
  type TrustQuestion,
} from './session/trust.js';
export * from './stats/index.js';
// Storage contract and the reference memory store
export * from './storage/contract.js';
export { createMemoryStore, type MemoryStoreOptions } from './storage/memory.js';
// Decryption-error messages (plaintext content, type 8): what a device sends when it cannot decrypt
export {
  type DecryptionErrorMessage,
  decodeDecryptionErrorContent,
  decryptionErrorFor,
  encodeDecryptionErrorContent,
} from './wire/index.js';
