import {
  assertMethods,
  assertOptionalClock,
  assertOptionalCryptoProvider,
  assertOptionalFunction,
  assertOptionalString,
  assertOptions,
  assertStore,
  configurationError,
} from '../configuration.js';
import type { SessionManagerOptions } from './session-manager.js';

/** `new SessionManager(options)`: every field checked before anything is built. */
export function checkSessionManagerOptions(options: unknown): asserts options is SessionManagerOptions {
  assertOptions(options, 'options', 'new SessionManager({ store, crypto?, scope?, trust? })');
  const o = options as Partial<Record<keyof SessionManagerOptions, unknown>>;
  assertStore(o.store, 'store');
  assertOptionalCryptoProvider(o.crypto, 'crypto');
  assertOptionalFunction(o.random, 'random', 'a random source: (length) => Uint8Array');
  assertOptionalClock(o.clock, 'clock');
  assertOptionalString(o.scope, 'scope', 'a non-empty string naming the local identity');
  if (o.trust !== undefined) {
    assertMethods(
      o.trust,
      'trust',
      ['isTrusted'],
      'a TrustPolicy: strictTrustOnFirstUse or acceptIdentityChanges',
    );
  }
  if (o.sealer !== undefined) {
    assertMethods(o.sealer, 'sealer', ['seal', 'open'], 'a RecordSealer: an object with seal and open');
  }
  if (o.minimumVersion !== undefined && o.minimumVersion !== 3 && o.minimumVersion !== 4) {
    throw configurationError('minimumVersion', '3 or 4', o.minimumVersion);
  }
  if (o.spqr !== undefined && o.spqr !== 'off' && o.spqr !== 'offer' && o.spqr !== 'require') {
    throw configurationError('spqr', '"off", "offer" or "require"', o.spqr);
  }
  for (const field of ['retry', 'unverifiedWork'] as const) {
    const value = o[field];
    if (value !== undefined && (typeof value !== 'object' || value === null)) {
      throw configurationError(field, 'an options object', value);
    }
  }
  if (o.cacheSize !== undefined && (!Number.isSafeInteger(o.cacheSize) || (o.cacheSize as number) < 0)) {
    throw configurationError('cacheSize', 'a non-negative integer (0 turns the cache off)', o.cacheSize);
  }
}
