/**
 * The media (blob) store contract, beside the record store: blobs are large, written once as a
 * stream and read back as streams, so they do not fit the record store's `commit` of byte
 * values. Adapters: memory (here), filesystem and IndexedDB (`@parley/storage-adapters`).
 *
 * - A blob holds ciphertext only (the media layer hands it nothing else); its media key lives
 *   in a record sealed under a retention period's key, so destroying that key shreds the blob
 *   even in copies the sweep never reaches.
 * - Ids are opaque strings chosen by the caller (random, never personal data): 1–200 characters
 *   of `A–Z a–z 0–9 . _ ~ / -`. A blob is written once: `put` on a live id is
 *   `ERR_STORE_CONFLICT`; it becomes visible whole, at the end of `put`, or not at all.
 * - `expiresAt` is absolute epoch ms, as in the record store: a blob is expired when
 *   `expiresAt <= clock.now()` (judged against the latest time the instance has seen), is never
 *   returned by `head`/`get`/`list`, and `sweepExpired(now)` deletes it physically.
 * - Every `put` has a size limit; a blob over it is refused (`ERR_MEDIA_TOO_LARGE`) before the
 *   excess is stored, and a `declaredLength` over it before anything is read.
 * - `get` opens a fresh stream each time (two-pass decryption reads twice), optionally a range.
 */
import type { MediaByteSource } from './byte-source.js';

export interface BlobInfo {
  readonly id: string;
  /** Bytes stored. */
  readonly length: number;
  /** Absolute epoch ms; undefined: never expires on its own. */
  readonly expiresAt?: number | undefined;
}

export interface BlobPutOptions {
  /** Bytes allowed; the caller's policy (per media type). Required: no unbounded write. */
  readonly maxBytes: number;
  readonly expiresAt?: number | undefined;
  /** Length announced by the sender; over `maxBytes` is refused before reading, another length fails. */
  readonly declaredLength?: number | undefined;
}

/** Bytes `start` (inclusive) to `end` (exclusive, default: the end of the blob). */
export interface BlobRange {
  readonly start: number;
  readonly end?: number | undefined;
}

export interface OpenedBlob {
  readonly info: BlobInfo;
  /** The blob's bytes (or the range's), read as they are pulled. */
  readonly stream: ReadableStream<Uint8Array>;
}

export interface BlobListOptions {
  readonly prefix?: string | undefined;
  readonly limit?: number | undefined;
}

export interface BlobStore {
  /** Adapter name for diagnostics, e.g. "memory", "fs", "indexeddb". */
  readonly kind: string;
  /** Region the blobs rest in (residency checks); undefined means "not declared". */
  readonly region?: string | undefined;

  /** Stores `source` under `id`, atomically, refusing more than `maxBytes`. */
  put(id: string, source: MediaByteSource, options: BlobPutOptions): Promise<BlobInfo>;
  head(id: string): Promise<BlobInfo | undefined>;
  /** A fresh stream of the blob, or undefined when it is missing or expired. */
  get(id: string, range?: BlobRange): Promise<OpenedBlob | undefined>;
  /** True when a blob was there (expired or not) and is now gone. */
  delete(id: string): Promise<boolean>;
  /** Live blobs in ascending id order. */
  list(options?: BlobListOptions): Promise<BlobInfo[]>;
  /** Physically deletes every blob with `expiresAt <= now` (and leftovers of failed writes); returns how many blobs. */
  sweepExpired(now: number): Promise<number>;
  /** Later calls throw `ERR_STORE_CLOSED`. Idempotent. */
  close(): Promise<void>;
}
