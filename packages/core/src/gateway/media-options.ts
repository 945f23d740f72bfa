import { assertMethods, assertOptions, configurationError } from '../configuration.js';
import type { BlobStore } from '../media/blob-store.js';
import type { MediaByteSource } from '../media/byte-source.js';
import { MAX_MEDIA_FILE_LENGTH } from '../media/media-format.js';
import { isMediaType, MEDIA_TYPES, type MediaType } from '../media/media-type.js';

/**
 * Where a blob sits on the messaging network's media host: the WhatsApp family's `directPath`
 * (a path on the media host) and/or a full `url`. It travels in the pointer people receive.
 */
export interface MediaLocation {
  readonly directPath?: string | undefined;
  readonly url?: string | undefined;
}

/** What the transport learns about a blob it is asked to place: never the key, never plaintext. */
export interface MediaUploadInfo {
  readonly type: MediaType;
  /** Blob bytes (ciphertext ‖ MAC). */
  readonly length: number;
  /** SHA-256 of the blob: the WhatsApp family's upload token is derived from it. */
  readonly fileEncSha256: Uint8Array;
}

/**
 * The network's media host, as the gateway reaches it: the transport side of media, beside
 * the frame `Transport`. It only ever sees blobs (ciphertext) and their locations.
 */
export interface MediaTransport {
  /** Places a blob on the media host; the pointer the business's messages carry names the location. */
  upload(blob: ReadableStream<Uint8Array>, info: MediaUploadInfo): Promise<MediaLocation>;
  /**
   * A blob a person's pointer names. With `range`, from byte `range.start` on (an HTTP
   * `Range: bytes=start-` request): the gateway resumes a download cut in the middle this way.
   */
  download(location: MediaLocation, range?: { readonly start: number }): Promise<MediaByteSource>;
}

/**
 * Reference business-messaging limits, per type: WhatsApp's 16 MB for images, audio and video,
 * 100 MB for documents, and stickers kept small (they are shown inline).
 */
export const DEFAULT_MEDIA_MAX_BYTES: Readonly<Record<MediaType, number>> = {
  image: 16 * 1024 * 1024,
  video: 16 * 1024 * 1024,
  audio: 16 * 1024 * 1024,
  document: 100 * 1024 * 1024,
  sticker: 512 * 1024,
  ptt: 16 * 1024 * 1024,
  gif: 16 * 1024 * 1024,
  ptv: 16 * 1024 * 1024,
};

/**
 * Consecutive download attempts that bring no new byte before a fetch gives up. An attempt that
 * makes progress resets the count: a connection cut every few MB still finishes the file.
 */
export const DEFAULT_MEDIA_DOWNLOAD_ATTEMPTS = 3;

export interface GatewayMediaOptions {
  /** Where blobs rest (ciphertext only). Its region is checked like the record store's. */
  readonly blobStore: BlobStore;
  /** The network's media host. */
  readonly transport: MediaTransport;
  /** Largest file per type, in plaintext bytes (defaults: `DEFAULT_MEDIA_MAX_BYTES`). */
  readonly maxBytes?: Partial<Record<MediaType, number>>;
  /** Download attempts without progress before a fetch fails (default 3). */
  readonly downloadAttempts?: number;
}

/** The resolved media settings a gateway runs with. */
export interface GatewayMedia {
  readonly blobStore: BlobStore;
  readonly transport: MediaTransport;
  readonly maxBytes: Readonly<Record<MediaType, number>>;
  readonly downloadAttempts: number;
}

const BLOB_STORE_METHODS = ['put', 'head', 'get', 'delete', 'list', 'sweepExpired', 'close'] as const;

/** Checks `options.media` at construction (ERR_CONFIGURATION naming the field). */
export function resolveMediaOptions(options: unknown): GatewayMedia | undefined {
  if (options === undefined) return undefined;
  assertOptions(options, 'media', 'media options { blobStore, transport, maxBytes? }');
  const o = options as Partial<Record<keyof GatewayMediaOptions, unknown>>;
  assertMethods(
    o.blobStore,
    'media.blobStore',
    BLOB_STORE_METHODS,
    'a BlobStore: createMemoryBlobStore(), await createFsBlobStore({ root }), await createIndexedDbBlobStore({ name })',
  );
  assertMethods(
    o.transport,
    'media.transport',
    ['upload', 'download'],
    "a MediaTransport: an object with upload and download (your network's media host)",
  );
  const maxBytes: Record<MediaType, number> = { ...DEFAULT_MEDIA_MAX_BYTES };
  if (o.maxBytes !== undefined) {
    assertOptions(o.maxBytes, 'media.maxBytes', 'an object of per-type limits, e.g. { image: 5_000_000 }');
    for (const [type, limit] of Object.entries(o.maxBytes)) {
      if (!isMediaType(type)) throw configurationError(`media.maxBytes.${type}`, MEDIA_TYPES.join(', '));
      if (
        !Number.isSafeInteger(limit) ||
        (limit as number) < 0 ||
        (limit as number) > MAX_MEDIA_FILE_LENGTH
      ) {
        throw configurationError(
          `media.maxBytes.${type}`,
          `an integer from 0 to ${MAX_MEDIA_FILE_LENGTH}`,
          limit,
        );
      }
      maxBytes[type] = limit as number;
    }
  }
  const attempts = o.downloadAttempts ?? DEFAULT_MEDIA_DOWNLOAD_ATTEMPTS;
  if (!Number.isSafeInteger(attempts) || (attempts as number) < 1 || (attempts as number) > 100) {
    throw configurationError('media.downloadAttempts', 'an integer from 1 to 100', attempts);
  }
  return {
    blobStore: o.blobStore as BlobStore,
    transport: o.transport as MediaTransport,
    maxBytes: Object.freeze(maxBytes),
    downloadAttempts: attempts as number,
  };
}
