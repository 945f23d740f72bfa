/**
 * The crypto facade. Synchronous on purpose (see DESIGN.md): the ratchet stays a pure
 * function of (state, input), and a whole decrypt fits inside one storage transaction.
 *
 * Two providers implement it: `createPortableCrypto()` (noble only, runs anywhere) and
 * `createNodeCrypto()` from `@parley/core/node` (node:crypto where it is faster and
 * constant time). They must agree byte for byte; tests cross-check them.
 *
 * Conventions for every method:
 * - Curve25519 keys here are raw 32-byte values (no 0x05 type byte; see `keys/`).
 * - Bad input shape throws `ParleyError` `ERR_INVALID_ARGUMENT` naming the field.
 * - Inputs are never mutated; outputs are fresh arrays the caller owns.
 */
export interface CryptoProvider {
  readonly name: string;

  /** Curve25519 public key (u-coordinate) for a 32-byte private key; the key is clamped first. */
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /**
   * X25519 shared secret. A low-order or otherwise degenerate public key (an all-zero
   * result) throws `ERR_INVALID_KEY`.
   */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;

  /** XEdDSA signature (64 bytes) as libsignal computes it; `random` must be 64 bytes. */
  xeddsaSign(privateKey: Uint8Array, message: Uint8Array, random: Uint8Array): Uint8Array;
  /** XEdDSA verification against a 32-byte Curve25519 public key; never throws on bad signatures. */
  xeddsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** Plain Ed25519 (RFC 8032) verification; XEdDSA verify is built on it. Never throws on bad input. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** Ed25519 (RFC 8032) public key (32 bytes, Edwards encoding) of a 32-byte seed. */
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  /**
   * Ed25519 (RFC 8032, deterministic nonce) signature with a 32-byte seed. Group signing keys
   * are made this way: XEdDSA verifiers accept the signature once the Edwards sign bit is put
   * in byte 63 (see `groups/sender-signing-key.ts`), and OpenSSL signs ~25× faster than XEdDSA
   * in JavaScript.
   */
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;

  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF-SHA256 (RFC 5869). An empty or absent salt means 32 zero bytes. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array, length: number): Uint8Array;

  /** AES-256-CBC with PKCS#7 padding. */
  aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Bad padding or a length that is not a multiple of 16 throws `ERR_DECRYPTION_FAILED`. */
  aes256CbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  /** AES-256-GCM with a 12-byte nonce; returns ciphertext ‖ 16-byte tag. */
  aes256GcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  /** A wrong tag throws `ERR_DECRYPTION_FAILED`. */
  aes256GcmDecrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array;

  // Incremental forms, for data that does not fit in memory (media files). Fed the same bytes
  // in any chunking, each produces exactly the bytes of its one-shot counterpart above.

  /** Incremental `sha256`. */
  createSha256(): IncrementalHash;
  /** Incremental `hmacSha256`. */
  createHmacSha256(key: Uint8Array): IncrementalHash;
  /** Incremental `aes256CbcEncrypt` (PKCS#7 padding added by `final`). */
  createAes256CbcEncryptor(key: Uint8Array, iv: Uint8Array): IncrementalCipher;
  /**
   * Incremental `aes256CbcDecrypt`. The last block is held back until `final`, which checks
   * the padding: bad padding, or a total length that is zero or not a multiple of 16, throws
   * `ERR_DECRYPTION_FAILED` there.
   */
  createAes256CbcDecryptor(key: Uint8Array, iv: Uint8Array): IncrementalCipher;
  /**
   * Incremental AES-256-GMAC (NIST SP 800-38D): the 16-byte AES-256-GCM tag of associated data
   * alone, i.e. `aes256GcmEncrypt(key, nonce, empty, aad)`, with `aad` fed in pieces.
   */
  createAes256Gmac(key: Uint8Array, nonce: Uint8Array): IncrementalHash;
}

/**
 * A hash or MAC fed in pieces. `digest` ends it; any later call throws `ERR_INVALID_ARGUMENT`.
 * Input chunks are read during the call and never kept.
 */
export interface IncrementalHash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/**
 * A cipher fed in pieces. `update` returns the output that is ready (possibly empty; how the
 * output is split across calls may differ between providers, the concatenation never does);
 * `final` returns the rest and ends it; any later call throws `ERR_INVALID_ARGUMENT`.
 */
export interface IncrementalCipher {
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}

/** Source of randomness, injected everywhere (tests use a deterministic one). */
export type RandomSource = (length: number) => Uint8Array;
