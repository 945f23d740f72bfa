/**
 * The gateway's scenario suites (1:1 and groups) on PostgreSQL: the message store in a schema of the database of
 * PARLEY_PG_URL, the key vault on a database of its own (made for this file and dropped after
 * it), as a deployment should keep it (see the storage-adapters README on backups). The
 * crypto-shredding scenario copies a store's rows into a fresh schema — what a logical backup
 * (pg_dump) holds — before expiry, and opens the copy after the period keys were destroyed.
 */
import type { Store } from '@parley/core';
import { createPostgresStore } from '@parley/storage-adapters/postgres';
import { describe, it } from 'vitest';
import { describeGatewayGroupScenarios } from '../../core/test/support/gateway-group-scenarios.js';
import type { GatewayStoreFactory } from '../../core/test/support/gateway-network.js';
import { describeGatewayScenarios } from '../../core/test/support/gateway-scenarios.js';
import { FakeClock } from '../../core/test/support/parties.js';
import {
  createDatabase,
  dropSchemas,
  PG_URL,
  uniqueName,
  withAdmin,
} from '../../storage-adapters/test/support/postgres-server.js';

interface Placement {
  readonly url: string;
  readonly schema: string;
}

if (PG_URL === undefined) {
  describe.skip('gateway scenarios (postgres): PARLEY_PG_URL not set', () => {
    it('needs a server', () => undefined);
  });
} else {
  const messagesUrl = PG_URL;
  const vault = await createDatabase('parley_gw_vault');
  const placements = new WeakMap<Store, Placement>();
  const opened: Store[] = [];
  const made: Placement[] = [];

  const open = async (placement: Placement, clock: FakeClock, region?: string): Promise<Store> => {
    made.push(placement);
    // Small pools that let idle sessions go: the suite opens two stores per test and keeps them.
    const store = await createPostgresStore({
      ...placement,
      clock,
      region,
      pool: { max: 2, idleTimeoutMs: 1_000 },
    });
    placements.set(store, placement);
    opened.push(store);
    return store;
  };

  const postgresStores: GatewayStoreFactory = {
    kind: 'postgres',
    async create(clock, region) {
      return {
        store: await open({ url: messagesUrl, schema: uniqueName('gw_messages') }, clock, region),
        vaultStore: await open({ url: vault.url, schema: uniqueName('gw_vault') }, clock, region),
      };
    },
    async copy(source, clock) {
      const from = placements.get(source);
      if (!from) throw new Error('not a store of this factory');
      const to = { url: from.url, schema: uniqueName('gw_copy') };
      const copy = await open(to, new FakeClock(clock.now()), source.region);
      // A logical backup taken now: every row as stored (expired or not) and the version sequence.
      await withAdmin(async (client) => {
        await client.query(
          `INSERT INTO "${to.schema}".parley_records SELECT * FROM "${from.schema}".parley_records`,
        );
        await client.query(
          `SELECT setval('"${to.schema}".parley_version', (SELECT last_value FROM "${from.schema}".parley_version))`,
        );
      }, from.url);
      return copy;
    },
    async cleanup() {
      for (const store of opened) await store.close();
      await dropSchemas(
        made.filter((p) => p.url === messagesUrl).map((p) => p.schema),
        messagesUrl,
      );
      await vault.drop();
    },
  };

  describeGatewayScenarios(postgresStores);
  describeGatewayGroupScenarios(postgresStores);
}
