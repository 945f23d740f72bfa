/**
 * The Node provider: node:crypto (OpenSSL) for X25519, Ed25519 signing and verification,
 * hashes, HMAC, HKDF (short inputs in JavaScript, see short-hmac.ts) and AES. XEdDSA signing stays on the portable code (OpenSSL has no XEdDSA).
 *
 * Keys cross into OpenSSL as raw JWK: measured on Node 20, JWK import is 8–37 µs where DER
 * costs 120–525 µs. `generateKeyPairSync` is never used: exporting its keys in a loop deadlocks
 * Node 20.20 (see DESIGN.md); key generation is random bytes + `x25519PublicKey`.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { concatBytes } from '../bytes.js';
import { constantTimeEqual } from './constant-time.js';
import { assertBytes } from './guards.js';
import { endedError, guardedHash } from './incremental.js';
import { checkGcmArguments, checkHkdfArguments, decryptionFailed, invalidKey } from './portable.js';
import type { CryptoProvider, IncrementalCipher } from './provider.js';
import { fitsShortHkdf, fitsShortHmac, shortHkdfSha256, shortHmacSha256 } from './short-hmac.js';
import { montgomeryToEdwards, xeddsaSign, xeddsaToEd25519 } from './xeddsa.js';

/** Node's `hkdfSync` refuses an info longer than this; longer ones take the HMAC path. */
const NODE_HKDF_MAX_INFO = 1024;
/** RFC 5869's default salt (never written to). */
const ZERO_SALT = new Uint8Array(32);
/** Identity keys and signed prekeys of a few hundred peers; enough to skip most re-imports. */
const PUBLIC_KEY_CACHE_SIZE = 256;
/**
 * Own private keys by content, for the same key arriving in a new array (a signed prekey read
 * from the store for every session it answers, then copied into the session as its first
 * ratchet key). Small: it only has to bridge the few operations between such reads.
 */
const PRIVATE_KEY_CACHE_SIZE = 64;
/** XEdDSA public keys converted to Edwards form (identity keys of peers whose bundles we verify). */
const EDWARDS_KEY_CACHE_SIZE = 256;

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** A fresh plain Uint8Array the caller owns (not a view into Node's shared Buffer pool). */
function owned(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer);
}

/**
 * A plain Uint8Array over a Buffer that node:crypto allocated for this result alone (digests,
 * DH outputs): no copy. Only for such outputs — `Buffer.from` of short inputs shares a pool
 * slab, which must be copied out with `owned`.
 */
function view(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Small insertion-ordered cache; a hit moves the entry to the young end. */
class BoundedCache<V> {
  readonly #entries = new Map<string, V>();
  constructor(readonly capacity: number) {}

  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
  }
}

/**
 * OpenSSL's incremental AES-CBC. Its `update` output is a buffer allocated for that call (never
 * a pooled slab), so it is handed out as a view without copying: at media sizes a copy per
 * chunk would cost as much as the AES itself.
 */
function nodeCbc(
  what: string,
  cipher: { update(data: Uint8Array): Buffer; final(): Buffer },
): IncrementalCipher {
  let ended = false;
  return {
    update(data) {
      if (ended) throw endedError(what);
      assertBytes(data, 'data');
      return view(cipher.update(data));
    },
    final() {
      if (ended) throw endedError(what);
      ended = true;
      try {
        return view(cipher.final());
      } catch (error) {
        // Only the decryptor can fail here: bad padding, or a length that is not whole blocks.
        throw decryptionFailed('AES-256-CBC', error);
      }
    },
  };
}

export function createNodeCrypto(): CryptoProvider {
  // Keyed by the caller's array so a long-lived identity key is imported once. The copy guards
  // against a caller that reuses or wipes the same array for another key.
  const privateKeys = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>();
  const x25519PublicKeys = new BoundedCache<KeyObject>(PUBLIC_KEY_CACHE_SIZE);
  const ed25519PublicKeys = new BoundedCache<KeyObject>(PUBLIC_KEY_CACHE_SIZE);

  const ed25519Seeds = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>();
  // Importing a private key makes OpenSSL derive its public half (a scalar multiplication,
  // ~35 µs): a key seen before in another array is found by content. The map is keyed by a
  // one-way tag of the key (HMAC-SHA256 under a fixed label; no randomness is read here), so no
  // key bytes become a string; the stored copy is compared in constant time.
  const privateKeysByContent = new BoundedCache<{ bytes: Uint8Array; key: KeyObject }>(
    PRIVATE_KEY_CACHE_SIZE,
  );
  const contentTagKey = new TextEncoder().encode('parley node provider key cache v1');
  const edwardsKeys = new BoundedCache<Uint8Array | null>(EDWARDS_KEY_CACHE_SIZE);

  function importPrivate(privateKey: Uint8Array): KeyObject {
    return importOkpPrivate(privateKeys, 'X25519', privateKey);
  }

  function importOkpPrivate(
    cache: WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>,
    crv: 'X25519' | 'Ed25519',
    privateKey: Uint8Array,
  ): KeyObject {
    const cached = cache.get(privateKey);
    if (cached !== undefined && constantTimeEqual(cached.bytes, privateKey)) return cached.key;
    const tag = `${crv}:${base64url(shortHmacSha256(contentTagKey, privateKey).subarray(0, 16))}`;
    const known = privateKeysByContent.get(tag);
    if (known !== undefined && constantTimeEqual(known.bytes, privateKey)) {
      cache.set(privateKey, known);
      return known.key;
    }
    // Node reads only `d` for a private OKP key (OpenSSL derives the public half); `x` must
    // merely be a string.
    const key = createPrivateKey({
      key: { kty: 'OKP', crv, d: base64url(privateKey), x: '' },
      format: 'jwk',
    });
    const entry = { bytes: Uint8Array.from(privateKey), key };
    cache.set(privateKey, entry);
    privateKeysByContent.set(tag, entry);
    return key;
  }

  /** `montgomeryToEdwards`, remembered per public key and sign (a modular inversion each, ~100 µs). */
  function cachedEdwards(u: Uint8Array, signBit: number): Uint8Array | undefined {
    const id = `${signBit & 1}${base64url(u)}`;
    let edwards = edwardsKeys.get(id);
    if (edwards === undefined) {
      edwards = montgomeryToEdwards(u, signBit) ?? null;
      edwardsKeys.set(id, edwards);
    }
    return edwards ?? undefined;
  }

  function importPublic(
    cache: BoundedCache<KeyObject>,
    crv: 'X25519' | 'Ed25519',
    publicKey: Uint8Array,
  ): KeyObject {
    const x = base64url(publicKey);
    let key = cache.get(x);
    if (key === undefined) {
      key = createPublicKey({ key: { kty: 'OKP', crv, x }, format: 'jwk' });
      cache.set(x, key);
    }
    return key;
  }

  function ed25519VerifyNode(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return nodeVerify(null, message, importPublic(ed25519PublicKeys, 'Ed25519', publicKey), signature);
    } catch {
      return false;
    }
  }

  return {
    name: 'node',

    x25519PublicKey(privateKey) {
      assertBytes(privateKey, 'privateKey', 32);
      // Measured faster than X25519 with the base point (≈40 µs vs ≈80 µs per key), and it
      // exports a key we imported ourselves, not one from a key-generation job.
      const jwk = importPrivate(privateKey).export({ format: 'jwk' });
      if (typeof jwk.x !== 'string') throw new Error('node:crypto returned a JWK without "x"');
      return owned(Buffer.from(jwk.x, 'base64url'));
    },

    x25519(privateKey, publicKey) {
      assertBytes(privateKey, 'privateKey', 32);
      assertBytes(publicKey, 'publicKey', 32);
      const ours = importPrivate(privateKey);
      const theirs = importPublic(x25519PublicKeys, 'X25519', publicKey);
      try {
        // OpenSSL refuses an all-zero result (RFC 7748 §6.1), i.e. exactly the low-order inputs.
        return view(diffieHellman({ privateKey: ours, publicKey: theirs }));
      } catch (error) {
        throw invalidKey(error);
      }
    },

    xeddsaSign,

    xeddsaVerify(publicKey, message, signature) {
      assertBytes(publicKey, 'publicKey', 32);
      assertBytes(message, 'message');
      assertBytes(signature, 'signature');
      const parts = xeddsaToEd25519(publicKey, signature, cachedEdwards);
      if (parts === undefined) return false;
      // `parts` is a canonical Edwards key and an s < ℓ: on those inputs OpenSSL's cofactorless
      // RFC 8032 check is libsignal's equation (cross-checked in the tests).
      return ed25519VerifyNode(parts.publicKey, message, parts.signature);
    },

    ed25519Verify(publicKey, message, signature) {
      assertBytes(publicKey, 'publicKey');
      assertBytes(message, 'message');
      assertBytes(signature, 'signature');
      return ed25519VerifyNode(publicKey, message, signature);
    },

    ed25519PublicKey(seed) {
      assertBytes(seed, 'seed', 32);
      const jwk = importOkpPrivate(ed25519Seeds, 'Ed25519', seed).export({ format: 'jwk' });
      if (typeof jwk.x !== 'string') throw new Error('node:crypto returned a JWK without "x"');
      return owned(Buffer.from(jwk.x, 'base64url'));
    },

    ed25519Sign(seed, message) {
      assertBytes(seed, 'seed', 32);
      assertBytes(message, 'message');
      return owned(nodeSign(null, message, importOkpPrivate(ed25519Seeds, 'Ed25519', seed)));
    },

    sha256(data) {
      assertBytes(data, 'data');
      return view(createHash('sha256').update(data).digest());
    },
    sha512(data) {
      assertBytes(data, 'data');
      return view(createHash('sha512').update(data).digest());
    },
    hmacSha256(key, data) {
      assertBytes(key, 'key');
      assertBytes(data, 'data');
      if (fitsShortHmac(key, data)) return shortHmacSha256(key, data);
      return view(createHmac('sha256', key).update(data).digest());
    },
    hkdfSha256(ikm, salt, info, length) {
      checkHkdfArguments(ikm, salt, info, length);
      const effectiveSalt = salt === undefined || salt.length === 0 ? ZERO_SALT : salt;
      if (fitsShortHkdf(ikm, effectiveSalt, info, length)) {
        return shortHkdfSha256(ikm, effectiveSalt, info, length);
      }
      if (info.length <= NODE_HKDF_MAX_INFO) {
        return new Uint8Array(hkdfSync('sha256', ikm, effectiveSalt, info, length));
      }
      // RFC 5869 by hand for long infos; same result as hkdfSync where both apply.
      const prk = createHmac('sha256', effectiveSalt).update(ikm).digest();
      const out = new Uint8Array(length);
      let block: Uint8Array = new Uint8Array(0);
      for (let i = 0, offset = 0; offset < length; i++, offset += 32) {
        block = createHmac('sha256', prk)
          .update(block)
          .update(info)
          .update(Uint8Array.of(i + 1))
          .digest();
        out.set(block.subarray(0, Math.min(32, length - offset)), offset);
      }
      prk.fill(0);
      return out;
    },

    aes256CbcEncrypt(key, iv, plaintext) {
      assertBytes(key, 'key', 32);
      assertBytes(iv, 'iv', 16);
      assertBytes(plaintext, 'plaintext');
      const cipher = createCipheriv('aes-256-cbc', key, iv);
      return concatBytes(cipher.update(plaintext), cipher.final());
    },
    aes256CbcDecrypt(key, iv, ciphertext) {
      assertBytes(key, 'key', 32);
      assertBytes(iv, 'iv', 16);
      assertBytes(ciphertext, 'ciphertext');
      if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw decryptionFailed('AES-256-CBC');
      try {
        const decipher = createDecipheriv('aes-256-cbc', key, iv);
        return concatBytes(decipher.update(ciphertext), decipher.final());
      } catch (error) {
        throw decryptionFailed('AES-256-CBC', error);
      }
    },
    aes256GcmEncrypt(key, nonce, plaintext, aad) {
      checkGcmArguments(key, nonce, plaintext, aad);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      if (aad !== undefined) cipher.setAAD(aad);
      return concatBytes(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
    },
    aes256GcmDecrypt(key, nonce, sealed, aad) {
      checkGcmArguments(key, nonce, sealed, aad);
      if (sealed.length < 16) throw decryptionFailed('AES-256-GCM');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        if (aad !== undefined) decipher.setAAD(aad);
        return concatBytes(decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final());
      } catch (error) {
        throw decryptionFailed('AES-256-GCM', error);
      }
    },

    createSha256() {
      const hash = createHash('sha256');
      return guardedHash(
        'SHA-256',
        (data) => hash.update(data),
        () => view(hash.digest()),
      );
    },
    createHmacSha256(key) {
      assertBytes(key, 'key');
      const mac = createHmac('sha256', key);
      return guardedHash(
        'HMAC-SHA256',
        (data) => mac.update(data),
        () => view(mac.digest()),
      );
    },
    createAes256CbcEncryptor(key, iv) {
      assertBytes(key, 'key', 32);
      assertBytes(iv, 'iv', 16);
      return nodeCbc('AES-256-CBC encryptor', createCipheriv('aes-256-cbc', key, iv));
    },
    createAes256CbcDecryptor(key, iv) {
      assertBytes(key, 'key', 32);
      assertBytes(iv, 'iv', 16);
      return nodeCbc('AES-256-CBC decryptor', createDecipheriv('aes-256-cbc', key, iv));
    },
    createAes256Gmac(key, nonce) {
      assertBytes(key, 'key', 32);
      assertBytes(nonce, 'nonce', 12);
      // GCM with associated data only: OpenSSL runs just GHASH over it (several GB/s with
      // PCLMULQDQ) and takes the AAD in as many pieces as it comes.
      const gcm = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      return guardedHash(
        'AES-256-GMAC',
        (data) => {
          gcm.setAAD(data);
        },
        () => {
          gcm.final();
          return owned(gcm.getAuthTag());
        },
      );
    },
  };
}
