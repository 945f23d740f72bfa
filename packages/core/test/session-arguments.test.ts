/**
 * Arguments of SessionManager's per-call entry points are checked first: a missing bundle or
 * message is ERR_INVALID_ARGUMENT (it was a raw TypeError from processBundle) and nothing is
 * stored.
 */
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { SessionManager } from '../src/session/session-manager.js';
import { createMemoryStore } from '../src/storage/memory.js';

describe('SessionManager refuses malformed arguments with typed errors and stores nothing', () => {
  it('processBundle(address, null | undefined | 5 | {}) and decrypt/encrypt with nothing', async () => {
    const store = createMemoryStore();
    const manager = new SessionManager({ store });
    await manager.initializeIdentity();
    const before = JSON.stringify(await store.list('sessions'));
    const address = { name: 'peer', deviceId: 1 };
    const calls = [
      ...[null, undefined, 5, 'bundle', {}].map((bad) => () => manager.processBundle(address, bad as never)),
      ...[null, undefined, {}].map((bad) => () => manager.decrypt(address, bad as never)),
      ...[null, undefined, 'text'].map((bad) => () => manager.encrypt(address, bad as never)),
    ];
    for (const call of calls) {
      let caught: unknown;
      try {
        await call();
      } catch (error) {
        caught = error;
      }
      expect(isParleyError(caught, 'ERR_INVALID_ARGUMENT'), String(caught)).toBe(true);
    }
    expect(JSON.stringify(await store.list('sessions'))).toBe(before);
    expect(await store.list('identities', { prefix: 'default/remote/' })).toEqual([]);
  });

  it('initializeIdentity, createBundle and removePreKey check their arguments (found by pnpm fuzz)', async () => {
    const store = createMemoryStore();
    const manager = new SessionManager({ store });
    const before = JSON.stringify(await store.list('identities'));
    const calls = [
      () => manager.initializeIdentity({ registrationId: -1 }),
      () => manager.initializeIdentity({ identityKeyPair: {} as never }),
      () => manager.initializeIdentity(5 as never),
      () => manager.createBundle(undefined as never),
      () => manager.createBundle({ deviceId: -1, signedPreKeyId: 1 }),
      () => manager.createBundle({ deviceId: 1, signedPreKeyId: Number.NaN }),
      () => manager.removePreKey('signed', Number.NaN),
      () => manager.removePreKey('bogus' as never, 1),
    ];
    for (const call of calls) {
      let caught: unknown;
      try {
        await call();
      } catch (error) {
        caught = error;
      }
      expect(isParleyError(caught), String(caught)).toBe(true);
    }
    expect(JSON.stringify(await store.list('identities'))).toBe(before);
  });
});
