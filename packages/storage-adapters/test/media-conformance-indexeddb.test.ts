import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { runBlobStoreConformance } from '../src/media-conformance.js';
import { createIndexedDbBlobStore } from '../src/media-indexeddb.js';

// A fresh factory per test keeps databases isolated; reopen uses the same factory and name.
let factory = new IDBFactory();
const chunkBytes = 64 * 1024;

runBlobStoreConformance(
  'indexeddb blob store (fake-indexeddb)',
  {
    open: async (clock) => {
      factory = new IDBFactory();
      return createIndexedDbBlobStore({
        name: 'parley-media',
        indexedDB: factory,
        IDBKeyRange,
        clock,
        chunkBytes,
      });
    },
    reopen: async (clock) =>
      createIndexedDbBlobStore({ name: 'parley-media', indexedDB: factory, IDBKeyRange, clock, chunkBytes }),
  },
  { chunkBytes, largeBlobBytes: 1024 * 1024 },
);
