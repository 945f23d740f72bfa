/**
 * IndexedDB blob store for browsers (and Node with `fake-indexeddb`). Blobs are stored in
 * chunks, so neither writing nor reading ever holds a whole blob in memory.
 *
 * One database per store, holding
 * - `blobs`: one entry per blob, keyed by id: `{ id, length, expiresAt?, writeId, chunkBytes }`,
 *   with an `expiresAt` index that sweeping walks;
 * - `chunks`: the bytes, keyed by `[writeId, index]`, each `chunkBytes` long (the last shorter);
 * - `writes`: writes in progress, keyed by `writeId`: `{ startedAt }`.
 *
 * A transaction cannot stay open while the source is awaited, so a `put` writes its chunks in
 * transactions of their own under a fresh random `writeId` that nothing points to yet, then makes
 * the blob visible in one strict transaction that checks the id is free (or expired), points
 * `blobs[id]` at the chunks and closes the write. Until that commit the chunks are invisible; if
 * the page dies first, they stay as an orphan `writes` entry that a later sweep removes (after
 * `staleWriteMs`). Reads take one transaction per chunk; a blob deleted meanwhile ends the stream
 * with `ERR_NOT_FOUND`.
 */
import { type Clock, ParleyError, systemClock } from '@parley/core';
import {
  assertBlobId,
  assertOptionalClock,
  assertOptionalString,
  type BlobInfo,
  type BlobStore,
  checkBlobListOptions,
  checkPutOptions,
  checkRange,
  checkSweepNow,
  closedError,
  configurationError,
  ExpiryClock,
  isLive,
  limitedBytes,
  pullStream,
  rechunk,
} from '@parley/core/storage';

export interface IndexedDbBlobStoreOptions {
  /** Database name; one blob store per database (not the record store's database). */
  readonly name: string;
  /** Defaults to `globalThis.indexedDB`; pass `new IDBFactory()` from fake-indexeddb under Node. */
  readonly indexedDB?: IDBFactory;
  /** Defaults to `globalThis.IDBKeyRange`; pass fake-indexeddb's `IDBKeyRange` with its factory. */
  readonly IDBKeyRange?: typeof IDBKeyRange;
  readonly clock?: Clock;
  readonly region?: string;
  /** Bytes per stored chunk. Default 256 KiB. */
  readonly chunkBytes?: number;
  /** Unfinished writes older than this (by the clock) are leftovers of a closed page. Default 1 hour. */
  readonly staleWriteMs?: number;
}

export const INDEXEDDB_BLOB_SCHEMA_VERSION = 1;

const BLOBS = 'blobs';
const CHUNKS = 'chunks';
const WRITES = 'writes';
const EXPIRY_INDEX = 'expiresAt';

interface BlobEntry {
  readonly id: string;
  readonly length: number;
  readonly expiresAt?: number;
  readonly writeId: string;
  readonly chunkBytes: number;
}

interface WriteEntry {
  readonly startedAt: number;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = (event) => {
      event.preventDefault();
      reject(req.error);
    };
  });
}

function completion(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
    tx.onerror = (event) => event.preventDefault();
  });
}

function failure(error: unknown, action: string): ParleyError {
  if (error instanceof ParleyError) return error;
  const name = (error as { name?: unknown } | null)?.name;
  const errorName = typeof name === 'string' ? name : 'UnknownError';
  const advice =
    errorName === 'QuotaExceededError'
      ? 'the browser storage quota is exhausted; sweep expired blobs, free space, or request persistent storage'
      : errorName === 'InvalidStateError'
        ? 'the database connection was closed (another tab may be upgrading it); reopen the store'
        : 'retry; if it keeps failing, the browser profile storage may be damaged';
  return new ParleyError(
    'ERR_STORE_FAILURE',
    `IndexedDB blob store failed while ${action} (${errorName}); ${advice}`,
    { store: 'indexeddb blob', action, errorName },
    { cause: error },
  );
}

function conflict(): ParleyError {
  return new ParleyError('ERR_STORE_CONFLICT', 'a blob with this id exists; blobs are written once', {
    store: 'indexeddb blob',
  });
}

function randomWriteId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function decodeEntry(raw: unknown): BlobEntry {
  const entry = raw as Partial<BlobEntry> | null;
  if (
    entry === null ||
    typeof entry !== 'object' ||
    typeof entry.id !== 'string' ||
    typeof entry.writeId !== 'string' ||
    !Number.isSafeInteger(entry.length) ||
    !Number.isSafeInteger(entry.chunkBytes) ||
    (entry.chunkBytes ?? 0) <= 0 ||
    (entry.expiresAt !== undefined && !Number.isFinite(entry.expiresAt))
  ) {
    throw new ParleyError(
      'ERR_INVALID_RECORD',
      'a stored blob entry is corrupted; delete that blob so it can be written again',
      { store: 'indexeddb blob' },
    );
  }
  return entry as BlobEntry;
}

export async function createIndexedDbBlobStore(options: IndexedDbBlobStoreOptions): Promise<BlobStore> {
  if (
    options === null ||
    typeof options !== 'object' ||
    typeof options.name !== 'string' ||
    options.name === ''
  ) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"name" expected a non-empty database name', {
      field: 'name',
    });
  }
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  const KeyRange = options.IDBKeyRange ?? (globalThis as { IDBKeyRange?: typeof IDBKeyRange }).IDBKeyRange;
  if (factory === undefined || KeyRange === undefined) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      'no IndexedDB in this environment; pass "indexedDB" and "IDBKeyRange" (e.g. from fake-indexeddb under Node)',
      { field: 'indexedDB' },
    );
  }
  assertOptionalClock(options.clock, 'clock');
  assertOptionalString(options.region, 'region', 'a region name such as "eu"');
  for (const field of ['chunkBytes', 'staleWriteMs'] as const) {
    const value = options[field];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw configurationError(field, 'a positive integer', value);
    }
  }
  const chunkBytes = options.chunkBytes ?? 256 * 1024;
  const clock = options.clock ?? systemClock;
  const expiry = new ExpiryClock(clock);
  const staleWriteMs = options.staleWriteMs ?? 60 * 60 * 1000;
  const db = await openDatabase(factory, options.name);
  let closed = false;
  let closedByUpgrade = false;
  db.onversionchange = () => {
    db.close();
    closedByUpgrade = true;
  };

  function assertOpen(): void {
    if (closedByUpgrade) {
      throw closedError(
        'indexeddb blob',
        'another tab is upgrading the database to a newer Parley; reload the page',
      );
    }
    if (closed)
      throw closedError('indexeddb blob', 'open it again with createIndexedDbBlobStore to continue');
  }

  const chunkRange = (writeId: string) => KeyRange.bound([writeId, 0], [writeId, Number.MAX_SAFE_INTEGER]);

  async function entryOf(id: string): Promise<BlobEntry | undefined> {
    const tx = db.transaction(BLOBS, 'readonly');
    const raw = await request(tx.objectStore(BLOBS).get(id));
    return raw === undefined ? undefined : decodeEntry(raw);
  }

  async function discardWrite(writeId: string): Promise<void> {
    const tx = db.transaction([CHUNKS, WRITES], 'readwrite');
    tx.objectStore(CHUNKS).delete(chunkRange(writeId));
    tx.objectStore(WRITES).delete(writeId);
    await completion(tx);
  }

  const info = (entry: BlobEntry): BlobInfo => ({
    id: entry.id,
    length: entry.length,
    expiresAt: entry.expiresAt,
  });

  return {
    kind: 'indexeddb',
    region: options.region,

    async put(id, source, putOptions) {
      assertOpen();
      assertBlobId(id);
      const checked = checkPutOptions(putOptions);
      const existing = await entryOf(id).catch((error: unknown) => {
        throw failure(error, 'reading');
      });
      if (existing !== undefined && isLive(existing.expiresAt, expiry.now())) throw conflict();

      const writeId = randomWriteId();
      let committed = false;
      try {
        const start = db.transaction(WRITES, 'readwrite');
        start.objectStore(WRITES).put({ startedAt: clock.now() } satisfies WriteEntry, writeId);
        await completion(start).catch((error: unknown) => {
          throw failure(error, 'starting a write');
        });
        let index = 0;
        let length = 0;
        for await (const piece of rechunk(limitedBytes(source, checked), chunkBytes)) {
          assertOpen();
          const tx = db.transaction(CHUNKS, 'readwrite');
          tx.objectStore(CHUNKS).put(piece, [writeId, index]);
          await completion(tx).catch((error: unknown) => {
            throw failure(error, 'writing');
          });
          index += 1;
          length += piece.length;
        }
        assertOpen();
        const entry: BlobEntry = {
          id,
          length,
          writeId,
          chunkBytes,
          ...(checked.expiresAt !== undefined ? { expiresAt: checked.expiresAt } : {}),
        };
        // One strict transaction: the id is free (or expired) → point it at the chunks.
        const now = expiry.now();
        const tx = db.transaction([BLOBS, CHUNKS, WRITES], 'readwrite', { durability: 'strict' });
        let taken = false;
        const read = tx.objectStore(BLOBS).get(id);
        read.onsuccess = () => {
          const current = read.result === undefined ? undefined : (read.result as BlobEntry);
          if (current !== undefined && isLive(current.expiresAt, now)) {
            taken = true;
            tx.abort();
            return;
          }
          if (current !== undefined) tx.objectStore(CHUNKS).delete(chunkRange(current.writeId));
          tx.objectStore(BLOBS).put(entry);
          tx.objectStore(WRITES).delete(writeId);
        };
        try {
          await completion(tx);
        } catch (error) {
          if (taken) throw conflict();
          throw failure(error, 'storing');
        }
        committed = true;
        return info(entry);
      } finally {
        if (!committed) await discardWrite(writeId).catch(() => undefined);
      }
    },

    async head(id) {
      assertOpen();
      assertBlobId(id);
      const entry = await entryOf(id).catch((error: unknown) => {
        throw failure(error, 'reading');
      });
      return entry !== undefined && isLive(entry.expiresAt, expiry.now()) ? info(entry) : undefined;
    },

    async get(id, range) {
      assertOpen();
      assertBlobId(id);
      const entry = await entryOf(id).catch((error: unknown) => {
        throw failure(error, 'reading');
      });
      if (entry === undefined || !isLive(entry.expiresAt, expiry.now())) return undefined;
      const { start, end } = checkRange(range, entry.length);
      let position = start;
      const stream = pullStream(async () => {
        if (position >= end) return undefined;
        const index = Math.floor(position / entry.chunkBytes);
        const tx = db.transaction(CHUNKS, 'readonly');
        const piece = (await request(tx.objectStore(CHUNKS).get([entry.writeId, index])).catch(
          (error: unknown) => {
            throw failure(error, 'reading');
          },
        )) as Uint8Array | undefined;
        if (!(piece instanceof Uint8Array)) {
          throw new ParleyError('ERR_NOT_FOUND', 'the blob was deleted while it was being read', {
            store: 'indexeddb blob',
          });
        }
        const from = position - index * entry.chunkBytes;
        const to = Math.min(piece.length, end - index * entry.chunkBytes);
        position = index * entry.chunkBytes + to;
        return from === 0 && to === piece.length ? piece : piece.slice(from, to);
      });
      return { info: info(entry), stream };
    },

    async delete(id) {
      assertOpen();
      assertBlobId(id);
      const tx = db.transaction([BLOBS, CHUNKS], 'readwrite', { durability: 'strict' });
      let existed = false;
      const read = tx.objectStore(BLOBS).get(id);
      read.onsuccess = () => {
        if (read.result === undefined) return;
        existed = true;
        tx.objectStore(CHUNKS).delete(chunkRange((read.result as BlobEntry).writeId));
        tx.objectStore(BLOBS).delete(id);
      };
      await completion(tx).catch((error: unknown) => {
        throw failure(error, 'deleting');
      });
      return existed;
    },

    async list(listOptions) {
      assertOpen();
      const { prefix, limit } = checkBlobListOptions(listOptions);
      const now = expiry.now();
      const found: BlobInfo[] = [];
      if (limit === 0) return found;
      const tx = db.transaction(BLOBS, 'readonly');
      // Ids are ASCII (see assertBlobId), so '\uffff' sorts after every id with the prefix.
      const keys = prefix === '' ? undefined : KeyRange.bound(prefix, `${prefix}\uffff`);
      await new Promise<void>((resolve, reject) => {
        const cursor = tx.objectStore(BLOBS).openCursor(keys);
        cursor.onsuccess = () => {
          const current = cursor.result;
          if (current === null) {
            resolve();
            return;
          }
          try {
            const entry = decodeEntry(current.value);
            if (isLive(entry.expiresAt, now)) found.push(info(entry));
          } catch (error) {
            reject(error);
            return;
          }
          if (found.length >= limit) resolve();
          else current.continue();
        };
        cursor.onerror = (event) => {
          event.preventDefault();
          reject(failure(cursor.error, 'listing'));
        };
      });
      return found;
    },

    async sweepExpired(now) {
      assertOpen();
      checkSweepNow(now);
      const bound = expiry.sweepBound(now);
      let removed = 0;
      const tx = db.transaction([BLOBS, CHUNKS, WRITES], 'readwrite', { durability: 'strict' });
      const blobs = tx.objectStore(BLOBS);
      const chunks = tx.objectStore(CHUNKS);
      const writes = tx.objectStore(WRITES);
      const expired = blobs.index(EXPIRY_INDEX).openCursor(KeyRange.upperBound(bound));
      expired.onsuccess = () => {
        const current = expired.result;
        if (current === null) return;
        const entry = current.value as BlobEntry;
        chunks.delete(chunkRange(entry.writeId));
        current.delete();
        removed += 1;
        current.continue();
      };
      // Writes nobody finished (a closed tab): their chunks were never visible.
      const staleBefore = Math.max(clock.now(), now) - staleWriteMs;
      const stale = writes.openCursor();
      stale.onsuccess = () => {
        const current = stale.result;
        if (current === null) return;
        if ((current.value as WriteEntry).startedAt <= staleBefore) {
          chunks.delete(chunkRange(String(current.key)));
          current.delete();
        }
        current.continue();
      };
      await completion(tx).catch((error: unknown) => {
        throw failure(error, 'sweeping');
      });
      return removed;
    },

    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

function openDatabase(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let req: IDBOpenDBRequest;
    try {
      req = factory.open(name, INDEXEDDB_BLOB_SCHEMA_VERSION);
    } catch (error) {
      reject(failure(error, 'opening'));
      return;
    }
    req.onupgradeneeded = (event) => {
      const db = req.result;
      if (event.oldVersion < 1) {
        const blobs = db.createObjectStore(BLOBS, { keyPath: 'id' });
        blobs.createIndex(EXPIRY_INDEX, 'expiresAt', { unique: false });
        db.createObjectStore(CHUNKS);
        db.createObjectStore(WRITES);
      }
    };
    req.onsuccess = () => {
      const db = req.result;
      const names = db.objectStoreNames;
      if (!names.contains(BLOBS) || !names.contains(CHUNKS) || !names.contains(WRITES)) {
        db.close();
        reject(
          new ParleyError(
            'ERR_STORE_SCHEMA',
            `IndexedDB database "${name}" exists but is not a Parley blob store; choose another "name"`,
            { store: 'indexeddb blob' },
          ),
        );
        return;
      }
      resolve(db);
    };
    req.onerror = (event) => {
      event.preventDefault();
      const error = req.error;
      if (error?.name === 'VersionError') {
        reject(
          new ParleyError(
            'ERR_STORE_SCHEMA',
            `IndexedDB database "${name}" was written by a newer Parley (blob schema newer than ` +
              `${INDEXEDDB_BLOB_SCHEMA_VERSION}); upgrade @parley/storage-adapters (the database was not changed)`,
            { store: 'indexeddb blob', supported: INDEXEDDB_BLOB_SCHEMA_VERSION },
            { cause: error },
          ),
        );
      } else {
        reject(failure(error, 'opening'));
      }
    };
  });
}
