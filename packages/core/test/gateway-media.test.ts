/** The gateway's media scenarios on memory stores and the memory blob store. */

import { createMemoryBlobStore } from '../src/media/memory-blob-store.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { describeGatewayMediaScenarios, readAll } from './support/gateway-media-scenarios.js';
import { copyIntoMemory } from './support/gateway-network.js';
import { FakeClock } from './support/parties.js';

describeGatewayMediaScenarios({
  kind: 'memory',
  async create(clock) {
    return {
      store: createMemoryStore({ clock }),
      vaultStore: createMemoryStore({ clock }),
      blobStore: createMemoryBlobStore({ clock }),
    };
  },
  copyStore: (store, clock) => copyIntoMemory(store, new FakeClock(clock.now())),
  async copyBlobStore(blobStore, clock) {
    const copy = createMemoryBlobStore({ clock: new ManualClock(clock.now()) });
    for (const info of await blobStore.list()) {
      const bytes = await readAll((await blobStore.get(info.id))!.stream);
      await copy.put(info.id, [bytes], { maxBytes: bytes.length, expiresAt: info.expiresAt });
    }
    return copy;
  },
});
