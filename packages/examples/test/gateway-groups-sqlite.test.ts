/**
 * The gateway's group scenarios on SQLite: the message database and the key vault are two
 * files; the crypto-shredding scenario copies the message database file (and its WAL).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@parley/core';
import { createSqliteStore } from '@parley/storage-adapters/sqlite';
import { afterAll } from 'vitest';
import { describeGatewayGroupScenarios } from '../../core/test/support/gateway-group-scenarios.js';
import type { GatewayStoreFactory } from '../../core/test/support/gateway-network.js';
import { FakeClock } from '../../core/test/support/parties.js';

const dir = mkdtempSync(join(tmpdir(), 'parley-gateway-groups-'));
const paths = new WeakMap<Store, string>();
const opened: Store[] = [];
let counter = 0;

function open(path: string, clock: FakeClock): Store {
  const store = createSqliteStore({ path, clock });
  paths.set(store, path);
  opened.push(store);
  return store;
}

const sqliteStores: GatewayStoreFactory = {
  kind: 'sqlite',
  async create(clock) {
    counter += 1;
    return {
      store: open(join(dir, `messages-${counter}.db`), clock),
      vaultStore: open(join(dir, `vault-${counter}.db`), clock),
    };
  },
  async copy(source, clock) {
    const path = paths.get(source);
    if (!path) throw new Error('not a store of this factory');
    counter += 1;
    const target = join(dir, `copy-${counter}.db`);
    copyFileSync(path, target);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${target}-wal`);
    return open(target, new FakeClock(clock.now()));
  },
};

afterAll(async () => {
  for (const store of opened) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describeGatewayGroupScenarios(sqliteStores);
