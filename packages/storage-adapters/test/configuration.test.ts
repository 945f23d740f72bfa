/**
 * Store arguments are checked at construction (ERR_CONFIGURATION naming the field), and a store
 * reports where its data lives so that one file cannot serve as both message and vault store.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, createLocalKeyProvider, isParleyError } from '@parley/core';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { afterAll, describe, expect, it } from 'vitest';
import { createIndexedDbStore } from '../src/indexeddb.js';
import { createSqliteStore } from '../src/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'parley-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noop = async () => undefined;
const network = {
  transport: { send: noop, requestRetry: noop, acknowledge: noop },
  directory: {
    publish: noop,
    availableOneTimePreKeys: async () => 0,
    availableOneTimeKyberPreKeys: async () => 0,
    fetchDevices: async () => [],
    fetchBundle: async () => {
      throw new Error('unused');
    },
  },
  keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32) }),
  timer: false as const,
};

function fieldOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    expect(isParleyError(error, 'ERR_CONFIGURATION'), String(error)).toBe(true);
    return (error as { details: { field?: unknown } }).details.field;
  }
  throw new Error('expected ERR_CONFIGURATION');
}

describe('store locations', () => {
  it('the same SQLite file opened twice — also through a symlink — is refused as message and vault store', () => {
    const path = join(dir, 'one.db');
    const link = join(dir, 'link.db');
    const store = createSqliteStore({ path });
    symlinkSync(path, link);
    const sameFile = createSqliteStore({ path: link });
    expect(store.location).toBe(sameFile.location);
    expect(fieldOf(() => createGateway({ ...network, store, vaultStore: sameFile }))).toBe('vaultStore');
    const vault = createSqliteStore({ path: join(dir, 'vault.db') });
    expect(vault.location).not.toBe(store.location);
    return createGateway({ ...network, store, vaultStore: vault }).close();
  });

  it('private in-memory databases have no shared location', () => {
    expect(createSqliteStore({ path: ':memory:' }).location).toBeUndefined();
  });

  it('an un-awaited createIndexedDbStore is refused with a hint to await it', async () => {
    const pending = createIndexedDbStore({ name: 'config-test', indexedDB: new IDBFactory(), IDBKeyRange });
    const vaultStore = createSqliteStore({ path: ':memory:' });
    let message = '';
    try {
      createGateway({ ...network, store: pending as never, vaultStore });
    } catch (error) {
      expect(isParleyError(error, 'ERR_CONFIGURATION')).toBe(true);
      message = (error as Error).message;
    }
    expect(message).toContain('did you forget `await`?');
    const store = await pending;
    expect(store.location).toBe('indexeddb:config-test');
    await store.close();
  });

  it('adapters check clock and region options when they are built', async () => {
    expect(fieldOf(() => createSqliteStore({ path: ':memory:', clock: {} as never }))).toBe('clock');
    expect(fieldOf(() => createSqliteStore({ path: ':memory:', region: 7 as never }))).toBe('region');
    await expect(
      createIndexedDbStore({ name: 'x', indexedDB: new IDBFactory(), IDBKeyRange, clock: 1 as never }),
    ).rejects.toMatchObject({ code: 'ERR_CONFIGURATION', details: { field: 'clock' } });
  });
});
