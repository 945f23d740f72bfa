/**
 * `@parley/core/storage`: what a store adapter needs — the contract, the reference memory
 * store and the shared argument checks and expiry rule.
 */

export {
  assertOptionalClock,
  assertOptionalString,
  assertStore,
  configurationError,
  describeValue,
} from '../configuration.js';
// The blob (media) store contract and its adapter kit, beside the record store's.
export type {
  BlobInfo,
  BlobListOptions,
  BlobPutOptions,
  BlobRange,
  BlobStore,
  OpenedBlob,
} from '../media/blob-store.js';
export * from '../media/blob-store-kit.js';
export type { MediaByteSource } from '../media/byte-source.js';
export { createMemoryBlobStore, type MemoryBlobStoreOptions } from '../media/memory-blob-store.js';
export * from './adapter-kit.js';
export * from './contract.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory.js';
