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
export * from './adapter-kit.js';
export * from './contract.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory.js';
