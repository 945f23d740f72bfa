/**
 * The signing key of one of our group chains. Receivers verify with XEdDSA against a Curve25519
 * public key (0x05 ‖ u), as they verify signed prekeys. We make the key from an Ed25519 seed
 * instead of a Curve25519 private key: its Curve25519 public key is the Montgomery form of the
 * Ed25519 public key A, and an RFC 8032 signature by that seed is a valid XEdDSA signature once
 * A's sign bit is put in the top bit of byte 63 (the verifier rebuilds A from u and that bit,
 * and checks the same cofactorless equation R = sB − hA; s < ℓ leaves the bit free).
 *
 * Why: XEdDSA signing exists only in JavaScript here (two fixed-base multiplications, ~1 ms),
 * while OpenSSL signs Ed25519 in ~40 µs, and every group message is signed. The nonce is RFC
 * 8032's deterministic one rather than XEdDSA's randomized one; receivers cannot tell, and only
 * these chain keys (never an identity key) are made this way.
 */
import { edwardsToMontgomery } from '../crypto/xeddsa.js';
import { ParleyError } from '../errors.js';
import { type KeyContext, serializePublicKey } from '../keys/curve.js';

export interface SenderSigningKey {
  /** 33 bytes, 0x05 ‖ u: what distribution messages carry. */
  readonly publicKey: Uint8Array;
  /** 32-byte Ed25519 seed. */
  readonly seed: Uint8Array;
  /** 0x80 when A's x is odd (the sign bit of the Edwards encoding), else 0. */
  readonly signBit: number;
}

export function senderSigningKeyFromSeed(
  ctx: Pick<KeyContext, 'crypto'>,
  seed: Uint8Array,
): SenderSigningKey {
  const edwards = ctx.crypto.ed25519PublicKey(seed);
  const u = edwardsToMontgomery(edwards);
  // The identity as a public key would mean a zero scalar: SHA-512 output never clamps to one.
  if (u === undefined) throw new ParleyError('ERR_INVALID_KEY', 'signing key seed gives the identity point');
  return { publicKey: serializePublicKey(u), seed, signBit: edwards[31]! & 0x80 };
}

export function generateSenderSigningKey(ctx: KeyContext): SenderSigningKey {
  const seed = ctx.random(32);
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"random" returned the wrong number of bytes', {
      field: 'random',
    });
  }
  return senderSigningKeyFromSeed(ctx, seed);
}

/** A signature XEdDSA verifiers accept for `key.publicKey`. */
export function signWithSenderKey(
  ctx: Pick<KeyContext, 'crypto'>,
  key: SenderSigningKey,
  message: Uint8Array,
): Uint8Array {
  const signature = ctx.crypto.ed25519Sign(key.seed, message);
  signature[63] = (signature[63]! & 0x7f) | key.signBit;
  return signature;
}
