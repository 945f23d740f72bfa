/**
 * The exported conformance suite, unchanged, on a real PostgreSQL, with group commit (the
 * default) and without: every test gets a schema of its own (reopen opens the same schema
 * again), dropped after the test.
 */
import { createCommitFaultInjector, runStoreConformance } from '../src/conformance.js';
import { createPostgresStore } from '../src/postgres.js';
import { dropSchemas, PG_URL, uniqueName } from './support/postgres-server.js';

const faults = createCommitFaultInjector();
const schemas: string[] = [];

if (PG_URL !== undefined) {
  const url = PG_URL;
  for (const groupCommit of [true, false]) {
    const open = (schema: string, clock: Parameters<typeof createPostgresStore>[0]['clock']) =>
      createPostgresStore({ url, schema, clock, groupCommit, testHooks: faults.hooks, pool: { max: 4 } });

    runStoreConformance(groupCommit ? 'postgres' : 'postgres (groupCommit: false)', {
      open: async (clock) => {
        schemas.push(uniqueName('conformance'));
        return open(schemas[schemas.length - 1]!, clock);
      },
      reopen: async (clock) => open(schemas[schemas.length - 1]!, clock),
      injectCommitFailure: (_store, afterWrites) => faults.arm(afterWrites),
      cleanup: async () => dropSchemas(schemas.splice(0)),
    });
  }
} else {
  // Locally without a server: skipped (see support/postgres-server.ts; CI=true fails instead).
  const { describe, it } = await import('vitest');
  describe.skip('postgres: store conformance (PARLEY_PG_URL not set)', () => {
    it('needs a server', () => undefined);
  });
}
