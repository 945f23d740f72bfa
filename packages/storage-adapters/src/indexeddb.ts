/**
 * IndexedDB store for browsers (and for Node with `fake-indexeddb`).
 *
 * Layout: one database per store instance, holding
 * - `records`: every namespace, keyed by `[namespace, key]`, value `{ value, version, expiresAt? }`,
 *   with an index `expiresAt` (records without expiry are not in it) that `sweepExpired` walks;
 * - `state`: the store-wide version sequence, so versions keep increasing across reopen.
 *
 * Where idb-keyval is used and where it is not:
 * - `get` and `getMany` go through idb-keyval's `get`/`getMany` over a custom `UseStore` bound
 *   to our `records` object store: a read of known keys is exactly what its API does.
 * - Opening (we need two object stores, an index and versioned migrations), `list` (a key-range
 *   cursor), `commit` (one readwrite transaction over two object stores with
 *   `durability: 'strict'`, version checks and writes inside it) and `sweepExpired` (a cursor on
 *   the expiry index) use raw IndexedDB: idb-keyval's `createStore` makes a single object store
 *   with no indexes, and its writes cannot choose durability or check versions atomically.
 *
 * A commit issues every request from IndexedDB callbacks and awaits nothing else, so the
 * transaction cannot auto-commit half-way (a transaction closes once the event loop sees no
 * pending request).
 */
import {
  type Clock,
  type CommitOptions,
  type CommitResult,
  type ListedRecord,
  type ListOptions,
  type Mutation,
  type Namespace,
  ParleyError,
  type Store,
  type StoredRecord,
  systemClock,
} from '@parley/core';
import {
  assertKey,
  assertKeys,
  assertNamespace,
  assertOptionalClock,
  assertOptionalString,
  checkExpectations,
  checkListOptions,
  checkMutation,
  checkSweepNow,
  closedError,
  conflictError,
  ExpiryClock,
  isLive,
  type StoreTestHooks,
  stagedMutation,
} from '@parley/core/storage';
import { get as idbGet, getMany as idbGetMany, type UseStore } from 'idb-keyval';

/**
 * An `IDBFactory` (`globalThis.indexedDB`, or fake-indexeddb's under Node). Typed by shape so
 * that this module's declarations need no DOM library in the consumer's TypeScript settings.
 */
export interface IndexedDbFactoryLike {
  open(name: string, version?: number): unknown;
}

/** The `IDBKeyRange` class (its static constructors), typed by shape like the factory. */
export interface IndexedDbKeyRangeLike {
  bound(lower: unknown, upper: unknown, lowerOpen?: boolean, upperOpen?: boolean): unknown;
  upperBound(bound: unknown, open?: boolean): unknown;
}

export interface IndexedDbStoreOptions {
  /** Database name; one Parley store per database. */
  readonly name: string;
  /** Defaults to `globalThis.indexedDB`; pass `new IDBFactory()` from fake-indexeddb under Node. */
  readonly indexedDB?: IndexedDbFactoryLike;
  /** Defaults to `globalThis.IDBKeyRange`; pass fake-indexeddb's `IDBKeyRange` with its factory. */
  readonly IDBKeyRange?: IndexedDbKeyRangeLike;
  readonly clock?: Clock;
  readonly region?: string;
  /** Testing only: see `StoreTestHooks` (fault injection inside the commit transaction). */
  readonly testHooks?: StoreTestHooks;
}

/** IndexedDB database version this build creates. Bump it and extend `upgrade` together. */
export const INDEXEDDB_SCHEMA_VERSION = 1;

const RECORDS = 'records';
const STATE = 'state';
const EXPIRY_INDEX = 'expiresAt';
const SEQUENCE = 'sequence';

interface StoredShape {
  readonly value: Uint8Array;
  readonly version: number;
  readonly expiresAt?: number;
}

export async function createIndexedDbStore(options: IndexedDbStoreOptions): Promise<Store> {
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
  const factory = (options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB) as
    | IDBFactory
    | undefined;
  const KeyRange = (options.IDBKeyRange ??
    (globalThis as { IDBKeyRange?: typeof IDBKeyRange }).IDBKeyRange) as typeof IDBKeyRange | undefined;
  if (factory === undefined || KeyRange === undefined) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      'no IndexedDB in this environment; pass "indexedDB" and "IDBKeyRange" (e.g. from fake-indexeddb under Node)',
      { field: 'indexedDB' },
    );
  }
  assertOptionalClock(options.clock, 'clock');
  assertOptionalString(options.region, 'region', 'a region name such as "eu"');
  const expiry = new ExpiryClock(options.clock ?? systemClock);
  const beforeWrite = options.testHooks?.beforeWrite;
  const db = await openDatabase(factory, options.name);
  let closed = false;
  let closedByUpgrade = false;
  db.onversionchange = () => {
    // Another connection (a newer Parley in another tab) wants to upgrade: let it.
    db.close();
    closedByUpgrade = true;
  };

  const records: UseStore = (mode, callback) =>
    new Promise((resolve, reject) => {
      try {
        resolve(callback(db.transaction(RECORDS, mode).objectStore(RECORDS)));
      } catch (error) {
        reject(error);
      }
    });

  function assertOpen(): void {
    if (closedByUpgrade) {
      throw closedError(
        'indexeddb',
        'another tab is upgrading the database to a newer Parley; reload the page',
      );
    }
    if (closed)
      throw closedError('indexeddb', 'open the database again with createIndexedDbStore to continue');
  }

  return {
    kind: 'indexeddb',
    location: `indexeddb:${options.name}`,
    region: options.region,

    async get(namespace, key) {
      assertOpen();
      assertNamespace(namespace);
      assertKey(key, 'key');
      const now = expiry.now();
      const raw: unknown = await idbGet([namespace, key], records).catch((error: unknown) => {
        throw storeFailure(error, 'reading', '');
      });
      if (raw === undefined) return undefined;
      const record = decodeRecord(raw, namespace);
      return isLive(record.expiresAt, now) ? record : undefined;
    },

    async getMany(namespace, keys) {
      assertOpen();
      assertNamespace(namespace);
      assertKeys(keys);
      const now = expiry.now();
      const unique = [...new Set(keys)];
      const raws: unknown[] = await idbGetMany(
        unique.map((key) => [namespace, key]),
        records,
      ).catch((error: unknown) => {
        throw storeFailure(error, 'reading', '');
      });
      const out = new Map<string, StoredRecord>();
      raws.forEach((raw, i) => {
        if (raw === undefined) return;
        const record = decodeRecord(raw, namespace);
        if (isLive(record.expiresAt, now)) out.set(unique[i]!, record);
      });
      return out;
    },

    async list(namespace, listOptions: ListOptions = {}) {
      assertOpen();
      assertNamespace(namespace);
      const { prefix, limit } = checkListOptions(listOptions);
      if (limit === 0) return [];
      const now = expiry.now();
      const upper = prefixSuccessor(prefix);
      // An array key sorts after every string, so [namespace, []] bounds "all keys of namespace".
      const range = KeyRange.bound([namespace, prefix], [namespace, upper ?? []], false, true);
      return new Promise<ListedRecord[]>((resolve, reject) => {
        const out: ListedRecord[] = [];
        let failure: unknown;
        let tx: IDBTransaction;
        try {
          tx = db.transaction(RECORDS, 'readonly');
        } catch (error) {
          reject(storeFailure(error, 'listing', ''));
          return;
        }
        const request = tx.objectStore(RECORDS).openCursor(range);
        request.onsuccess = () => {
          const cursor = request.result;
          if (cursor === null || out.length >= limit) return;
          try {
            const record = decodeRecord(cursor.value, namespace);
            if (isLive(record.expiresAt, now)) {
              out.push({ key: (cursor.primaryKey as [string, string])[1], ...record });
            }
            if (out.length < limit) cursor.continue();
          } catch (error) {
            failure = error;
            tx.abort();
          }
        };
        tx.oncomplete = () => resolve(out);
        tx.onabort = () => reject(failure ?? storeFailure(tx.error, 'listing', ''));
      });
    },

    async commit(mutation: Mutation, commitOptions: CommitOptions = {}): Promise<CommitResult> {
      assertOpen();
      checkMutation(mutation);
      const expectations = checkExpectations(commitOptions.expectVersions);
      const now = expiry.now();
      // Copies taken before the transaction starts: the caller may reuse its arrays at once.
      const staged = stagedMutation(mutation);

      return new Promise<CommitResult>((resolve, reject) => {
        let tx: IDBTransaction;
        try {
          tx = db.transaction([RECORDS, STATE], 'readwrite', { durability: 'strict' });
        } catch (error) {
          reject(storeFailure(error, 'committing', 'nothing was written.'));
          return;
        }
        const recordStore = tx.objectStore(RECORDS);
        const stateStore = tx.objectStore(STATE);
        const found: unknown[] = new Array(expectations.length);
        let sequence = 0;
        let pendingReads = expectations.length + 1;
        let failure: unknown;
        const versions: { namespace: Namespace; key: string; version: number }[] = [];

        const fail = (error: unknown): void => {
          failure ??= error;
          try {
            tx.abort();
          } catch {
            // Already finishing; onabort/onerror reports it.
          }
        };

        const writeAll = (): void => {
          try {
            expectations.forEach((expected, i) => {
              const raw = found[i];
              const record = raw === undefined ? undefined : decodeRecord(raw, expected.namespace);
              const actual = record !== undefined && isLive(record.expiresAt, now) ? record.version : 0;
              if (actual !== expected.version) throw conflictError('indexeddb', expected, actual);
            });
            staged.forEach((op, index) => {
              beforeWrite?.(mutation[index]!, index);
              if (op.type === 'delete') {
                recordStore.delete([op.namespace, op.key]);
                return;
              }
              sequence += 1;
              const shape: StoredShape =
                op.expiresAt === undefined
                  ? { value: op.value, version: sequence }
                  : { value: op.value, version: sequence, expiresAt: op.expiresAt };
              recordStore.put(shape, [op.namespace, op.key]);
              versions.push({ namespace: op.namespace, key: op.key, version: sequence });
            });
            stateStore.put(sequence, SEQUENCE);
          } catch (error) {
            fail(error);
          }
        };

        const readDone = (): void => {
          pendingReads -= 1;
          if (pendingReads === 0) writeAll();
        };

        const sequenceRequest = stateStore.get(SEQUENCE);
        sequenceRequest.onsuccess = () => {
          const stored: unknown = sequenceRequest.result;
          if (
            stored !== undefined &&
            (typeof stored !== 'number' || !Number.isSafeInteger(stored) || stored < 0)
          ) {
            fail(
              new ParleyError(
                'ERR_INVALID_RECORD',
                'the version sequence of this IndexedDB store is corrupted; restore the database or delete it',
                { store: 'indexeddb' },
              ),
            );
            return;
          }
          sequence = (stored as number | undefined) ?? 0;
          readDone();
        };
        expectations.forEach((expected, i) => {
          const request = recordStore.get([expected.namespace, expected.key]);
          request.onsuccess = () => {
            found[i] = request.result;
            readDone();
          };
        });

        tx.oncomplete = () => resolve({ versions });
        tx.onabort = () => {
          if (failure instanceof ParleyError) reject(failure);
          else
            reject(
              storeFailure(
                failure ?? tx.error,
                'committing',
                'the commit was rolled back; nothing was written.',
              ),
            );
        };
      });
    },

    async sweepExpired(now) {
      assertOpen();
      checkSweepNow(now);
      const bound = expiry.sweepBound(now);
      return new Promise<number>((resolve, reject) => {
        let tx: IDBTransaction;
        try {
          tx = db.transaction(RECORDS, 'readwrite', { durability: 'strict' });
        } catch (error) {
          reject(storeFailure(error, 'sweeping', ''));
          return;
        }
        let removed = 0;
        const request = tx.objectStore(RECORDS).index(EXPIRY_INDEX).openCursor(KeyRange.upperBound(bound));
        request.onsuccess = () => {
          const cursor = request.result;
          if (cursor === null) return;
          cursor.delete();
          removed += 1;
          cursor.continue();
        };
        tx.oncomplete = () => resolve(removed);
        tx.onabort = () => reject(storeFailure(tx.error, 'sweeping', 'nothing was deleted.'));
      });
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
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, INDEXEDDB_SCHEMA_VERSION);
    } catch (error) {
      reject(storeFailure(error, 'opening', ''));
      return;
    }
    request.onupgradeneeded = (event) => {
      const db = request.result;
      // Forward migrations by the version the database had; each step runs once.
      if (event.oldVersion < 1) {
        const recordStore = db.createObjectStore(RECORDS);
        recordStore.createIndex(EXPIRY_INDEX, 'expiresAt', { unique: false });
        db.createObjectStore(STATE);
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      const names = db.objectStoreNames;
      if (!names.contains(RECORDS) || !names.contains(STATE)) {
        db.close();
        reject(
          new ParleyError(
            'ERR_STORE_SCHEMA',
            `IndexedDB database "${name}" exists but is not a Parley store; choose another "name"`,
            { store: 'indexeddb' },
          ),
        );
        return;
      }
      resolve(db);
    };
    request.onerror = (event) => {
      event.preventDefault();
      const error = request.error;
      if (error?.name === 'VersionError') {
        reject(
          new ParleyError(
            'ERR_STORE_SCHEMA',
            `IndexedDB database "${name}" was written by a newer Parley (a schema newer than ` +
              `${INDEXEDDB_SCHEMA_VERSION}); upgrade @parley/storage-adapters (the database was not changed)`,
            { store: 'indexeddb', supported: INDEXEDDB_SCHEMA_VERSION },
            { cause: error },
          ),
        );
      } else {
        reject(storeFailure(error, 'opening', ''));
      }
    };
  });
}

/** Smallest string greater than every string starting with `prefix`; undefined if none. */
function prefixSuccessor(prefix: string): string | undefined {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 0xffff) end--;
  if (end === 0) return undefined;
  return prefix.slice(0, end - 1) + String.fromCharCode(prefix.charCodeAt(end - 1) + 1);
}

function decodeRecord(raw: unknown, namespace: Namespace): StoredRecord {
  const shape = raw as Partial<StoredShape> | null;
  let reason: string | undefined;
  if (shape === null || typeof shape !== 'object') reason = 'not an object';
  else if (!(shape.value instanceof Uint8Array)) reason = 'value is not a Uint8Array';
  else if (typeof shape.version !== 'number' || !Number.isSafeInteger(shape.version) || shape.version <= 0) {
    reason = 'version is not a positive integer';
  } else if (
    shape.expiresAt !== undefined &&
    (typeof shape.expiresAt !== 'number' || !Number.isFinite(shape.expiresAt))
  ) {
    reason = 'expiresAt is not a number';
  }
  if (reason !== undefined) {
    throw new ParleyError(
      'ERR_INVALID_RECORD',
      `a stored record in "${namespace}" is corrupted (${reason}); delete that record (commit a delete ` +
        'of its key) so Parley can re-create it, or delete the database',
      { store: 'indexeddb', namespace, reason },
    );
  }
  const valid = shape as StoredShape;
  return { value: valid.value.slice(), version: valid.version, expiresAt: valid.expiresAt };
}

function storeFailure(error: unknown, action: string, outcome: string): ParleyError {
  const name = (error as { name?: unknown } | null)?.name;
  const errorName = typeof name === 'string' ? name : 'UnknownError';
  let advice: string;
  if (errorName === 'QuotaExceededError') {
    advice =
      'the browser storage quota is exhausted; sweep expired records, free space, or request persistent storage';
  } else if (errorName === 'InvalidStateError') {
    advice = 'the database connection was closed (another tab may be upgrading it); reopen the store';
  } else {
    advice = 'retry; if it keeps failing, the browser profile storage may be damaged';
  }
  return new ParleyError(
    'ERR_STORE_FAILURE',
    `IndexedDB failed while ${action} (${errorName}); ${outcome ? `${outcome} ` : ''}${advice}`,
    { store: 'indexeddb', action, errorName },
    { cause: error },
  );
}
