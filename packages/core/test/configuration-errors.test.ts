/**
 * Misuse at construction fails at once, with ERR_CONFIGURATION naming the field and saying what
 * to pass — never a raw TypeError, and never a gateway that accepts work it can never finish.
 */
import { describe, expect, it } from 'vitest';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { isParleyError } from '../src/errors.js';
import { readMessageArchive } from '../src/gateway/archive.js';
import { createGateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { GatewayOptions } from '../src/gateway/options.js';
import { SessionManager } from '../src/session/session-manager.js';
import type { Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';

function configurationError(fn: () => unknown): { field: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    expect(isParleyError(error, 'ERR_CONFIGURATION'), String(error)).toBe(true);
    const { details, message } = error as { details: { field?: unknown }; message: string };
    return { field: details.field, message };
  }
  throw new Error('expected ERR_CONFIGURATION, nothing was thrown');
}

const noop = async () => undefined;
const transport = { send: noop, requestRetry: noop, acknowledge: noop };
const directory = {
  publish: noop,
  availableOneTimePreKeys: async () => 100,
  availableOneTimeKyberPreKeys: async () => 100,
  fetchDevices: async () => [1],
  fetchBundle: async () => {
    throw new Error('unused');
  },
};
const keyProvider = createLocalKeyProvider({ kek: new Uint8Array(32).fill(7) });

function options(overrides: Record<string, unknown> = {}): GatewayOptions {
  return {
    store: createMemoryStore(),
    vaultStore: createMemoryStore(),
    keyProvider,
    transport,
    directory,
    timer: false,
    ...overrides,
  } as GatewayOptions;
}

describe('createGateway checks every required option up front', () => {
  it('a complete set of options builds a gateway', async () => {
    await createGateway(options()).close();
  });

  it('no options at all names the options object and shows the call', () => {
    const { field, message } = configurationError(() => (createGateway as (o?: unknown) => unknown)());
    expect(field).toBe('options');
    expect(message).toContain('createGateway({ store, vaultStore, keyProvider, transport, directory })');
  });

  it('an empty object blames the store, not the vault store', () => {
    expect(configurationError(() => createGateway({} as GatewayOptions)).field).toBe('store');
  });

  for (const field of ['store', 'vaultStore', 'keyProvider', 'transport', 'directory']) {
    it(`a missing ${field} is named`, () => {
      const { field: named, message } = configurationError(() =>
        createGateway(options({ [field]: undefined })),
      );
      expect(named).toBe(field);
      expect(message).toContain('got nothing (undefined)');
    });
  }

  it('an object missing one method is told apart from a wrong object', () => {
    const { send: _send, ...withoutSend } = transport;
    const { message } = configurationError(() => createGateway(options({ transport: withoutSend })));
    expect(message).toContain('without a "send" method');
  });

  it('a Promise passed as a store asks whether an await was forgotten', () => {
    const pending = Promise.resolve(createMemoryStore());
    const { field, message } = configurationError(() => createGateway(options({ vaultStore: pending })));
    expect(field).toBe('vaultStore');
    expect(message).toContain('did you forget `await`?');
  });

  it('one store instance, or two stores with the same location, cannot be both stores', () => {
    const store = createMemoryStore();
    expect(configurationError(() => createGateway(options({ store, vaultStore: store }))).field).toBe(
      'vaultStore',
    );
    const a = { ...createMemoryStore(), location: 'sqlite:/data/parley.db' };
    const b = { ...createMemoryStore(), location: 'sqlite:/data/parley.db' };
    expect(configurationError(() => createGateway(options({ store: a, vaultStore: b }))).field).toBe(
      'vaultStore',
    );
    const c = { ...createMemoryStore(), location: 'sqlite:/data/vault.db' };
    return createGateway(options({ store: a, vaultStore: c })).close();
  });

  it('optional objects are checked by shape too', () => {
    expect(configurationError(() => createGateway(options({ clock: Date.now }))).field).toBe('clock');
    expect(configurationError(() => createGateway(options({ random: new Uint8Array(8) }))).field).toBe(
      'random',
    );
    expect(configurationError(() => createGateway(options({ crypto: {} }))).field).toBe('crypto');
    expect(configurationError(() => createGateway(options({ logger: console.log }))).field).toBe('logger');
  });

  it('messages describe values by kind and never print them', () => {
    const secret = new Uint8Array(32).fill(0xab);
    const { message } = configurationError(() => createGateway(options({ random: secret })));
    expect(message).toContain('got 32 bytes');
    expect(message).not.toMatch(/abab|171,171|q6ur/i);
  });
});

describe('SessionManager, key provider, memory store and archive reader check their options', () => {
  it('new SessionManager() and new SessionManager({}) fail at construction', () => {
    expect(configurationError(() => new (SessionManager as new (o?: unknown) => unknown)()).field).toBe(
      'options',
    );
    expect(configurationError(() => new SessionManager({} as never)).field).toBe('store');
  });

  it('SessionManager refuses a Promise as its store, a bad crypto provider, and bad numbers', () => {
    const pending = Promise.resolve(createMemoryStore()) as unknown as Store;
    expect(configurationError(() => new SessionManager({ store: pending })).message).toContain('await');
    const store = createMemoryStore();
    expect(configurationError(() => new SessionManager({ store, crypto: {} as never })).field).toBe('crypto');
    expect(configurationError(() => new SessionManager({ store, minimumVersion: 5 as never })).field).toBe(
      'minimumVersion',
    );
    expect(configurationError(() => new SessionManager({ store, cacheSize: -1 })).field).toBe('cacheSize');
    expect(configurationError(() => new SessionManager({ store, scope: '' })).field).toBe('scope');
    expect(new SessionManager({ store, crypto: createPortableCrypto() })).toBeInstanceOf(SessionManager);
  });

  it('createLocalKeyProvider() and createMemoryStore with a bad clock fail with a named field', () => {
    expect(configurationError(() => (createLocalKeyProvider as (o?: unknown) => unknown)()).field).toBe(
      'options',
    );
    expect(configurationError(() => createMemoryStore({ clock: 5 as never })).field).toBe('clock');
    expect(configurationError(() => createMemoryStore({ region: '' })).field).toBe('region');
  });

  it('readMessageArchive checks its stores before reading', async () => {
    await expect(
      readMessageArchive({
        store: createMemoryStore(),
        vaultStore: undefined as never,
        keyProvider,
        businessId: 'acme',
      }),
    ).rejects.toMatchObject({ code: 'ERR_CONFIGURATION', details: { field: 'vaultStore' } });
  });
});

describe('option sections and values the full fuzz run found accepted (each failed before)', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['preKeys', { preKeys: true }],
    ['preKeys.lowWaterMark', { preKeys: { lowWaterMark: -1 } }],
    ['sending.maxAttempts', { sending: { maxAttempts: 1.5 } }],
    ['sending.backoff.maxMs', { sending: { backoff: { initialMs: 10, maxMs: -5 } } }],
    ['redelivery', { redelivery: 1n }],
    ['integrity', { integrity: 'on' }],
    ['statistics', { statistics: 'on' }],
    ['timer.intervalMs', { timer: { intervalMs: 2 ** 40 } }],
    ['padding', { padding: 0 }],
    ['clock', { clock: { now: () => Number.NaN } }],
    ['random', { random: () => 'not bytes' }],
  ];
  for (const [field, overrides] of cases) {
    it(`${field}: ERR_CONFIGURATION naming it`, () => {
      expect(configurationError(() => createGateway(options(overrides))).field).toBe(field);
    });
  }

  it('the local key provider checks what it wraps and unwraps', async () => {
    const provider = createLocalKeyProvider({ kek: new Uint8Array(32).fill(3) });
    for (const call of [
      () => provider.unwrapKey(null as never, 'ctx'),
      () => provider.unwrapKey(undefined as never, 'ctx'),
      () => provider.wrapKey(new Uint8Array(32), {} as never),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
  });

  it('the platform exports refuse a day that is not a UTC date, and the signals a business id too long', async () => {
    const gateway = createGateway(options());
    try {
      const { statistics, billing } = gateway.statisticsExport();
      for (const bad of [true, 'yesterday', '2026-13-01', '9999-99-99']) {
        expect(() => statistics.snapshot(bad as never)).toThrow(
          expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
        );
        expect(() => billing.snapshot(bad as never)).toThrow(
          expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
        );
      }
      expect(() => gateway.integritySignals().signal('a'.repeat(65))).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
      );
    } finally {
      await gateway.close();
    }
  });
});
