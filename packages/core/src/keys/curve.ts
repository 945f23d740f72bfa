/**
 * Curve25519 keys as the layers above the crypto facade see them. A public key is always the
 * 33-byte serialized form `0x05 ‖ u` (libsignal's `DJB_TYPE`); the 32-byte u-coordinate only
 * exists inside the crypto layer. Private keys are 32 clamped bytes.
 */

import { assertBytes, isBytes } from '../crypto/guards.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { clampPrivateKey } from '../crypto/xeddsa.js';
import { ParleyError } from '../errors.js';

/** libsignal's type byte for Curve25519 public keys. */
export const CURVE25519_KEY_TYPE = 0x05;
export const SERIALIZED_PUBLIC_KEY_LENGTH = 33;
export const PRIVATE_KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

/** What key generation and signing need: the provider and an injected randomness source. */
export interface KeyContext {
  readonly crypto: CryptoProvider;
  readonly random: RandomSource;
}

export interface KeyPair {
  /** 33 bytes, `0x05 ‖ u`. */
  readonly publicKey: Uint8Array;
  /** 32 bytes, clamped. */
  readonly privateKey: Uint8Array;
}

/**
 * Key bytes of the wrong shape are a bad key, not a caller bug: they usually come off the
 * wire or out of storage. Only a value that is not bytes at all is `ERR_INVALID_ARGUMENT`.
 */
export function assertKeyBytes(value: unknown, field: string, length: number): asserts value is Uint8Array {
  assertBytes(value, field);
  if (value.length !== length) {
    throw new ParleyError('ERR_INVALID_KEY', `"${field}" expected ${length} bytes, got ${value.length}`, {
      field,
      length: value.length,
    });
  }
}

export function serializePublicKey(publicKey: Uint8Array): Uint8Array {
  assertKeyBytes(publicKey, 'publicKey', 32);
  const out = new Uint8Array(SERIALIZED_PUBLIC_KEY_LENGTH);
  out[0] = CURVE25519_KEY_TYPE;
  out.set(publicKey, 1);
  return out;
}

/** Strict: exactly 33 bytes with type byte 0x05 (older libsignal tolerated trailing bytes; we do not). */
export function deserializePublicKey(serialized: Uint8Array, field = 'publicKey'): Uint8Array {
  assertKeyBytes(serialized, field, SERIALIZED_PUBLIC_KEY_LENGTH);
  if (serialized[0] !== CURVE25519_KEY_TYPE) {
    throw new ParleyError('ERR_INVALID_KEY', `"${field}" has unknown key type ${serialized[0]}`, {
      field,
      keyType: serialized[0],
    });
  }
  return serialized.slice(1);
}

/** True when `value` is a well-formed serialized Curve25519 public key. */
export function isSerializedPublicKey(value: unknown): value is Uint8Array {
  return isBytes(value) && value.length === SERIALIZED_PUBLIC_KEY_LENGTH && value[0] === CURVE25519_KEY_TYPE;
}

/** The serialized public key of a private key. */
export function derivePublicKey(crypto: CryptoProvider, privateKey: Uint8Array): Uint8Array {
  assertKeyBytes(privateKey, 'privateKey', PRIVATE_KEY_LENGTH);
  return serializePublicKey(crypto.x25519PublicKey(privateKey));
}

export function generateKeyPair(ctx: KeyContext): KeyPair {
  const seed = ctx.random(PRIVATE_KEY_LENGTH);
  assertBytes(seed, 'random output', PRIVATE_KEY_LENGTH);
  const privateKey = clampPrivateKey(seed);
  seed.fill(0);
  return { publicKey: derivePublicKey(ctx.crypto, privateKey), privateKey };
}

/** X25519 with a serialized remote key; a low-order key throws `ERR_INVALID_KEY`. */
export function agree(
  crypto: CryptoProvider,
  localPrivateKey: Uint8Array,
  remotePublicKey: Uint8Array,
): Uint8Array {
  assertKeyBytes(localPrivateKey, 'privateKey', PRIVATE_KEY_LENGTH);
  return crypto.x25519(localPrivateKey, deserializePublicKey(remotePublicKey, 'remotePublicKey'));
}

/** XEdDSA signature (64 bytes) with 64 fresh random bytes from the context. */
export function sign(ctx: KeyContext, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertKeyBytes(privateKey, 'privateKey', PRIVATE_KEY_LENGTH);
  assertBytes(message, 'message');
  const random = ctx.random(64);
  assertBytes(random, 'random output', 64);
  const signature = ctx.crypto.xeddsaSign(privateKey, message, random);
  random.fill(0);
  return signature;
}

/**
 * XEdDSA verification against a serialized public key. A malformed key throws
 * `ERR_INVALID_KEY`; a signature of the wrong length is simply not valid (as in libsignal).
 */
export function verifySignature(
  crypto: CryptoProvider,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const raw = deserializePublicKey(publicKey);
  assertBytes(message, 'message');
  assertBytes(signature, 'signature');
  if (signature.length !== SIGNATURE_LENGTH) return false;
  return crypto.xeddsaVerify(raw, message, signature);
}
