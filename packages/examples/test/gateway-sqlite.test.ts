/**
 * The gateway's scenario suite on SQLite: the message database and the key vault are two
 * files. The crypto-shredding scenario copies the message database file (and its WAL) before
 * expiry and opens the copy after the period keys were destroyed.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@parley/core';
import { createSqliteStore } from '@parley/storage-adapters/sqlite';
import type { GatewayStoreFactory } from '../../core/test/support/gateway-network.js';
import { describeGatewayScenarios } from '../../core/test/support/gateway-scenarios.js';
import { FakeClock } from '../../core/test/support/parties.js';

const dir = mkdtempSync(join(tmpdir(), 'parley-gateway-'));
const paths = new WeakMap<Store, string>();
const opened: Store[] = [];
let counter = 0;

function open(path: string, clock: FakeClock, region?: string): Store {
  const store = createSqliteStore({ path, clock, region });
  paths.set(store, path);
  opened.push(store);
  return store;
}

const sqliteStores: GatewayStoreFactory = {
  kind: 'sqlite',
  async create(clock, region) {
    counter += 1;
    return {
      store: open(join(dir, `messages-${counter}.db`), clock, region),
      vaultStore: open(join(dir, `vault-${counter}.db`), clock, region),
    };
  },
  async copy(source, clock) {
    const path = paths.get(source);
    if (!path) throw new Error('not a store of this factory');
    counter += 1;
    const target = join(dir, `copy-${counter}.db`);
    // A file-level backup: the database and its write-ahead log as they are on disk.
    copyFileSync(path, target);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${target}-wal`);
    return open(target, new FakeClock(clock.now()), source.region);
  },
  async cleanup() {
    for (const store of opened) await store.close();
    rmSync(dir, { recursive: true, force: true });
  },
};

describeGatewayScenarios(sqliteStores);
