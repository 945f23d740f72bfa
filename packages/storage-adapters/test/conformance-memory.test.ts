import { createCommitFaultInjector, runStoreConformance } from '../src/conformance.js';
import { createMemoryStore } from '../src/memory.js';

const faults = createCommitFaultInjector();

runStoreConformance('memory', {
  open: async (clock) => createMemoryStore({ clock, region: 'test', testHooks: faults.hooks }),
  injectCommitFailure: (_store, afterWrites) => faults.arm(afterWrites),
});
