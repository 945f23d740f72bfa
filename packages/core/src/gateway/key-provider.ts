import { concatBytes, copyBytes, utf8 } from '../bytes.js';
import {
  assertOptionalCryptoProvider,
  assertOptionalFunction,
  assertOptionalString,
  assertOptions,
} from '../configuration.js';
import { defaultCrypto } from '../crypto/default.js';
import { assertBytes } from '../crypto/guards.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { isParleyError, ParleyError } from '../errors.js';

/**
 * The operator's key-encryption key, KMS-style: Parley never sees the KEK, only asks the
 * provider to wrap and unwrap its own data keys (the record key and pseudonym key of each
 * business, and every retention period's content key). `context` names what a data key is
 * for and is bound to the wrapping, so a wrapped key moved to another purpose does not
 * unwrap. A cloud KMS adapter implements this with its encrypt/decrypt calls and
 * "encryption context".
 */
export interface KeyProvider {
  /** For diagnostics, e.g. "local", "aws-kms". */
  readonly name: string;
  /** Where the KEK lives and where unwrapping happens (checked for pinned businesses). */
  readonly region?: string | undefined;
  wrapKey(dataKey: Uint8Array, context: string): Promise<Uint8Array>;
  /** Throws `ERR_DECRYPTION_FAILED` when the wrapped key, the KEK or the context do not match. */
  unwrapKey(wrapped: Uint8Array, context: string): Promise<Uint8Array>;
}

export interface LocalKeyProviderOptions {
  /** 32-byte key-encryption key. Copied; the caller may wipe its own buffer. */
  readonly kek: Uint8Array;
  readonly region?: string;
  readonly crypto?: CryptoProvider;
  readonly random?: RandomSource;
}

const WRAP_FORMAT = 1;
const NONCE_LENGTH = 12;
const KEK_LENGTH = 32;

/**
 * A key provider holding the KEK in process memory: for development and tests. In
 * production the KEK belongs in a KMS or HSM, where it cannot be read out.
 */
export function createLocalKeyProvider(options: LocalKeyProviderOptions): KeyProvider {
  assertOptions(options, 'options', 'createLocalKeyProvider({ kek }) with a 32-byte key-encryption key');
  assertOptionalCryptoProvider(options.crypto, 'crypto');
  assertOptionalFunction(options.random, 'random', 'a random source: (length) => Uint8Array');
  assertOptionalString(options.region, 'region', 'a region name such as "eu"');
  if (!(options.kek instanceof Uint8Array) || options.kek.length !== KEK_LENGTH) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"kek" expected ${KEK_LENGTH} bytes`, {
      length: options.kek instanceof Uint8Array ? options.kek.length : undefined,
    });
  }
  const kek = copyBytes(options.kek);
  const crypto = options.crypto ?? defaultCrypto();
  const random = options.random ?? defaultRandom;
  const aad = (context: string) => utf8(`parley/wrap/v${WRAP_FORMAT}/${context}`);
  const checkContext = (context: unknown) => {
    if (typeof context !== 'string' || context.length === 0) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"context" expected a non-empty string', {
        field: 'context',
      });
    }
  };
  return {
    name: 'local',
    region: options.region,
    async wrapKey(dataKey, context) {
      assertBytes(dataKey, 'dataKey');
      checkContext(context);
      const nonce = random(NONCE_LENGTH);
      return concatBytes(
        Uint8Array.of(WRAP_FORMAT),
        nonce,
        crypto.aes256GcmEncrypt(kek, nonce, dataKey, aad(context)),
      );
    },
    async unwrapKey(wrapped, context) {
      assertBytes(wrapped, 'wrapped');
      checkContext(context);
      if (wrapped.length < 1 + NONCE_LENGTH + 16 || wrapped[0] !== WRAP_FORMAT) {
        throw new ParleyError('ERR_DECRYPTION_FAILED', 'wrapped key has an unknown format', {
          length: wrapped.length,
        });
      }
      try {
        return crypto.aes256GcmDecrypt(
          kek,
          wrapped.subarray(1, 1 + NONCE_LENGTH),
          wrapped.subarray(1 + NONCE_LENGTH),
          aad(context),
        );
      } catch (error) {
        if (isParleyError(error)) {
          throw new ParleyError(
            'ERR_DECRYPTION_FAILED',
            'wrapped key does not open under this key provider',
            {
              provider: 'local',
            },
          );
        }
        throw error;
      }
    },
  };
}
