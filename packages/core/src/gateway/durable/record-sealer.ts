import { concatBytes, copyBytes, utf8 } from '../../bytes.js';
import type { CryptoProvider, RandomSource } from '../../crypto/provider.js';
import { isParleyError, ParleyError } from '../../errors.js';
import type { RecordSealer } from '../../session/record-sealer.js';
import type { Namespace } from '../../storage/contract.js';

const SEALED_FORMAT = 1;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;

/**
 * AES-256-GCM record sealing under one business's record key (unwrapped once from the
 * operator's key provider). A fresh random 96-bit nonce per write: at the gateway's write
 * rates the birthday bound (2^32 writes per key) is far away. The associated data is the
 * record's namespace and key, so a sealed record copied under another key does not open.
 */
export function createAesGcmSealer(
  crypto: CryptoProvider,
  random: RandomSource,
  dataKey: Uint8Array,
): RecordSealer {
  const key = copyBytes(dataKey);
  const aad = (namespace: Namespace, recordKey: string) => utf8(`${namespace}\u0000${recordKey}`);
  return {
    seal(namespace, recordKey, plaintext) {
      const nonce = random(NONCE_LENGTH);
      return concatBytes(
        Uint8Array.of(SEALED_FORMAT),
        nonce,
        crypto.aes256GcmEncrypt(key, nonce, plaintext, aad(namespace, recordKey)),
      );
    },
    open(namespace, recordKey, sealed) {
      if (sealed.length < 1 + NONCE_LENGTH + TAG_LENGTH || sealed[0] !== SEALED_FORMAT) {
        throw new ParleyError('ERR_INVALID_RECORD', 'sealed record has an unknown format', { namespace });
      }
      try {
        return crypto.aes256GcmDecrypt(
          key,
          sealed.subarray(1, 1 + NONCE_LENGTH),
          sealed.subarray(1 + NONCE_LENGTH),
          aad(namespace, recordKey),
        );
      } catch (error) {
        if (isParleyError(error)) {
          throw new ParleyError(
            'ERR_INVALID_RECORD',
            'sealed record does not open (wrong key or moved record)',
            {
              namespace,
            },
          );
        }
        throw error;
      }
    },
  };
}
