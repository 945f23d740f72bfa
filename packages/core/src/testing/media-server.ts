import { concatBytes, copyBytes, toHex } from '../bytes.js';
import type { RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import type { MediaLocation, MediaTransport, MediaUploadInfo } from '../gateway/media-options.js';
import { type MediaByteSource, readBytes } from '../media/byte-source.js';

/** What the media host saw: one line per request, as its access log would (no keys, no content). */
export interface MediaRequest {
  readonly kind: 'upload' | 'download';
  readonly directPath: string;
  /** Downloads: the first byte asked for (0 unless resumed with a range). */
  readonly start: number;
}

export interface SimulatedMediaServerOptions {
  /** Draws blob paths; a seeded source makes them reproducible. */
  readonly random?: RandomSource;
  /** Host part of the URLs it hands out (default `https://media.parley.test`). */
  readonly origin?: string;
  /** Bytes per chunk of a download (default 64 KiB). */
  readonly chunkBytes?: number;
}

/** Chunks of a download, like an HTTP body read as it arrives. */
const DEFAULT_CHUNK_BYTES = 64 * 1024;

/**
 * The messaging network's media host, in memory: the gateway's {@link MediaTransport}, and where
 * simulated people put the blobs they send and fetch the ones they receive. It holds exactly
 * what it is given — blobs, ciphertext ‖ MAC — under random paths. Faults are the test's to
 * decide: a download that breaks off after some bytes (the client resumes with a range), a
 * refused download, a blob replaced by other bytes.
 */
export class SimulatedMediaServer implements MediaTransport {
  /** Every request, in order. */
  readonly requests: MediaRequest[] = [];
  readonly origin: string;
  private readonly random: RandomSource | undefined;
  private readonly chunkBytes: number;
  private readonly blobs = new Map<string, Uint8Array>();
  private readonly cuts: number[] = [];
  private refusals = 0;
  private counter = 0;

  constructor(options: SimulatedMediaServerOptions = {}) {
    this.random = options.random;
    this.origin = options.origin ?? 'https://media.parley.test';
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  // ── MediaTransport (the gateway's side; people's clients use it too) ──────────────

  async upload(blob: ReadableStream<Uint8Array>, info: MediaUploadInfo): Promise<MediaLocation> {
    const parts: Uint8Array[] = [];
    for await (const chunk of readBytes(blob, 'blob')) parts.push(copyBytes(chunk));
    const bytes = concatBytes(...parts);
    if (bytes.length !== info.length) {
      throw new ParleyError('ERR_TRANSPORT_FAILURE', 'the upload has another length than announced');
    }
    return this.put(bytes, info.type);
  }

  async download(location: MediaLocation, range?: { readonly start: number }): Promise<MediaByteSource> {
    const directPath = this.pathOf(location);
    const start = range?.start ?? 0;
    this.requests.push({ kind: 'download', directPath, start });
    if (this.refusals > 0) {
      this.refusals -= 1;
      throw new ParleyError('ERR_TRANSPORT_FAILURE', 'the media host refused the download');
    }
    const blob = this.blobs.get(directPath);
    if (!blob) throw new ParleyError('ERR_NOT_FOUND', 'the media host has no blob at this path');
    if (!Number.isSafeInteger(start) || start < 0 || start > blob.length) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', 'range not satisfiable', { field: 'range.start' });
    }
    const cutAfter = this.cuts.shift();
    const chunkBytes = this.chunkBytes;
    let offset = start;
    let sent = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (cutAfter !== undefined && sent >= cutAfter) {
            controller.error(
              new ParleyError('ERR_TRANSPORT_FAILURE', 'the connection to the media host broke off'),
            );
            return;
          }
          if (offset >= blob.length) {
            controller.close();
            return;
          }
          const size = Math.min(
            chunkBytes,
            blob.length - offset,
            cutAfter === undefined ? Infinity : cutAfter - sent,
          );
          controller.enqueue(blob.slice(offset, offset + size));
          offset += size;
          sent += size;
        },
      },
      { highWaterMark: 0 },
    );
  }

  // ── People's side and the test's controls ─────────────────────────────────────────

  /** Stores a blob (a person's client uploading) and says where it is. */
  put(blob: Uint8Array, type: string): MediaLocation {
    this.counter += 1;
    const name = this.random ? toHex(this.random(16)) : String(this.counter).padStart(8, '0');
    const directPath = `/m/${type}/${name}`;
    this.blobs.set(directPath, copyBytes(blob));
    this.requests.push({ kind: 'upload', directPath, start: 0 });
    return { directPath, url: `${this.origin}${directPath}` };
  }

  /** The bytes the host holds at a location (a copy), or undefined. */
  blob(location: MediaLocation): Uint8Array | undefined {
    const blob = this.blobs.get(this.pathOf(location));
    return blob && copyBytes(blob);
  }

  /** Every blob the host holds (copies), for tests that search them. */
  allBlobs(): Uint8Array[] {
    return [...this.blobs.values()].map(copyBytes);
  }

  /** Replaces a stored blob (a host serving other bytes). */
  replace(location: MediaLocation, bytes: Uint8Array): void {
    this.blobs.set(this.pathOf(location), copyBytes(bytes));
  }

  /** The next `count` downloads break off after `afterBytes` bytes (a dropped connection). */
  cutNextDownloads(afterBytes: number, count = 1): void {
    if (!Number.isSafeInteger(afterBytes) || afterBytes < 0) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"afterBytes" expected a non-negative integer');
    }
    for (let i = 0; i < count; i++) this.cuts.push(afterBytes);
  }

  /** The next `count` downloads are refused outright. */
  refuseNextDownloads(count = 1): void {
    this.refusals += count;
  }

  private pathOf(location: MediaLocation): string {
    if (location?.directPath) return location.directPath;
    if (location?.url?.startsWith(this.origin)) return location.url.slice(this.origin.length);
    throw new ParleyError('ERR_NOT_FOUND', 'not a location on this media host');
  }
}
