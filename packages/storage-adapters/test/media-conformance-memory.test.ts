import { createMemoryBlobStore } from '@parley/core/storage';
import { runBlobStoreConformance } from '../src/media-conformance.js';

runBlobStoreConformance('memory blob store', {
  open: async (clock) => createMemoryBlobStore({ clock }),
});
