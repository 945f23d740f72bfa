import { concatBytes, copyBytes } from '../bytes.js';
import { assertBytes, assertInteger } from '../crypto/guards.js';
import type { CryptoProvider, IncrementalCipher, IncrementalHash } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { type EncryptedMedia, redactEncryptedMedia } from './encrypted-media.js';
import { mediaTooLargeError } from './media-errors.js';
import { MAX_MEDIA_FILE_LENGTH, MEDIA_MAC_LENGTH } from './media-format.js';
import { deriveMediaKeys, type MediaKeys, wipeMediaKeys } from './media-keys.js';
import { assertMediaType, type MediaType } from './media-type.js';

export interface MediaEncryptorOptions {
  readonly crypto: CryptoProvider;
  readonly type: MediaType;
  /** 32 fresh random bytes; one key per file, never reused. */
  readonly mediaKey: Uint8Array;
  /** Plaintext bytes allowed; one byte more is refused before it is processed. */
  readonly maxBytes?: number | undefined;
}

/**
 * Encrypts one file in one pass, in pieces: AES-256-CBC, the MAC and both hashes are updated
 * from the same chunk, so memory stays constant whatever the file size.
 */
export class MediaEncryptor {
  readonly #type: MediaType;
  readonly #mediaKey: Uint8Array;
  readonly #maxBytes: number;
  readonly #keys: MediaKeys;
  readonly #cipher: IncrementalCipher;
  readonly #mac: IncrementalHash;
  readonly #plainHash: IncrementalHash;
  readonly #blobHash: IncrementalHash;
  #fileLength = 0;
  #encryptedLength = 0;
  #ended = false;

  constructor(options: MediaEncryptorOptions) {
    const { crypto, type, mediaKey } = options;
    assertMediaType(type);
    assertBytes(mediaKey, 'mediaKey', 32);
    this.#maxBytes = options.maxBytes ?? MAX_MEDIA_FILE_LENGTH;
    assertInteger(this.#maxBytes, 'maxBytes', 0, MAX_MEDIA_FILE_LENGTH);
    this.#type = type;
    this.#mediaKey = copyBytes(mediaKey);
    this.#keys = deriveMediaKeys(crypto, mediaKey, type);
    this.#cipher = crypto.createAes256CbcEncryptor(this.#keys.cipherKey, this.#keys.iv);
    this.#mac = crypto.createHmacSha256(this.#keys.macKey);
    this.#mac.update(this.#keys.iv);
    this.#plainHash = crypto.createSha256();
    this.#blobHash = crypto.createSha256();
  }

  /** Encrypts the next plaintext bytes; returns the blob bytes ready so far. */
  update(plaintext: Uint8Array): Uint8Array {
    this.#assertOpen();
    assertBytes(plaintext, 'plaintext');
    if (this.#fileLength + plaintext.length > this.#maxBytes) {
      const error = mediaTooLargeError(`media ${this.#type}`, this.#maxBytes);
      this.abort();
      throw error;
    }
    this.#fileLength += plaintext.length;
    this.#plainHash.update(plaintext);
    return this.#ciphertext(this.#cipher.update(plaintext));
  }

  /** Ends the file: the last blob bytes (final block ‖ MAC) and the pointer fields. */
  finish(): { readonly tail: Uint8Array; readonly media: EncryptedMedia } {
    this.#assertOpen();
    this.#ended = true;
    const last = this.#ciphertext(this.#cipher.final());
    const mac = this.#mac.digest().subarray(0, MEDIA_MAC_LENGTH);
    this.#blobHash.update(mac);
    this.#encryptedLength += MEDIA_MAC_LENGTH;
    const media = redactEncryptedMedia({
      type: this.#type,
      mediaKey: this.#mediaKey,
      fileSha256: this.#plainHash.digest(),
      fileEncSha256: this.#blobHash.digest(),
      fileLength: this.#fileLength,
      encryptedLength: this.#encryptedLength,
    });
    wipeMediaKeys(this.#keys);
    return { tail: concatBytes(last, mac), media };
  }

  /** Gives up (source failed, caller cancelled): wipes the keys; later calls throw. */
  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    wipeMediaKeys(this.#keys);
    this.#mediaKey.fill(0);
  }

  #ciphertext(bytes: Uint8Array): Uint8Array {
    if (bytes.length > 0) {
      this.#mac.update(bytes);
      this.#blobHash.update(bytes);
      this.#encryptedLength += bytes.length;
    }
    return bytes;
  }

  #assertOpen(): void {
    if (this.#ended) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', 'the media encryptor was already finished or aborted', {
        field: 'encryptor',
      });
    }
  }
}
