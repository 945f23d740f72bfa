/**
 * The in-memory store. It lives in `@parley/core` (it is the reference every adapter is tested
 * against) and is re-exported here so all adapters share one import style.
 */
export { createMemoryStore, type MemoryStoreOptions } from '@parley/core';
