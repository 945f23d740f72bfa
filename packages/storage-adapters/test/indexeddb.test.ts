import { isParleyError, type ParleyError } from '@parley/core';
import { IDBDatabase, IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createIndexedDbStore, INDEXEDDB_SCHEMA_VERSION } from '../src/indexeddb.js';

afterEach(() => {
  vi.restoreAllMocks();
});

async function errorOf(promise: Promise<unknown>): Promise<ParleyError> {
  try {
    await promise;
  } catch (error) {
    if (isParleyError(error)) return error;
    throw error;
  }
  throw new Error('expected a ParleyError, nothing was thrown');
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openRaw(factory: IDBFactory, name: string, version: number, upgrade?: (db: IDBDatabase) => void) {
  const req = factory.open(name, version);
  req.onupgradeneeded = () => upgrade?.(req.result);
  return request(req);
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe('indexeddb adapter', () => {
  it('commits through one readwrite transaction over records and state, with strict durability', async () => {
    const factory = new IDBFactory();
    const store = await createIndexedDbStore({ name: 'tx', indexedDB: factory, IDBKeyRange });
    const spy = vi.spyOn(IDBDatabase.prototype, 'transaction');
    await store.commit(
      [
        { type: 'put', namespace: 'sessions', key: 's', value: bytes('1') },
        { type: 'put', namespace: 'messages', key: 'm', value: bytes('2') },
        { type: 'delete', namespace: 'prekeys', key: 'p' },
      ],
      { expectVersions: [{ namespace: 'sessions', key: 's', version: 0 }] },
    );
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]).toEqual([['records', 'state'], 'readwrite', { durability: 'strict' }]);
    spy.mockClear();
    await store.sweepExpired(0);
    expect(spy.mock.calls[0]?.[2]).toEqual({ durability: 'strict' });
    await store.close();
  });

  it('refuses a database from a newer schema with ERR_STORE_SCHEMA and leaves it unchanged', async () => {
    const factory = new IDBFactory();
    const newer = await openRaw(factory, 'newer', INDEXEDDB_SCHEMA_VERSION + 1, (db) =>
      db.createObjectStore('future'),
    );
    newer.close();
    const error = await errorOf(createIndexedDbStore({ name: 'newer', indexedDB: factory, IDBKeyRange }));
    expect(error.code).toBe('ERR_STORE_SCHEMA');
    expect(error.message).toMatch(/newer Parley/);
    expect(error.message).toMatch(/upgrade @parley\/storage-adapters/);
    const again = await openRaw(factory, 'newer', INDEXEDDB_SCHEMA_VERSION + 1);
    expect(again.objectStoreNames.length).toBe(1);
    expect(again.objectStoreNames.contains('future')).toBe(true);
    again.close();
  });

  it('refuses a same-named database that is not a Parley store', async () => {
    const factory = new IDBFactory();
    (
      await openRaw(factory, 'other', INDEXEDDB_SCHEMA_VERSION, (db) => db.createObjectStore('stuff'))
    ).close();
    const error = await errorOf(createIndexedDbStore({ name: 'other', indexedDB: factory, IDBKeyRange }));
    expect(error.code).toBe('ERR_STORE_SCHEMA');
    expect(error.message).toMatch(/not a Parley store/);
  });

  it('reports a corrupted record as ERR_INVALID_RECORD; deleting it repairs the namespace', async () => {
    const factory = new IDBFactory();
    const store = await createIndexedDbStore({ name: 'corrupt', indexedDB: factory, IDBKeyRange });
    await store.commit([
      { type: 'put', namespace: 'sessions', key: 'bad', value: bytes('x') },
      { type: 'put', namespace: 'sessions', key: 'good', value: bytes('y') },
    ]);
    const db = await openRaw(factory, 'corrupt', INDEXEDDB_SCHEMA_VERSION);
    const tx = db.transaction('records', 'readwrite');
    tx.objectStore('records').put({ value: 'not bytes', version: 1 }, ['sessions', 'bad']);
    await new Promise((resolve) => {
      tx.oncomplete = resolve;
    });
    db.close();

    const error = await errorOf(store.get('sessions', 'bad'));
    expect(error.code).toBe('ERR_INVALID_RECORD');
    expect(error.details).toMatchObject({ namespace: 'sessions', reason: 'value is not a Uint8Array' });
    expect(error.message).toMatch(/delete that record/);
    expect((await errorOf(store.list('sessions'))).code).toBe('ERR_INVALID_RECORD');
    expect((await errorOf(store.getMany('sessions', ['bad', 'good']))).code).toBe('ERR_INVALID_RECORD');
    await store.commit([{ type: 'delete', namespace: 'sessions', key: 'bad' }]);
    expect((await store.list('sessions')).map((r) => r.key)).toEqual(['good']);
    await store.close();
  });

  it('gives way to a newer version opened elsewhere and then reports ERR_STORE_CLOSED', async () => {
    const factory = new IDBFactory();
    const store = await createIndexedDbStore({ name: 'upgrade', indexedDB: factory, IDBKeyRange });
    const newer = await openRaw(factory, 'upgrade', INDEXEDDB_SCHEMA_VERSION + 1);
    const error = await errorOf(store.get('sessions', 's'));
    expect(error.code).toBe('ERR_STORE_CLOSED');
    expect(error.message).toMatch(/reload/);
    newer.close();
  });

  it('stores only the bytes of a view, not the whole buffer behind it', async () => {
    const factory = new IDBFactory();
    const store = await createIndexedDbStore({ name: 'view', indexedDB: factory, IDBKeyRange });
    const big = new Uint8Array(100_000).fill(1);
    await store.commit([{ type: 'put', namespace: 'sessions', key: 's', value: big.subarray(10, 42) }]);
    await store.close();
    const db = await openRaw(factory, 'view', INDEXEDDB_SCHEMA_VERSION);
    const stored = (await request(
      db.transaction('records').objectStore('records').get(['sessions', 's']),
    )) as {
      value: Uint8Array;
    };
    expect(stored.value.length).toBe(32);
    expect(stored.value.buffer.byteLength).toBe(32);
    db.close();
  });

  it('refuses to start without an IndexedDB implementation', async () => {
    const error = await errorOf(createIndexedDbStore({ name: 'x', indexedDB: undefined }));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(
      (await errorOf(createIndexedDbStore({ name: '', indexedDB: new IDBFactory(), IDBKeyRange }))).code,
    ).toBe('ERR_INVALID_ARGUMENT');
  });
});
