import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCommitFaultInjector, runStoreConformance } from '../src/conformance.js';
import { createSqliteStore } from '../src/sqlite.js';

const faults = createCommitFaultInjector();
let directory: string | undefined;
let path = '';

runStoreConformance('sqlite (file)', {
  open: async (clock) => {
    directory = mkdtempSync(join(tmpdir(), 'parley-sqlite-'));
    path = join(directory, 'store.db');
    return createSqliteStore({ path, clock, testHooks: faults.hooks });
  },
  reopen: async (clock) => createSqliteStore({ path, clock, testHooks: faults.hooks }),
  injectCommitFailure: (_store, afterWrites) => faults.arm(afterWrites),
  cleanup: async () => {
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
    directory = undefined;
  },
});

runStoreConformance('sqlite (:memory:)', {
  open: async (clock) => createSqliteStore({ path: ':memory:', clock, testHooks: faults.hooks }),
  injectCommitFailure: (_store, afterWrites) => faults.arm(afterWrites),
});
