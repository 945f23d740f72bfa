/**
 * Round-3 CRYSTALS-Kyber-1024 as libsignal uses it (NOT FIPS-203 ML-KEM, which no libsignal
 * version accepts), built on `@noble/post-quantum`'s `ml_kem1024`. The inner public-key
 * encryption and the key formats are the same in both; only the final key derivation differs:
 *
 * - encapsulate: m = SHA3-256(32 random bytes); (ct, k) = ML-KEM.Encaps(pk, m);
 *   shared secret = SHAKE-256(k ‖ SHA3-256(ct), 32).
 * - decapsulate: k = ML-KEM.Decaps(ct, sk); shared secret = SHAKE-256(k ‖ SHA3-256(ct), 32).
 *
 * For a valid ciphertext this is exactly round 3 (the round-3 NIST KAT reproduces, see
 * `test/kyber-kat.test.ts`). For an invalid ciphertext the implicit-rejection value differs from
 * round 3's, but it is still pseudorandom and secret-dependent; the peer's MAC fails either way.
 *
 * Serialized forms carry libsignal's type byte: public key and ciphertext `0x08 ‖ 1568 bytes`
 * (1569), secret key `0x08 ‖ 3168 bytes` (3169, the layout dk_pke ‖ ek ‖ H(ek) ‖ z that round 3
 * and ML-KEM share). Key generation uses the FIPS-203 seed expansion: the keys are formatted and
 * distributed as round-3 keys, so peers cannot tell them apart.
 */
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { type KEMPrepared, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { constantTimeEqual } from '../crypto/constant-time.js';
import { assertBytes } from '../crypto/guards.js';
import type { RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';

/** libsignal's type byte for Kyber-1024 keys (`KeyType::Kyber1024`) and ciphertexts. */
export const KYBER_KEY_TYPE = 0x08;
const RAW_PUBLIC_KEY_LENGTH = 1568;
const RAW_SECRET_KEY_LENGTH = 3168;
const RAW_CIPHERTEXT_LENGTH = 1568;
/** Serialized public key: `0x08 ‖ 1568 bytes`. */
export const KYBER1024_PUBLIC_KEY_LENGTH = RAW_PUBLIC_KEY_LENGTH + 1;
/** Serialized secret key: `0x08 ‖ 3168 bytes` (libsignal's `KEMSecretKey.serialize()` form). */
export const KYBER1024_SECRET_KEY_LENGTH = RAW_SECRET_KEY_LENGTH + 1;
/** Serialized ciphertext: `0x08 ‖ 1568 bytes`. */
export const KYBER1024_CIPHERTEXT_LENGTH = RAW_CIPHERTEXT_LENGTH + 1;
export const KYBER_SHARED_SECRET_LENGTH = 32;
/** 64-byte key-generation seed (d ‖ z), taken from the injected random source. */
export const KYBER_KEYGEN_SEED_LENGTH = 64;
const ENCAPSULATION_RANDOM_LENGTH = 32;

/** Offsets inside the raw secret key dk_pke(1536) ‖ ek(1568) ‖ H(ek)(32) ‖ z(32). */
const SK_PUBLIC_KEY_OFFSET = 1536;
const SK_HASH_OFFSET = SK_PUBLIC_KEY_OFFSET + RAW_PUBLIC_KEY_LENGTH;

/**
 * Kyber public keys expanded for repeated use (noble's `prepare`: the matrix Â, t̂ and H(ek),
 * ~0.3 ms of SHAKE-128 per operation otherwise): a last-resort Kyber prekey answers many
 * sessions, and a peer's last-resort key is encapsulated to for each of ours. Public data
 * only; a few entries of ~11 KiB each.
 */
const PREPARED_KEY_CACHE_SIZE = 16;
type PreparedKey = KEMPrepared;
const preparedKeys = new Map<string, PreparedKey>();

/** The prepared form of a raw public key (ek), from the cache when `id` was seen before. */
function preparedKey(id: string, ek: Uint8Array): PreparedKey {
  let prepared = preparedKeys.get(id);
  if (prepared !== undefined && !equalPublic(prepared.publicKey, ek)) prepared = undefined;
  if (prepared === undefined) {
    prepared = ml_kem1024.prepare(ek) as KEMPrepared;
    if (preparedKeys.size >= PREPARED_KEY_CACHE_SIZE) preparedKeys.delete(preparedKeys.keys().next().value!);
  } else {
    preparedKeys.delete(id);
  }
  preparedKeys.set(id, prepared);
  return prepared;
}

/** Byte equality of public data (no need for constant time). */
function equalPublic(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A cache id for a public key: its length and first bytes (equality is checked on use). */
function publicKeyId(ek: Uint8Array): string {
  let id = `${ek.length}:`;
  for (let i = 0; i < 48 && i < ek.length; i++) id += ek[i]!.toString(16).padStart(2, '0');
  return id;
}

export interface KyberKeyPair {
  /** 1569 bytes, `0x08 ‖ ek`. */
  readonly publicKey: Uint8Array;
  /** 3169 bytes, `0x08 ‖ dk`. Secret. */
  readonly secretKey: Uint8Array;
}

export interface KyberEncapsulation {
  /** 1569 bytes, `0x08 ‖ ct`: what goes on the wire. */
  readonly ciphertext: Uint8Array;
  /** 32 bytes. Secret. */
  readonly sharedSecret: Uint8Array;
}

function checkSerialized(
  value: unknown,
  field: string,
  length: number,
  code: 'ERR_INVALID_KEY' | 'ERR_INVALID_MESSAGE',
): asserts value is Uint8Array {
  assertBytes(value, field);
  if (value.length !== length) {
    throw new ParleyError(code, `"${field}" expected ${length} bytes, got ${value.length}`, {
      field,
      length: value.length,
    });
  }
  if (value[0] !== KYBER_KEY_TYPE) {
    throw new ParleyError(code, `"${field}" has unknown key type ${value[0]}`, { field, keyType: value[0] });
  }
}

/**
 * Throws unless `value` is a serialized Kyber-1024 public key (1569 bytes, type 0x08):
 * `ERR_INVALID_ARGUMENT` when not bytes at all, `ERR_INVALID_KEY` otherwise. Shape only; the
 * FIPS-203 modulus check runs in `kyberEncapsulate`.
 */
export function assertKyberPublicKey(value: unknown, field = 'publicKey'): asserts value is Uint8Array {
  checkSerialized(value, field, KYBER1024_PUBLIC_KEY_LENGTH, 'ERR_INVALID_KEY');
}

/** As `assertKyberPublicKey`, for a serialized secret key (3169 bytes, type 0x08). */
export function assertKyberSecretKey(value: unknown, field = 'secretKey'): asserts value is Uint8Array {
  checkSerialized(value, field, KYBER1024_SECRET_KEY_LENGTH, 'ERR_INVALID_KEY');
}

/** Throws `ERR_INVALID_MESSAGE` unless `value` is a serialized ciphertext (1569 bytes, type 0x08). */
export function assertKyberCiphertext(value: unknown, field = 'ciphertext'): asserts value is Uint8Array {
  checkSerialized(value, field, KYBER1024_CIPHERTEXT_LENGTH, 'ERR_INVALID_MESSAGE');
}

function invalidSecretKey(field: string): ParleyError {
  return new ParleyError('ERR_INVALID_KEY', `"${field}" is not a valid Kyber-1024 secret key`, { field });
}

/** Round-3 key derivation: SHAKE-256(k ‖ SHA3-256(ct), 32). */
function deriveSharedSecret(k: Uint8Array, rawCiphertext: Uint8Array): Uint8Array {
  return shake256
    .create({ dkLen: KYBER_SHARED_SECRET_LENGTH })
    .update(k)
    .update(sha3_256(rawCiphertext))
    .digest();
}

/** A Kyber-1024 key pair from 64 bytes of `random` (deterministic for a deterministic source). */
export function generateKyberKeyPair(random: RandomSource): KyberKeyPair {
  const seed = random(KYBER_KEYGEN_SEED_LENGTH);
  assertBytes(seed, 'random output', KYBER_KEYGEN_SEED_LENGTH);
  try {
    const raw = ml_kem1024.keygen(seed);
    const publicKey = new Uint8Array(KYBER1024_PUBLIC_KEY_LENGTH);
    publicKey[0] = KYBER_KEY_TYPE;
    publicKey.set(raw.publicKey, 1);
    const secretKey = new Uint8Array(KYBER1024_SECRET_KEY_LENGTH);
    secretKey[0] = KYBER_KEY_TYPE;
    secretKey.set(raw.secretKey, 1);
    raw.secretKey.fill(0);
    return { publicKey, secretKey };
  } finally {
    seed.fill(0);
  }
}

/**
 * The serialized public key embedded in a serialized secret key. Throws `ERR_INVALID_KEY` when
 * the secret key is malformed or its embedded H(ek) does not match (a corrupted key).
 */
export function kyberPublicKeyFromSecretKey(secretKey: Uint8Array): Uint8Array {
  assertKyberSecretKey(secretKey);
  const raw = secretKey.subarray(1);
  const ek = raw.subarray(SK_PUBLIC_KEY_OFFSET, SK_HASH_OFFSET);
  if (!constantTimeEqual(sha3_256(ek), raw.subarray(SK_HASH_OFFSET, SK_HASH_OFFSET + 32))) {
    throw invalidSecretKey('secretKey');
  }
  const publicKey = new Uint8Array(KYBER1024_PUBLIC_KEY_LENGTH);
  publicKey[0] = KYBER_KEY_TYPE;
  publicKey.set(ek, 1);
  return publicKey;
}

/**
 * Encapsulates a fresh shared secret to a serialized public key, with 32 bytes from `random`.
 * A malformed key (length, type byte, or coefficients ≥ q) throws `ERR_INVALID_KEY`.
 */
export function kyberEncapsulate(publicKey: Uint8Array, random: RandomSource): KyberEncapsulation {
  assertKyberPublicKey(publicKey);
  const entropy = random(ENCAPSULATION_RANDOM_LENGTH);
  assertBytes(entropy, 'random output', ENCAPSULATION_RANDOM_LENGTH);
  // Round 3 never uses the system RNG output directly: m = H(random).
  const m = sha3_256(entropy);
  entropy.fill(0);
  let result: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    const ek = publicKey.subarray(1);
    result = preparedKey(publicKeyId(ek), ek).encapsulate(m);
  } catch (error) {
    throw new ParleyError(
      'ERR_INVALID_KEY',
      '"publicKey" is not a valid Kyber-1024 public key',
      { field: 'publicKey' },
      { cause: error },
    );
  } finally {
    m.fill(0);
  }
  const ciphertext = new Uint8Array(KYBER1024_CIPHERTEXT_LENGTH);
  ciphertext[0] = KYBER_KEY_TYPE;
  ciphertext.set(result.cipherText, 1);
  const sharedSecret = deriveSharedSecret(result.sharedSecret, result.cipherText);
  result.sharedSecret.fill(0);
  return { ciphertext, sharedSecret };
}

/**
 * The 32-byte shared secret for a serialized ciphertext. A malformed secret key throws
 * `ERR_INVALID_KEY`, a ciphertext of the wrong length or type byte `ERR_INVALID_MESSAGE`; a
 * well-formed but wrong ciphertext does not throw — it yields an unrelated secret (implicit
 * rejection), and the message MAC fails later.
 */
export function kyberDecapsulate(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  assertKyberSecretKey(secretKey);
  assertKyberCiphertext(ciphertext);
  const rawCiphertext = ciphertext.subarray(1);
  let k: Uint8Array;
  try {
    const raw = secretKey.subarray(1);
    const ek = raw.subarray(SK_PUBLIC_KEY_OFFSET, SK_HASH_OFFSET);
    // Checks that `raw` embeds `ek` and the hash stored with it: FIPS 203's input check.
    k = preparedKey(publicKeyId(ek), ek).decapsulate(rawCiphertext, raw);
  } catch (error) {
    throw new ParleyError(
      'ERR_INVALID_KEY',
      '"secretKey" is not a valid Kyber-1024 secret key',
      { field: 'secretKey' },
      { cause: error },
    );
  }
  const sharedSecret = deriveSharedSecret(k, rawCiphertext);
  k.fill(0);
  return sharedSecret;
}
