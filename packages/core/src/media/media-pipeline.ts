/**
 * The streaming pipelines, written once as async generators; `media-streams.ts` (Web Streams)
 * and `node-streams.ts` (Node streams, `@parley/core/node`) only wrap them.
 *
 * Decryption is verify-then-decrypt in two passes over a re-openable source, rather than one
 * pass into an encrypted temporary: the media layer's sources are a blob store (which re-reads
 * for free and already holds only ciphertext) or bytes in memory, so a temporary would be a
 * second copy of the same ciphertext with no gain, and one that browsers cannot write cheaply.
 * The price is reading the blob twice and decrypting it twice (AES-CBC decryption is the
 * cheapest part of the work); `segment-binding.ts` makes the second read safe.
 */
import { defaultCrypto } from '../crypto/default.js';
import { assertInteger } from '../crypto/guards.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { ParleyError } from '../errors.js';
import { type MediaByteSource, type MediaSourceOpener, readBytes } from './byte-source.js';
import type { EncryptedMedia } from './encrypted-media.js';
import { MediaDecryptor } from './media-decryptor.js';
import { MediaEncryptor } from './media-encryptor.js';
import { mediaTooLargeError } from './media-errors.js';
import { MAX_MEDIA_FILE_LENGTH, MEDIA_KEY_LENGTH } from './media-format.js';
import { assertMediaType, type MediaType } from './media-type.js';
import { assertMediaDescriptor, type MediaDescriptor, MediaVerifier } from './media-verifier.js';

/**
 * Files up to this size are decrypted in one pass: the plaintext of the checking pass is held
 * (at most this much memory) and released once every check passed, instead of reading and
 * decrypting the blob a second time. Most photos and voice notes are below it.
 */
export const SINGLE_PASS_MAX_BYTES = 2 * 1024 * 1024;

export interface MediaProgress {
  /** `encrypt`: plaintext read; `verify` and `decrypt`: blob bytes read in pass 1 and pass 2. */
  readonly phase: 'encrypt' | 'verify' | 'decrypt';
  readonly bytes: number;
  /** Bytes expected in this phase, when known. */
  readonly total: number | undefined;
}

export interface EncryptMediaOptions {
  readonly type: MediaType;
  readonly crypto?: CryptoProvider | undefined;
  /** Draws the media key. */
  readonly random?: RandomSource | undefined;
  /** Plaintext bytes allowed (per type, the caller's policy). One more is refused unprocessed. */
  readonly maxBytes?: number | undefined;
  /**
   * The length the sender announced (an HTTP Content-Length): above `maxBytes` it is refused
   * before a single byte is read; a source that then delivers another length fails.
   */
  readonly declaredLength?: number | undefined;
  readonly onProgress?: ((progress: MediaProgress) => void) | undefined;
}

export interface DecryptMediaOptions {
  readonly crypto?: CryptoProvider | undefined;
  /** Draws the one-time key that binds the two passes. */
  readonly random?: RandomSource | undefined;
  /** A pointer announcing more plaintext than this is refused before the blob is opened. */
  readonly maxBytes?: number | undefined;
  /** Files up to this many bytes take one pass (see SINGLE_PASS_MAX_BYTES, the default); 0: always two. */
  readonly singlePassMaxBytes?: number | undefined;
  readonly onProgress?: ((progress: MediaProgress) => void) | undefined;
}

interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A promise whose rejection is never "unhandled" when the caller only reads the stream. */
export function deferred<T>(): { promise: Promise<T> } & Settle<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Checks what can be checked before reading anything; returns the ready encryptor. */
export function startEncryption(options: EncryptMediaOptions): MediaEncryptor {
  if (options === null || typeof options !== 'object') {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"options" expected an object', { field: 'options' });
  }
  assertMediaType(options.type);
  const maxBytes = options.maxBytes ?? MAX_MEDIA_FILE_LENGTH;
  assertInteger(maxBytes, 'maxBytes', 0, MAX_MEDIA_FILE_LENGTH);
  if (options.declaredLength !== undefined) {
    assertInteger(options.declaredLength, 'declaredLength', 0, Number.MAX_SAFE_INTEGER);
    if (options.declaredLength > maxBytes) {
      throw mediaTooLargeError(`media ${options.type}`, maxBytes, options.declaredLength);
    }
  }
  const crypto = options.crypto ?? defaultCrypto();
  const mediaKey = (options.random ?? defaultRandom)(MEDIA_KEY_LENGTH);
  const encryptor = new MediaEncryptor({ crypto, type: options.type, mediaKey, maxBytes });
  mediaKey.fill(0);
  return encryptor;
}

/** Plaintext in, blob out; `settle` gets the pointer fields at the end (or the failure). */
export async function* encryptChunks(
  source: MediaByteSource,
  encryptor: MediaEncryptor,
  options: EncryptMediaOptions,
  settle: Settle<EncryptedMedia>,
): AsyncGenerator<Uint8Array> {
  let read = 0;
  let finished = false;
  try {
    for await (const chunk of readBytes(source)) {
      read += chunk.length;
      const out = encryptor.update(chunk);
      options.onProgress?.({ phase: 'encrypt', bytes: read, total: options.declaredLength });
      if (out.length > 0) yield out;
    }
    if (options.declaredLength !== undefined && read !== options.declaredLength) {
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        'the source delivered another length than declaredLength',
        {
          field: 'declaredLength',
          declared: options.declaredLength,
          length: read,
        },
      );
    }
    const { tail, media } = encryptor.finish();
    finished = true;
    settle.resolve(media);
    yield tail;
  } catch (error) {
    encryptor.abort();
    settle.reject(error);
    throw error;
  } finally {
    if (!finished) {
      encryptor.abort();
      settle.reject(new ParleyError('ERR_CLOSED', 'media encryption was cancelled before the end', {}));
    }
  }
}

/** Checks the opener, the pointer and the size limit before anything is opened. */
export function checkDecryption(
  open: MediaSourceOpener,
  descriptor: MediaDescriptor,
  options: DecryptMediaOptions,
): void {
  if (typeof open !== 'function') {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"open" expected a function that opens the blob', {
      field: 'open',
    });
  }
  assertMediaDescriptor(descriptor);
  if (options.maxBytes !== undefined) {
    assertInteger(options.maxBytes, 'maxBytes', 0, MAX_MEDIA_FILE_LENGTH);
    if (descriptor.fileLength > options.maxBytes) {
      throw mediaTooLargeError(`media ${descriptor.type}`, options.maxBytes, descriptor.fileLength);
    }
  }
  if (options.singlePassMaxBytes !== undefined) {
    assertInteger(options.singlePassMaxBytes, 'singlePassMaxBytes', 0, 64 * 1024 * 1024);
  }
}

/** Pass 1 over one opening of the source, pass 2 over another (small files: one pass); nothing released before every check passed. */
export async function* decryptChunks(
  open: MediaSourceOpener,
  descriptor: MediaDescriptor,
  options: DecryptMediaOptions,
): AsyncGenerator<Uint8Array> {
  checkDecryption(open, descriptor, options);
  const crypto = options.crypto ?? defaultCrypto();
  // A small file keeps its plaintext from the checking pass (bounded by SINGLE_PASS_MAX_BYTES)
  // and is released from memory once every check passed: one read, one decryption.
  const singlePass = descriptor.fileLength <= (options.singlePassMaxBytes ?? SINGLE_PASS_MAX_BYTES);
  const verifier = new MediaVerifier({
    crypto,
    random: options.random ?? defaultRandom,
    descriptor,
    keepPlaintext: singlePass,
  });
  const total = verifier.expectedLength;
  let read = 0;
  let verified: ReturnType<MediaVerifier['finish']>;
  try {
    for await (const chunk of readBytes(await open(), 'blob')) {
      verifier.update(chunk);
      read += chunk.length;
      options.onProgress?.({ phase: 'verify', bytes: read, total });
    }
    verified = verifier.finish();
  } finally {
    verifier.abort();
  }
  if (verified.plaintext !== undefined) {
    verified.binding.destroy();
    options.onProgress?.({ phase: 'decrypt', bytes: total, total });
    yield* verified.plaintext;
    return;
  }
  const decryptor = new MediaDecryptor(crypto, verified);
  read = 0;
  try {
    for await (const chunk of readBytes(await open(), 'blob')) {
      const released = decryptor.update(chunk);
      read += chunk.length;
      options.onProgress?.({ phase: 'decrypt', bytes: read, total });
      yield* released;
    }
    yield* decryptor.finish();
  } finally {
    decryptor.abort();
  }
}
