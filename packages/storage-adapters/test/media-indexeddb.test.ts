/**
 * The IndexedDB blob store beyond the conformance suite: blobs stored as fixed-size chunks, a
 * put that never finished (a closed tab) leaving only chunks nothing points to, which a sweep
 * removes once stale, and a database that is not a blob store refused.
 */

import { isParleyError } from '@parley/core';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../src/conformance.js';
import { createIndexedDbBlobStore } from '../src/media-indexeddb.js';

function count(factory: IDBFactory, name: string, store: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const open = factory.open(name);
    open.onsuccess = () => {
      const db = open.result;
      const req = db.transaction(store, 'readonly').objectStore(store).count();
      req.onsuccess = () => {
        db.close();
        resolve(req.result);
      };
      req.onerror = () => reject(req.error);
    };
    open.onerror = () => reject(open.error);
  });
}

describe('indexeddb blob store', () => {
  it('stores a blob as chunks of chunkBytes and deletes them with it', async () => {
    const factory = new IDBFactory();
    const store = await createIndexedDbBlobStore({
      name: 'b',
      indexedDB: factory,
      IDBKeyRange,
      chunkBytes: 1000,
    });
    await store.put('x', [new Uint8Array(2500)], { maxBytes: 2500 });
    expect(await count(factory, 'b', 'chunks')).toBe(3);
    expect(await count(factory, 'b', 'writes')).toBe(0);
    expect(await store.delete('x')).toBe(true);
    expect(await count(factory, 'b', 'chunks')).toBe(0);
    await store.close();
  });

  it('an unfinished put is invisible, and its chunks go at the first sweep after staleWriteMs', async () => {
    const factory = new IDBFactory();
    const clock = createFakeClock();
    const store = await createIndexedDbBlobStore({
      name: 'b',
      indexedDB: factory,
      IDBKeyRange,
      clock,
      chunkBytes: 1000,
      staleWriteMs: 60_000,
    });
    let reached!: () => void;
    const halfway = new Promise<void>((resolve) => {
      reached = resolve;
    });
    async function* hanging(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(3000);
      yield new Uint8Array(1);
      reached();
      await new Promise(() => undefined);
    }
    void store.put('tab-closed', hanging(), { maxBytes: 10_000 });
    await halfway;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await count(factory, 'b', 'chunks')).toBe(3);
    expect(await store.head('tab-closed')).toBeUndefined();
    expect(await store.sweepExpired(clock.now())).toBe(0);
    expect(await count(factory, 'b', 'chunks')).toBe(3);
    clock.advance(60_000);
    expect(await store.sweepExpired(clock.now())).toBe(0);
    expect(await count(factory, 'b', 'chunks')).toBe(0);
    expect(await count(factory, 'b', 'writes')).toBe(0);
    await store.close();
  });

  it('checks its options up front: ERR_CONFIGURATION naming the field', async () => {
    const factory = new IDBFactory();
    for (const [options, field] of [
      [{ clock: Date.now }, 'clock'],
      [{ region: 7 }, 'region'],
      [{ chunkBytes: 0 }, 'chunkBytes'],
      [{ staleWriteMs: 1.5 }, 'staleWriteMs'],
    ] as const) {
      const error = await createIndexedDbBlobStore({
        name: 'b',
        indexedDB: factory,
        IDBKeyRange,
        ...options,
      } as never).catch((caught: unknown) => caught);
      expect(isParleyError(error, 'ERR_CONFIGURATION'), String(error)).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe(field);
    }
  });

  it('refuses a database that is not a blob store', async () => {
    const factory = new IDBFactory();
    await new Promise<void>((resolve) => {
      const open = factory.open('other', 1);
      open.onupgradeneeded = () => open.result.createObjectStore('records');
      open.onsuccess = () => {
        open.result.close();
        resolve();
      };
    });
    const error = await createIndexedDbBlobStore({ name: 'other', indexedDB: factory, IDBKeyRange }).catch(
      (caught: unknown) => caught,
    );
    expect(isParleyError(error, 'ERR_STORE_SCHEMA')).toBe(true);
  });
});
