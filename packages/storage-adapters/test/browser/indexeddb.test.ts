// Runs in real headless Chromium (vitest browser mode): the whole conformance suite against the
// browser's own IndexedDB, including the session scenarios and persistence across reopen.
import { afterAll, expect, it } from 'vitest';
import { createCommitFaultInjector, runStoreConformance } from '../../src/conformance.js';
import { createIndexedDbStore } from '../../src/indexeddb.js';

const faults = createCommitFaultInjector();
const prefix = `parley-conformance-${Math.random().toString(36).slice(2)}`;
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

it('runs in a real browser IndexedDB, not a Node fake', () => {
  expect(typeof window).toBe('object');
  expect(navigator.userAgent).toMatch(/Chrome/);
  expect(indexedDB.constructor.name).toBe('IDBFactory');
});

runStoreConformance('indexeddb (Chromium)', {
  open: async (clock) => {
    counter += 1;
    name = `${prefix}-${counter}`;
    created.push(name);
    return createIndexedDbStore({ name, clock, testHooks: faults.hooks });
  },
  reopen: async (clock) => createIndexedDbStore({ name, clock, testHooks: faults.hooks }),
  injectCommitFailure: (_store, afterWrites) => faults.arm(afterWrites),
  cleanup: async () => {
    for (const database of created.splice(0)) await deleteDatabase(database);
  },
});

afterAll(async () => {
  const left = (await indexedDB.databases()).filter((db) => db.name?.startsWith(prefix));
  expect(left).toEqual([]);
});
