// Runs in real headless Chromium (vitest browser mode): the blob store conformance suite against
// the browser's own IndexedDB, and a media file encrypted, stored in chunks and decrypted there
// with the portable provider (no node:* anywhere).
import { createMediaPointer, decryptMediaStream, encryptMediaStream } from '@parley/core';
import { blobOpener } from '@parley/core/storage';
import { afterAll, expect, it } from 'vitest';
import { runBlobStoreConformance } from '../../src/media-conformance.js';
import { createIndexedDbBlobStore } from '../../src/media-indexeddb.js';

const prefix = `parley-media-${Math.random().toString(36).slice(2)}`;
let counter = 0;
let name = '';
const created: string[] = [];

function deleteDatabase(database: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(database);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}

function nextName(): string {
  counter += 1;
  name = `${prefix}-${counter}`;
  created.push(name);
  return name;
}

runBlobStoreConformance(
  'indexeddb blob store (Chromium)',
  {
    open: async (clock) => createIndexedDbBlobStore({ name: nextName(), clock, chunkBytes: 64 * 1024 }),
    reopen: async (clock) => createIndexedDbBlobStore({ name, clock, chunkBytes: 64 * 1024 }),
    cleanup: async () => {
      for (const database of created.splice(0)) await deleteDatabase(database);
    },
  },
  { chunkBytes: 64 * 1024, largeBlobBytes: 1024 * 1024 },
);

it('encrypts a file into the browser blob store and decrypts it back, streamed both ways', async () => {
  const store = await createIndexedDbBlobStore({ name: nextName() });
  const plaintext = Uint8Array.from({ length: 700_000 }, (_, i) => (i * 31) & 0xff);
  const { blob, media } = encryptMediaStream(new Blob([plaintext]).stream() as ReadableStream<Uint8Array>, {
    type: 'image',
    maxBytes: 1_000_000,
  });
  await store.put('photo-1', blob, { maxBytes: 1_100_000 });
  const pointer = createMediaPointer({ ...(await media), mimetype: 'image/jpeg', directPath: '/photo-1' });
  const back = new Uint8Array(
    await new Response(decryptMediaStream(blobOpener(store, 'photo-1'), pointer)).arrayBuffer(),
  );
  expect(back.length).toBe(plaintext.length);
  expect(back.every((byte, i) => byte === plaintext[i])).toBe(true);
  await store.close();
  await deleteDatabase(name);
});

afterAll(async () => {
  const left = (await indexedDB.databases()).filter((db) => db.name?.startsWith(prefix));
  expect(left).toEqual([]);
});
