/**
 * The gateway's media scenarios on SQLite (message database and key vault, two files) with the
 * filesystem blob store, in a temporary folder. The crypto-shredding scenario copies the
 * database files (with their WAL) and the blob store's directory before expiry — a file-level
 * backup — and opens the copies after the period keys were destroyed.
 */
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore, Store } from '@parley/core';
import { ManualClock } from '@parley/core/testing';
import { createFsBlobStore } from '@parley/storage-adapters/media-fs';
import { createSqliteStore } from '@parley/storage-adapters/sqlite';
import { describeGatewayMediaScenarios } from '../../core/test/support/gateway-media-scenarios.js';

const dir = mkdtempSync(join(tmpdir(), 'parley-gateway-media-'));
const paths = new WeakMap<Store | BlobStore, string>();
const stores: Store[] = [];
const blobStores: BlobStore[] = [];
let counter = 0;

function openStore(path: string, clock: ManualClock): Store {
  const store = createSqliteStore({ path, clock });
  paths.set(store, path);
  stores.push(store);
  return store;
}

async function openBlobStore(root: string, clock: ManualClock): Promise<BlobStore> {
  const blobStore = await createFsBlobStore({ root, clock });
  paths.set(blobStore, root);
  blobStores.push(blobStore);
  return blobStore;
}

describeGatewayMediaScenarios({
  kind: 'sqlite + media-fs',
  async create(clock) {
    counter += 1;
    return {
      store: openStore(join(dir, `messages-${counter}.db`), clock),
      vaultStore: openStore(join(dir, `vault-${counter}.db`), clock),
      blobStore: await openBlobStore(join(dir, `blobs-${counter}`), clock),
    };
  },
  async copyStore(source, clock) {
    const path = paths.get(source)!;
    counter += 1;
    const target = join(dir, `copy-${counter}.db`);
    copyFileSync(path, target);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${target}-wal`);
    return openStore(target, new ManualClock(clock.now()));
  },
  async copyBlobStore(source, clock) {
    counter += 1;
    const target = join(dir, `blobs-copy-${counter}`);
    cpSync(paths.get(source)!, target, { recursive: true });
    return openBlobStore(target, new ManualClock(clock.now()));
  },
  async cleanup() {
    for (const store of stores) await store.close();
    for (const blobStore of blobStores) await blobStore.close();
    rmSync(dir, { recursive: true, force: true });
  },
});
