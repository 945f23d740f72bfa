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
import { isSenderKeyFormat } from '../wire/sender-key-format.js';
import type { GroupSessionsOptions } from './group-sessions.js';

/** `new GroupSessions(options)`: every field checked before anything is built. */
export function checkGroupSessionsOptions(options: unknown): asserts options is GroupSessionsOptions {
  assertOptions(options, 'options', 'new GroupSessions({ store, membership, format?, crypto?, scope? })');
  const o = options as Partial<Record<keyof GroupSessionsOptions, unknown>>;
  assertStore(o.store, 'store');
  // No default: who may distribute keys in a group is the caller's to say.
  assertMethods(
    o.membership,
    'membership',
    ['isMember'],
    'a MembershipPolicy: { name, isMember({ group, sender, purpose }) } answering from your member lists',
  );
  if (o.format !== undefined && !isSenderKeyFormat(o.format)) {
    throw configurationError('format', '"signal" (libsignal) or "whatsapp" (the WhatsApp family)', o.format);
  }
  assertOptionalCryptoProvider(o.crypto, 'crypto');
  if (o.crypto !== undefined) {
    // Group chains sign with Ed25519 seeds (see sender-signing-key.ts).
    assertMethods(
      o.crypto,
      'crypto',
      ['ed25519Sign', 'ed25519PublicKey', 'xeddsaVerify'],
      'a crypto provider with Ed25519 signing: createNodeCrypto() or createPortableCrypto()',
    );
  }
  assertOptionalFunction(o.random, 'random', 'a random source: (length) => Uint8Array');
  assertOptionalClock(o.clock, 'clock');
  assertOptionalString(o.scope, 'scope', 'a non-empty string naming the local identity');
  if (o.sealer !== undefined) {
    assertMethods(o.sealer, 'sealer', ['seal', 'open'], 'a RecordSealer: an object with seal and open');
  }
  if (o.cacheSize !== undefined && (!Number.isSafeInteger(o.cacheSize) || (o.cacheSize as number) < 0)) {
    throw configurationError('cacheSize', 'a non-negative integer (0 turns the cache off)', o.cacheSize);
  }
}
