import { copyBytes } from '../bytes.js';
import { constantTimeEqual } from '../crypto/constant-time.js';
import { assertBytes, assertInteger } from '../crypto/guards.js';
import type { CryptoProvider, IncrementalCipher, IncrementalHash, RandomSource } from '../crypto/provider.js';
import { isParleyError, ParleyError } from '../errors.js';
import { type MediaCheck, mediaIntegrityError } from './media-errors.js';
import {
  encryptedLength,
  MAX_MEDIA_FILE_LENGTH,
  MEDIA_HASH_LENGTH,
  MEDIA_KEY_LENGTH,
  MEDIA_MAC_LENGTH,
} from './media-format.js';
import { deriveMediaKeys, type MediaKeys, wipeMediaKeys } from './media-keys.js';
import type { MediaPointer } from './media-pointer.js';
import { assertMediaType } from './media-type.js';
import { SegmentBinding, type SegmentWalk } from './segment-binding.js';

/** The pointer fields that decrypting and checking a blob needs. */
export type MediaDescriptor = Pick<
  MediaPointer,
  'type' | 'mediaKey' | 'fileSha256' | 'fileEncSha256' | 'fileLength'
>;

export function assertMediaDescriptor(value: MediaDescriptor): void {
  if (value === null || typeof value !== 'object') {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"pointer" expected an object', { field: 'pointer' });
  }
  assertMediaType(value.type);
  assertBytes(value.mediaKey, 'mediaKey', MEDIA_KEY_LENGTH);
  assertBytes(value.fileSha256, 'fileSha256', MEDIA_HASH_LENGTH);
  assertBytes(value.fileEncSha256, 'fileEncSha256', MEDIA_HASH_LENGTH);
  assertInteger(value.fileLength, 'fileLength', 0, MAX_MEDIA_FILE_LENGTH);
}

/** Proof that pass 1 accepted a blob, handed to pass 2 (`MediaDecryptor`). Use once. */
export interface VerifiedBlob {
  readonly descriptor: MediaDescriptor;
  readonly encryptedLength: number;
  /** @internal */
  readonly binding: SegmentBinding;
  /** The plaintext in pieces, when the verifier was asked to keep it (small files, bytes in memory). */
  readonly plaintext: readonly Uint8Array[] | undefined;
}

export interface MediaVerifierOptions {
  readonly crypto: CryptoProvider;
  /** Draws the binding key (see segment-binding.ts). */
  readonly random: RandomSource;
  readonly descriptor: MediaDescriptor;
  /** Keep the decrypted plaintext for `finish` (only for blobs already in memory). */
  readonly keepPlaintext?: boolean;
}

/**
 * Pass 1 of decryption: reads the whole blob and checks, in this order, its length, the MAC
 * (constant time), `fileEncSha256`, the padding, `fileLength` and `fileSha256` — decrypting to
 * hash the plaintext, which is dropped chunk by chunk and never handed out. Reading stops at the
 * first byte past the expected length, so a source that never ends costs nothing.
 */
export class MediaVerifier {
  readonly #descriptor: MediaDescriptor;
  readonly #keys: MediaKeys;
  readonly #expectedLength: number;
  readonly #macOffset: number;
  readonly #mac: IncrementalHash;
  readonly #blobHash: IncrementalHash;
  readonly #plainHash: IncrementalHash;
  readonly #cipher: IncrementalCipher;
  readonly #binding: SegmentBinding;
  readonly #segments: SegmentWalk;
  readonly #receivedMac = new Uint8Array(MEDIA_MAC_LENGTH);
  readonly #kept: Uint8Array[] | undefined;
  #offset = 0;
  #plainLength = 0;
  #ended = false;

  constructor(options: MediaVerifierOptions) {
    const { crypto, descriptor } = options;
    assertMediaDescriptor(descriptor);
    this.#descriptor = {
      type: descriptor.type,
      mediaKey: copyBytes(descriptor.mediaKey),
      fileSha256: copyBytes(descriptor.fileSha256),
      fileEncSha256: copyBytes(descriptor.fileEncSha256),
      fileLength: descriptor.fileLength,
    };
    this.#keys = deriveMediaKeys(crypto, descriptor.mediaKey, descriptor.type);
    this.#expectedLength = encryptedLength(descriptor.fileLength);
    this.#macOffset = this.#expectedLength - MEDIA_MAC_LENGTH;
    this.#mac = crypto.createHmacSha256(this.#keys.macKey);
    this.#mac.update(this.#keys.iv);
    this.#blobHash = crypto.createSha256();
    this.#plainHash = crypto.createSha256();
    this.#cipher = crypto.createAes256CbcDecryptor(this.#keys.cipherKey, this.#keys.iv);
    this.#binding = new SegmentBinding(crypto, options.random);
    this.#segments = this.#binding.walk(this.#expectedLength);
    this.#kept = options.keepPlaintext ? [] : undefined;
  }

  /** The blob's length if it is the one the pointer describes. */
  get expectedLength(): number {
    return this.#expectedLength;
  }

  /** Reads the next blob bytes. Throws `ERR_MEDIA_INTEGRITY` (`length`) at once on excess bytes. */
  update(chunk: Uint8Array): void {
    this.#assertOpen();
    assertBytes(chunk, 'chunk');
    if (chunk.length > this.#expectedLength - this.#offset) this.#fail('length');
    const start = this.#offset;
    this.#offset += chunk.length;
    this.#blobHash.update(chunk);
    this.#segments.feed(chunk, (_piece, _offset, tag) => {
      if (tag !== undefined) this.#binding.record(tag);
    });
    // Split the chunk at the MAC boundary: bytes before it are ciphertext, bytes after it MAC.
    const cipherEnd = Math.max(0, Math.min(chunk.length, this.#macOffset - start));
    if (cipherEnd > 0) {
      const ciphertext = chunk.subarray(0, cipherEnd);
      this.#mac.update(ciphertext);
      this.#consume(this.#cipher.update(ciphertext));
    }
    if (cipherEnd < chunk.length) {
      this.#receivedMac.set(chunk.subarray(cipherEnd), start + cipherEnd - this.#macOffset);
    }
  }

  /** Runs the checks; on success the blob may be decrypted by a `MediaDecryptor` with the result. */
  finish(): VerifiedBlob {
    this.#assertOpen();
    this.#ended = true;
    try {
      if (this.#offset !== this.#expectedLength) this.#fail('length');
      const mac = this.#mac.digest().subarray(0, MEDIA_MAC_LENGTH);
      if (!constantTimeEqual(mac, this.#receivedMac)) this.#fail('mac');
      if (!constantTimeEqual(this.#blobHash.digest(), this.#descriptor.fileEncSha256))
        this.#fail('fileEncSha256');
      try {
        this.#consume(this.#cipher.final());
      } catch (error) {
        if (isParleyError(error, 'ERR_DECRYPTION_FAILED')) this.#fail('padding');
        throw error;
      }
      if (this.#plainLength !== this.#descriptor.fileLength) this.#fail('fileLength');
      if (!constantTimeEqual(this.#plainHash.digest(), this.#descriptor.fileSha256)) this.#fail('fileSha256');
    } catch (error) {
      this.#destroy();
      throw error;
    }
    wipeMediaKeys(this.#keys);
    // Checked: the kept pieces now belong to whoever releases them.
    const plaintext = this.#kept === undefined ? undefined : this.#kept.splice(0);
    return {
      descriptor: this.#descriptor,
      encryptedLength: this.#expectedLength,
      binding: this.#binding,
      plaintext,
    };
  }

  /** Gives up (source failed, caller cancelled). */
  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#destroy();
  }

  #consume(plaintext: Uint8Array): void {
    if (plaintext.length === 0) return;
    this.#plainLength += plaintext.length;
    this.#plainHash.update(plaintext);
    // Pass 1 hands no plaintext out: unless kept, the chunk is dropped here. (Not wiped: on
    // success pass 2 releases the same bytes, and the memset would cost ~3 % of the pass.)
    this.#kept?.push(plaintext);
  }

  #fail(check: MediaCheck): never {
    if (!this.#ended) {
      this.#ended = true;
      this.#destroy();
    }
    throw mediaIntegrityError(check, this.#descriptor.type);
  }

  #destroy(): void {
    wipeMediaKeys(this.#keys);
    this.#binding.destroy();
    this.#receivedMac.fill(0);
    this.#descriptor.mediaKey.fill(0);
    this.#wipeKept();
  }

  #wipeKept(): void {
    if (this.#kept === undefined) return;
    for (const part of this.#kept) part.fill(0);
    this.#kept.length = 0;
  }

  #assertOpen(): void {
    if (this.#ended) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', 'the media verifier was already finished or aborted', {
        field: 'verifier',
      });
    }
  }
}
