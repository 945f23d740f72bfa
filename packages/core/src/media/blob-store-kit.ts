/**
 * What every blob store adapter shares (`@parley/core/storage`): argument checks, the size
 * limit applied to a source as it is read, and range arithmetic — so every adapter refuses the
 * same inputs with the same codes.
 */
import { assertInteger, isBytes } from '../crypto/guards.js';
import { ParleyError } from '../errors.js';
import { checkListOptions, invalid } from '../storage/adapter-kit.js';
import type { BlobListOptions, BlobPutOptions, BlobRange, BlobStore } from './blob-store.js';
import type { MediaByteSource, MediaSourceOpener } from './byte-source.js';
import { readBytes } from './byte-source.js';
import { mediaTooLargeError } from './media-errors.js';
import { encryptedLength, MAX_MEDIA_FILE_LENGTH } from './media-format.js';

const BLOB_ID = /^[A-Za-z0-9._~/-]{1,200}$/;
/** Largest blob any adapter accepts: the blob of the largest media file. */
export const MAX_BLOB_BYTES = encryptedLength(MAX_MEDIA_FILE_LENGTH);

export function assertBlobId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !BLOB_ID.test(id)) {
    throw invalid('"id" expected 1 to 200 characters of A-Z a-z 0-9 . _ ~ / -', { field: 'id' });
  }
}

export interface CheckedPutOptions {
  readonly maxBytes: number;
  readonly expiresAt: number | undefined;
  readonly declaredLength: number | undefined;
}

/** Checks `put` options; a declared length over the limit is refused here, before any read. */
export function checkPutOptions(options: BlobPutOptions): CheckedPutOptions {
  if (options === null || typeof options !== 'object')
    throw invalid('"options" expected an object with maxBytes');
  assertInteger(options.maxBytes, 'maxBytes', 0, MAX_BLOB_BYTES);
  const { expiresAt, declaredLength } = options;
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) {
    throw invalid('"expiresAt" expected a finite number (epoch ms)', { field: 'expiresAt' });
  }
  if (declaredLength !== undefined) {
    assertInteger(declaredLength, 'declaredLength', 0, Number.MAX_SAFE_INTEGER);
    if (declaredLength > options.maxBytes) throw mediaTooLargeError('blob', options.maxBytes, declaredLength);
  }
  return { maxBytes: options.maxBytes, expiresAt, declaredLength };
}

/**
 * The source's chunks, stopping with `ERR_MEDIA_TOO_LARGE` before the chunk that would pass
 * `maxBytes` is handed on (the source is cancelled), and with `ERR_INVALID_ARGUMENT` at the end
 * if a declared length was not met.
 */
export async function* limitedBytes(
  source: MediaByteSource,
  options: CheckedPutOptions,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of readBytes(source)) {
    if (total + chunk.length > options.maxBytes) throw mediaTooLargeError('blob', options.maxBytes);
    total += chunk.length;
    yield chunk;
  }
  if (options.declaredLength !== undefined && total !== options.declaredLength) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', 'the source delivered another length than declaredLength', {
      field: 'declaredLength',
      declared: options.declaredLength,
      length: total,
    });
  }
}

/** A checked range of a blob of `length` bytes, as [start, end). */
export function checkRange(range: BlobRange | undefined, length: number): { start: number; end: number } {
  if (range === undefined) return { start: 0, end: length };
  if (range === null || typeof range !== 'object') throw invalid('"range" expected { start, end? }');
  const end = range.end ?? length;
  assertInteger(range.start, 'range.start', 0, length);
  assertInteger(end, 'range.end', range.start, length);
  return { start: range.start, end };
}

export function checkBlobListOptions(options: BlobListOptions = {}): { prefix: string; limit: number } {
  if (options === null || typeof options !== 'object') throw invalid('"options" expected an object');
  return checkListOptions({ prefix: options.prefix, limit: options.limit });
}

/** Cuts a stream of chunks into pieces of exactly `size` bytes (the last one shorter). */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of source) {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(size - filled, chunk.length - offset);
      buffer.set(chunk.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === size) {
        yield buffer;
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.slice(0, filled);
}

/**
 * The opener two-pass decryption needs, over one blob of a store: each call opens it afresh.
 * A blob that is missing or expired is `ERR_NOT_FOUND` (the gateway reports an expired one as
 * `ERR_RETENTION_EXPIRED`).
 */
export function blobOpener(store: BlobStore, id: string): MediaSourceOpener {
  assertBlobId(id);
  return async () => {
    const opened = await store.get(id);
    if (opened === undefined)
      throw new ParleyError('ERR_NOT_FOUND', 'no such blob (never stored, deleted or expired)', {});
    return opened.stream;
  };
}

/** A Web stream over chunks produced on demand by `next` (undefined: the end). */
export function pullStream(
  next: () => Promise<Uint8Array | undefined>,
  close: () => Promise<void> = async () => undefined,
): ReadableStream<Uint8Array> {
  let closed = false;
  const finish = async () => {
    if (closed) return;
    closed = true;
    await close();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const chunk = await next();
          if (chunk === undefined) {
            await finish();
            controller.close();
          } else if (!isBytes(chunk)) {
            throw invalid('blob store produced a non-byte chunk');
          } else {
            controller.enqueue(chunk);
          }
        } catch (error) {
          await finish().catch(() => undefined);
          throw error;
        }
      },
      async cancel() {
        await finish();
      },
    },
    { highWaterMark: 0 },
  );
}
