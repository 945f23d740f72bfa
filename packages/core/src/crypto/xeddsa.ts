/**
 * XEdDSA over Curve25519 exactly as libsignal computes it (`rust/core/src/curve/curve25519.rs`),
 * which differs from the XEdDSA paper in two ways that matter for bytes on the wire:
 * - the private scalar is the clamped key mod ℓ, never negated, so the Edwards public key may
 *   have either sign; its sign bit travels in the top bit of signature byte 63 (always 0 in a
 *   valid s, because s < ℓ < 2^253);
 * - verification is cofactorless (R must equal sB − hA byte for byte), s is reduced mod ℓ
 *   rather than refused when ≥ ℓ, and only s[31] & 0xE0 is rejected.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, wipe } from '../bytes.js';
import { constantTimeEqual } from './constant-time.js';
import { assertBytes } from './guards.js';

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
const P = Point.Fp.ORDER;
/** ℓ, the prime order of the Ed25519 base point. */
export const ED25519_ORDER = Point.Fn.ORDER;

/** Domain separation for the nonce hash: 0xFE ‖ 0xFF×31, as libsignal's `hash_prefix`. */
const NONCE_PREFIX = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xfe : 0xff));

export function bytesToNumberLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

export function numberToBytesLE32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** RFC 7748 clamping, on a copy. */
export function clampPrivateKey(privateKey: Uint8Array): Uint8Array {
  const k = Uint8Array.from(privateKey);
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k;
}

const mod = (n: bigint, m: bigint): bigint => {
  const r = n % m;
  return r >= 0n ? r : r + m;
};

/** Constant-time-ish fixed-base multiplication; a zero scalar (probability 2^-250) maps to the identity. */
function baseMultiplySecret(scalar: bigint): EdPoint {
  return scalar === 0n ? Point.ZERO : Point.BASE.multiply(scalar);
}

/**
 * The compressed Edwards point (y with the sign bit) that libsignal's verifier derives from a
 * Curve25519 u-coordinate: y = (u − 1)/(u + 1), x's sign from `signBit`. Like curve25519-dalek,
 * the top bit of u is ignored and u is reduced mod p. Returns `undefined` for u ≡ −1 (no such
 * point). The result is not checked to be on the curve: an Ed25519 verifier refuses it then.
 * For u ≡ 0 the point is (0, −1) whose x has no sign, so the bit is left clear as dalek's
 * `compress()` would.
 */
export function montgomeryToEdwards(u: Uint8Array, signBit: number): Uint8Array | undefined {
  assertBytes(u, 'u', 32);
  const masked = Uint8Array.from(u);
  masked[31]! &= 0x7f;
  const n = mod(bytesToNumberLE(masked), P);
  if (n === P - 1n) return undefined;
  const y = mod((n - 1n) * Point.Fp.inv(n + 1n), P);
  const encoded = numberToBytesLE32(y);
  if (n !== 0n && signBit & 1) encoded[31]! |= 0x80;
  return encoded;
}

/**
 * The Curve25519 u-coordinate (32 bytes) of an Edwards public key: u = (1 + y)/(1 − y), the
 * inverse of `montgomeryToEdwards` (whose sign bit the Edwards encoding's top bit gives back).
 * Returns `undefined` for y = 1, the identity, which has no u.
 */
export function edwardsToMontgomery(edwards: Uint8Array): Uint8Array | undefined {
  assertBytes(edwards, 'edwards', 32);
  const masked = Uint8Array.from(edwards);
  masked[31]! &= 0x7f;
  const y = mod(bytesToNumberLE(masked), P);
  if (y === 1n) return undefined;
  return numberToBytesLE32(mod((1n + y) * Point.Fp.inv(mod(1n - y, P)), P));
}

/**
 * Cofactorless check R == sB − hA with h = SHA-512(R ‖ A ‖ message) mod ℓ, comparing the
 * canonical encoding of the result with the R bytes as given (a non-canonical R never matches).
 */
export function verifyEquation(
  aBytes: Uint8Array,
  aPoint: EdPoint,
  rBytes: Uint8Array,
  s: bigint,
  message: Uint8Array,
): boolean {
  const h = mod(bytesToNumberLE(sha512(concatBytes(rBytes, aBytes, message))), ED25519_ORDER);
  const check = Point.BASE.multiplyUnsafe(s).subtract(aPoint.multiplyUnsafe(h));
  return constantTimeEqual(check.toBytes(), rBytes);
}

/** XEdDSA signature as libsignal's `calculate_signature`; `random` is the 64-byte nonce input. */
export function xeddsaSign(privateKey: Uint8Array, message: Uint8Array, random: Uint8Array): Uint8Array {
  assertBytes(privateKey, 'privateKey', 32);
  assertBytes(message, 'message');
  assertBytes(random, 'random', 64);
  const k = clampPrivateKey(privateKey);
  const a = mod(bytesToNumberLE(k), ED25519_ORDER);
  const aBytes = baseMultiplySecret(a).toBytes();
  const signBit = aBytes[31]! & 0x80;
  const nonceInput = concatBytes(NONCE_PREFIX, k, message, random);
  const nonceHash = sha512(nonceInput);
  const r = mod(bytesToNumberLE(nonceHash), ED25519_ORDER);
  const rBytes = baseMultiplySecret(r).toBytes();
  const h = mod(bytesToNumberLE(sha512(concatBytes(rBytes, aBytes, message))), ED25519_ORDER);
  const s = mod(h * a + r, ED25519_ORDER);
  const signature = concatBytes(rBytes, numberToBytesLE32(s));
  signature[63] = (signature[63]! & 0x7f) | signBit;
  wipe(k, nonceInput, nonceHash);
  return signature;
}

/**
 * Splits an XEdDSA signature into the Edwards public key encoding and a plain Ed25519
 * signature (sign bit cleared, s reduced mod ℓ), or `undefined` when libsignal would reject
 * it before the equation. Both providers go through here so they refuse the same inputs.
 */
export function xeddsaToEd25519(
  publicKey: Uint8Array,
  signature: Uint8Array,
  /** `montgomeryToEdwards` or a cache of it (the node provider keeps one per identity key). */
  toEdwards: (u: Uint8Array, signBit: number) => Uint8Array | undefined = montgomeryToEdwards,
): { publicKey: Uint8Array; signature: Uint8Array; s: bigint } | undefined {
  if (signature.length !== 64) return undefined;
  const sBytes = signature.slice(32, 64);
  sBytes[31]! &= 0x7f;
  if (sBytes[31]! & 0xe0) return undefined;
  const edPublicKey = toEdwards(publicKey, signature[63]! >> 7);
  if (edPublicKey === undefined) return undefined;
  // libsignal reduces s mod ℓ; RFC 8032 verifiers refuse s ≥ ℓ. sB is the same point either
  // way, so reducing here keeps both providers equal to libsignal.
  const s = mod(bytesToNumberLE(sBytes), ED25519_ORDER);
  return {
    publicKey: edPublicKey,
    signature: concatBytes(signature.subarray(0, 32), numberToBytesLE32(s)),
    s,
  };
}

/** XEdDSA verification as libsignal's `verify_signature`. Never throws on a bad signature. */
export function xeddsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  assertBytes(publicKey, 'publicKey', 32);
  assertBytes(message, 'message');
  assertBytes(signature, 'signature');
  const parts = xeddsaToEd25519(publicKey, signature);
  if (parts === undefined) return false;
  let aPoint: EdPoint;
  try {
    aPoint = Point.fromBytes(parts.publicKey);
  } catch {
    return false;
  }
  return verifyEquation(parts.publicKey, aPoint, signature.subarray(0, 32), parts.s, message);
}
