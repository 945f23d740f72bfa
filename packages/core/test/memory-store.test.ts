import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import type { Clock, WriteOperation } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';

// A few direct tests of the reference store; the thorough, shared suite is the conformance
// suite in @parley/storage-adapters, which runs against this store too.

function fakeClock(start: number): Clock & { set(now: number): void } {
  let now = start;
  return {
    now: () => now,
    set(next) {
      now = next;
    },
  };
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value);

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('memory store', () => {
  it('refuses a stale version with ERR_STORE_CONFLICT and writes nothing', async () => {
    const store = createMemoryStore();
    const { versions } = await store.commit([
      { type: 'put', namespace: 'sessions', key: 'a', value: bytes('1') },
    ]);
    await store.commit([{ type: 'put', namespace: 'sessions', key: 'a', value: bytes('2') }]);
    const error = await errorOf(
      store.commit(
        [
          { type: 'put', namespace: 'sessions', key: 'a', value: bytes('3') },
          { type: 'put', namespace: 'messages', key: 'm', value: bytes('m') },
        ],
        { expectVersions: [{ namespace: 'sessions', key: 'a', version: versions[0]!.version }] },
      ),
    );
    expect(isParleyError(error, 'ERR_STORE_CONFLICT')).toBe(true);
    expect(text((await store.get('sessions', 'a'))?.value)).toBe('2');
    expect(await store.get('messages', 'm')).toBeUndefined();
  });

  it('version 0 means "must not exist"; a re-created record gets a fresh version', async () => {
    const store = createMemoryStore();
    const absent = { expectVersions: [{ namespace: 'prekeys' as const, key: 'p', version: 0 }] };
    const first = (
      await store.commit([{ type: 'put', namespace: 'prekeys', key: 'p', value: bytes('x') }], absent)
    ).versions[0]!.version;
    expect(isParleyError(await errorOf(store.commit([], absent)), 'ERR_STORE_CONFLICT')).toBe(true);
    await store.commit([{ type: 'delete', namespace: 'prekeys', key: 'p' }]);
    const second = (
      await store.commit([{ type: 'put', namespace: 'prekeys', key: 'p', value: bytes('y') }], absent)
    ).versions[0]!.version;
    expect(second).toBeGreaterThan(first);
  });

  it('rolls back every write of a commit that fails half-way', async () => {
    let failAt: number | undefined;
    const store = createMemoryStore({
      testHooks: {
        beforeWrite: (_op, index) => {
          if (index === failAt) throw new Error('injected');
        },
      },
    });
    await store.commit([
      { type: 'put', namespace: 'sessions', key: 's', value: bytes('old') },
      { type: 'put', namespace: 'prekeys', key: 'p', value: bytes('prekey') },
    ]);
    const mutation: WriteOperation[] = [
      { type: 'put', namespace: 'sessions', key: 's', value: bytes('new') },
      { type: 'delete', namespace: 'prekeys', key: 'p' },
      { type: 'put', namespace: 'messages', key: 'm', value: bytes('m') },
    ];
    failAt = 2;
    const error = await errorOf(store.commit(mutation));
    expect(isParleyError(error, 'ERR_STORE_FAILURE')).toBe(true);
    expect(text((await store.get('sessions', 's'))?.value)).toBe('old');
    expect(text((await store.get('prekeys', 'p'))?.value)).toBe('prekey');
    expect(await store.get('messages', 'm')).toBeUndefined();
    failAt = undefined;
    await store.commit(mutation);
    expect(text((await store.get('sessions', 's'))?.value)).toBe('new');
    expect(await store.get('prekeys', 'p')).toBeUndefined();
  });

  it('hides records from expiresAt on, sweeps them, and never un-expires when the clock steps back', async () => {
    const clock = fakeClock(1_000);
    const store = createMemoryStore({ clock });
    await store.commit([
      { type: 'put', namespace: 'messages', key: 'm1', value: bytes('a'), expiresAt: 1_500 },
      { type: 'put', namespace: 'messages', key: 'm2', value: bytes('b'), expiresAt: 2_000 },
      { type: 'put', namespace: 'messages', key: 'keep', value: bytes('c') },
    ]);
    clock.set(1_499);
    expect((await store.list('messages')).map((r) => r.key)).toEqual(['keep', 'm1', 'm2']);
    clock.set(1_500);
    expect(await store.get('messages', 'm1')).toBeUndefined();
    expect((await store.getMany('messages', ['m1', 'm2'])).size).toBe(1);
    clock.set(1_200);
    expect(await store.get('messages', 'm1')).toBeUndefined();
    expect(await store.sweepExpired(clock.now())).toBe(1);
    expect(await store.sweepExpired(2_000)).toBe(1);
    expect((await store.list('messages')).map((r) => r.key)).toEqual(['keep']);
  });

  it('copies values in and out', async () => {
    const store = createMemoryStore();
    const value = Uint8Array.of(1, 2, 3);
    await store.commit([{ type: 'put', namespace: 'vault', key: 'k', value }]);
    value[0] = 9;
    (await store.get('vault', 'k'))!.value[1] = 9;
    expect((await store.get('vault', 'k'))?.value).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('lists by prefix in ascending order with a limit', async () => {
    const store = createMemoryStore({ region: 'eu' });
    expect(store.region).toBe('eu');
    await store.commit(
      ['b', 'a/2', 'a/1', 'a0'].map((key) => ({ type: 'put', namespace: 'meta', key, value: bytes(key) })),
    );
    expect((await store.list('meta', { prefix: 'a/' })).map((r) => r.key)).toEqual(['a/1', 'a/2']);
    expect((await store.list('meta', { limit: 3 })).map((r) => r.key)).toEqual(['a/1', 'a/2', 'a0']);
  });

  it('throws ERR_STORE_CLOSED after close', async () => {
    const store = createMemoryStore();
    await store.close();
    await store.close();
    expect(isParleyError(await errorOf(store.get('sessions', 'x')), 'ERR_STORE_CLOSED')).toBe(true);
    expect(isParleyError(await errorOf(store.commit([])), 'ERR_STORE_CLOSED')).toBe(true);
  });
});
