import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { createCommitFaultInjector, runStoreConformance } from '../src/conformance.js';
import { createIndexedDbStore } from '../src/indexeddb.js';

const faults = createCommitFaultInjector();
// A fresh factory per test keeps databases isolated; reopen uses the same factory and name.
let factory = new IDBFactory();

runStoreConformance('indexeddb (fake-indexeddb)', {
  open: async (clock) => {
    factory = new IDBFactory();
    return createIndexedDbStore({
      name: 'parley',
      indexedDB: factory,
      IDBKeyRange,
      clock,
      testHooks: faults.hooks,
    });
  },
  reopen: async (clock) =>
    createIndexedDbStore({ name: 'parley', indexedDB: factory, IDBKeyRange, clock, testHooks: faults.hooks }),
  injectCommitFailure: (_store, afterWrites) => faults.arm(afterWrites),
});
