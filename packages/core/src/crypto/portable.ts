/**
 * The portable provider: noble only, so it runs in any browser or runtime. On Node prefer
 * `createNodeCrypto()` from `@parley/core/node` (node:crypto is much faster on X25519, and its
 * AES does not use lookup tables).
 */
import { cbc, gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { ParleyError } from '../errors.js';
import { assertBytes, assertInteger } from './guards.js';
import {
  createPortableCbcDecryptor,
  createPortableCbcEncryptor,
  createPortableGmac,
  guardedHash,
} from './incremental.js';
import type { CryptoProvider } from './provider.js';
import { bytesToNumberLE, ED25519_ORDER, verifyEquation, xeddsaSign, xeddsaVerify } from './xeddsa.js';

/** RFC 5869: at most 255 blocks of the hash output. */
export const HKDF_SHA256_MAX_LENGTH = 255 * 32;
const EMPTY = new Uint8Array(0);

export function invalidKey(cause?: unknown): ParleyError {
  return new ParleyError(
    'ERR_INVALID_KEY',
    'X25519 public key is of low order (all-zero shared secret)',
    {},
    { cause },
  );
}

export function decryptionFailed(algorithm: string, cause?: unknown): ParleyError {
  return new ParleyError('ERR_DECRYPTION_FAILED', `${algorithm} decryption failed`, { algorithm }, { cause });
}

export function checkHkdfArguments(
  ikm: Uint8Array,
  salt: Uint8Array | undefined,
  info: Uint8Array,
  length: number,
): void {
  assertBytes(ikm, 'ikm');
  if (salt !== undefined) assertBytes(salt, 'salt');
  assertBytes(info, 'info');
  assertInteger(length, 'length', 1, HKDF_SHA256_MAX_LENGTH);
}

export function checkGcmArguments(
  key: Uint8Array,
  nonce: Uint8Array,
  data: Uint8Array,
  aad?: Uint8Array,
): void {
  assertBytes(key, 'key', 32);
  assertBytes(nonce, 'nonce', 12);
  assertBytes(data, 'data');
  if (aad !== undefined) assertBytes(aad, 'aad');
}

/**
 * RFC 8032 verification with the same acceptance rules as OpenSSL, so the two providers agree
 * on every input: s must be < ℓ; the public key may be a non-canonical encoding and is not
 * refused for small order; the check is cofactorless against the R bytes as given.
 */
function ed25519VerifyPortable(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  assertBytes(publicKey, 'publicKey');
  assertBytes(message, 'message');
  assertBytes(signature, 'signature');
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const s = bytesToNumberLE(signature.subarray(32, 64));
  if (s >= ED25519_ORDER) return false;
  let aPoint: InstanceType<typeof ed25519.Point>;
  try {
    aPoint = ed25519.Point.fromBytes(publicKey, true);
  } catch {
    return false;
  }
  return verifyEquation(publicKey, aPoint, signature.subarray(0, 32), s, message);
}

export function createPortableCrypto(): CryptoProvider {
  return {
    name: 'portable',

    x25519PublicKey(privateKey) {
      assertBytes(privateKey, 'privateKey', 32);
      return x25519.getPublicKey(privateKey);
    },

    x25519(privateKey, publicKey) {
      assertBytes(privateKey, 'privateKey', 32);
      assertBytes(publicKey, 'publicKey', 32);
      try {
        // noble refuses the low-order u values up front: exactly those whose result is all zero.
        return x25519.getSharedSecret(privateKey, publicKey);
      } catch (error) {
        throw invalidKey(error);
      }
    },

    xeddsaSign,
    xeddsaVerify,
    ed25519Verify: ed25519VerifyPortable,

    ed25519PublicKey(seed) {
      assertBytes(seed, 'seed', 32);
      return ed25519.getPublicKey(seed);
    },

    ed25519Sign(seed, message) {
      assertBytes(seed, 'seed', 32);
      assertBytes(message, 'message');
      return ed25519.sign(message, seed);
    },

    sha256(data) {
      assertBytes(data, 'data');
      return sha256(data);
    },
    sha512(data) {
      assertBytes(data, 'data');
      return sha512(data);
    },
    hmacSha256(key, data) {
      assertBytes(key, 'key');
      assertBytes(data, 'data');
      return hmac(sha256, key, data);
    },
    hkdfSha256(ikm, salt, info, length) {
      checkHkdfArguments(ikm, salt, info, length);
      // An empty salt and an absent one are both HashLen zero bytes (RFC 5869 §2.2).
      return hkdf(
        sha256,
        ikm,
        salt === undefined || salt.length === 0 ? new Uint8Array(32) : salt,
        info,
        length,
      );
    },

    aes256CbcEncrypt(key, iv, plaintext) {
      assertBytes(key, 'key', 32);
      assertBytes(iv, 'iv', 16);
      assertBytes(plaintext, 'plaintext');
      return cbc(key, iv).encrypt(plaintext);
    },
    aes256CbcDecrypt(key, iv, ciphertext) {
      assertBytes(key, 'key', 32);
      assertBytes(iv, 'iv', 16);
      assertBytes(ciphertext, 'ciphertext');
      if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw decryptionFailed('AES-256-CBC');
      try {
        return cbc(key, iv).decrypt(ciphertext);
      } catch (error) {
        throw decryptionFailed('AES-256-CBC', error);
      }
    },
    aes256GcmEncrypt(key, nonce, plaintext, aad) {
      checkGcmArguments(key, nonce, plaintext, aad);
      return gcm(key, nonce, aad ?? EMPTY).encrypt(plaintext);
    },
    aes256GcmDecrypt(key, nonce, sealed, aad) {
      checkGcmArguments(key, nonce, sealed, aad);
      if (sealed.length < 16) throw decryptionFailed('AES-256-GCM');
      try {
        return gcm(key, nonce, aad ?? EMPTY).decrypt(sealed);
      } catch (error) {
        throw decryptionFailed('AES-256-GCM', error);
      }
    },

    createSha256() {
      const hash = sha256.create();
      return guardedHash(
        'SHA-256',
        (data) => hash.update(data),
        () => hash.digest(),
      );
    },
    createHmacSha256(key) {
      assertBytes(key, 'key');
      const mac = hmac.create(sha256, key);
      return guardedHash(
        'HMAC-SHA256',
        (data) => mac.update(data),
        () => mac.digest(),
      );
    },
    createAes256CbcEncryptor(key, iv) {
      return createPortableCbcEncryptor(key, iv);
    },
    createAes256CbcDecryptor(key, iv) {
      return createPortableCbcDecryptor(key, iv, (cause) => decryptionFailed('AES-256-CBC', cause));
    },
    createAes256Gmac(key, nonce) {
      return createPortableGmac(key, nonce);
    },
  };
}
