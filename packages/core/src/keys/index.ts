export {
  agree,
  assertKeyBytes,
  CURVE25519_KEY_TYPE,
  derivePublicKey,
  deserializePublicKey,
  generateKeyPair,
  isSerializedPublicKey,
  type KeyContext,
  type KeyPair,
  PRIVATE_KEY_LENGTH,
  SERIALIZED_PUBLIC_KEY_LENGTH,
  SIGNATURE_LENGTH,
  serializePublicKey,
  sign,
  verifySignature,
} from './curve.js';
export {
  generateIdentityKeyPair,
  generateRegistrationId,
  type IdentityKeyPair,
  isValidRegistrationId,
  MAX_REGISTRATION_ID,
  MIN_REGISTRATION_ID,
} from './identity.js';
export {
  decodeKyberPreKeyRecord,
  encodeKyberPreKeyRecord,
  type GenerateKyberPreKeyOptions,
  generateKyberPreKey,
  KYBER_PREKEY_RECORD_LENGTH,
  type KyberPreKey,
  verifyKyberPreKeySignature,
} from './kyber-prekeys.js';
export {
  generatePreKeys,
  generateSignedPreKey,
  MAX_LOCAL_PREKEY_ID,
  MAX_PREKEYS_PER_BATCH,
  MAX_UINT32,
  type OneTimePreKey,
  type PreKeyBundle,
  type SignedPreKey,
  verifyPreKeyBundle,
} from './prekeys.js';
export {
  decodeKeyPairRecord,
  decodeOneTimePreKeyRecord,
  decodeSignedPreKeyRecord,
  encodeKeyPairRecord,
  encodeOneTimePreKeyRecord,
  encodeSignedPreKeyRecord,
  KEY_RECORD_VERSION,
} from './records.js';
