/**
 * The store conformance suite: the same groups of tests for every adapter, driven by an
 * injected fake clock (no real-time sleeps). Third-party adapters run it from their own test
 * file:
 *
 * ```ts
 * import { runStoreConformance, createCommitFaultInjector } from '@parley/storage-adapters/conformance';
 * const faults = createCommitFaultInjector();
 * runStoreConformance('my-adapter', {
 *   open: (clock) => createMyStore({ clock, testHooks: faults.hooks }),
 *   injectCommitFailure: (_store, afterWrites) => faults.arm(afterWrites),
 * });
 * ```
 *
 * Requires vitest (an optional peer dependency): it calls `describe`/`it`/`expect` at import
 * time of the test file that calls `runStoreConformance`.
 */
import {
  type Clock,
  type CommitOptions,
  isParleyError,
  type Mutation,
  type Namespace,
  type ParleyError,
  type Store,
  type WriteOperation,
} from '@parley/core';
import type { StoreTestHooks } from '@parley/core/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { type StoreScenario, sessionScenarios } from './session-scenarios.js';

export type { StoreTestHooks } from '@parley/core/storage';
export type { ScenarioContext, StoreScenario } from './session-scenarios.js';
export { sessionScenarios } from './session-scenarios.js';

/** A clock the tests move by hand. */
export interface FakeClock extends Clock {
  set(now: number): void;
  advance(ms: number): void;
}

export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let current = start;
  return {
    now: () => current,
    set(now) {
      current = now;
    },
    advance(ms) {
      current += ms;
    },
  };
}

/**
 * How the suite obtains stores. Each test calls `open` once (or more) and expects a fresh,
 * empty store; the suite closes every store it opened after each test, then calls `cleanup`.
 */
export interface ConformanceFactory {
  /** A fresh, empty store using `clock` for expiry decisions. */
  open(clock: Clock): Promise<Store>;
  /**
   * Opens the storage behind the most recent `open` again (called after the suite closed that
   * store). Omit for adapters without persistence; the persistence tests are then skipped.
   */
  reopen?(clock: Clock): Promise<Store>;
  /**
   * Arms `store` so that its next commit fails after `afterWrites` of its writes were applied
   * inside the transaction (see `createCommitFaultInjector`). Omit to skip those tests.
   */
  injectCommitFailure?(store: Store, afterWrites: number): void;
  /** Runs after each test, after the suite closed its stores (delete files, databases). */
  cleanup?(): Promise<void>;
}

export interface ConformanceOptions {
  /**
   * Scenario tests run on top of the basic groups. Defaults to `sessionScenarios`; pass
   * `[...sessionScenarios, ...yours]` to add adapter-specific ones.
   */
  readonly scenarios?: readonly StoreScenario[];
  /** Size of the large-value round trip; 1 MiB unless an adapter documents a lower cap. */
  readonly largeValueBytes?: number;
}

/** Fault injection through an adapter's `testHooks.beforeWrite`. */
export interface CommitFaultInjector {
  readonly hooks: StoreTestHooks;
  /** The next commit throws right before its write number `afterWrites` (0-based). */
  arm(afterWrites: number): void;
  /** How many injected failures have fired. */
  readonly fired: number;
}

export function createCommitFaultInjector(): CommitFaultInjector {
  let armed: number | undefined;
  let fired = 0;
  return {
    hooks: {
      beforeWrite(_operation, index) {
        if (armed !== undefined && index === armed) {
          armed = undefined;
          fired += 1;
          throw new Error('injected failure (conformance suite)');
        }
      },
    },
    arm(afterWrites) {
      armed = afterWrites;
    },
    get fired() {
      return fired;
    },
  };
}

const MiB = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function text(value: string): Uint8Array {
  return encoder.encode(value);
}

function readText(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : decoder.decode(value);
}

function put(
  namespace: Namespace,
  key: string,
  value: Uint8Array | string,
  expiresAt?: number,
): WriteOperation {
  return { type: 'put', namespace, key, value: typeof value === 'string' ? text(value) : value, expiresAt };
}

function del(namespace: Namespace, key: string): WriteOperation {
  return { type: 'delete', namespace, key };
}

/** Deterministic bytes (xorshift32) so a failure is reproducible. */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function counterBytes(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function readCounter(value: Uint8Array): number {
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function expectError(promise: Promise<unknown>, code: ParleyError['code']): Promise<ParleyError> {
  const error = await rejection(promise);
  expect(isParleyError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  return error as ParleyError;
}

async function valuesOf(store: Store, namespace: Namespace): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const record of await store.list(namespace)) out[record.key] = readText(record.value);
  return out;
}

export function runStoreConformance(
  name: string,
  factory: ConformanceFactory,
  options: ConformanceOptions = {},
): void {
  const scenarios = options.scenarios ?? sessionScenarios;
  const largeValueBytes = options.largeValueBytes ?? MiB;

  describe(`${name}: store conformance`, () => {
    const opened: Store[] = [];
    let clock = createFakeClock();

    async function open(): Promise<Store> {
      clock = createFakeClock();
      const store = await factory.open(clock);
      opened.push(store);
      return store;
    }

    async function reopen(): Promise<Store> {
      if (factory.reopen === undefined) throw new Error('factory has no reopen');
      const store = await factory.reopen(clock);
      opened.push(store);
      return store;
    }

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      await factory.cleanup?.();
    });

    describe('binary values round trip exactly', () => {
      it('keeps all 256 byte values, in both orders', async () => {
        const store = await open();
        const ascending = Uint8Array.from({ length: 256 }, (_, i) => i);
        const descending = ascending.slice().reverse();
        await store.commit([put('sessions', 'a', ascending), put('sessions', 'b', descending)]);
        expect((await store.get('sessions', 'a'))?.value).toEqual(ascending);
        expect((await store.get('sessions', 'b'))?.value).toEqual(descending);
        for (let byte = 0; byte < 256; byte++) {
          await store.commit([put('meta', `byte/${byte}`, Uint8Array.of(byte))]);
        }
        const listed = await store.list('meta', { prefix: 'byte/' });
        expect(listed).toHaveLength(256);
        for (const record of listed) {
          expect(record.value).toEqual(Uint8Array.of(Number(record.key.slice(5))));
        }
      });

      it('returns an empty value as an empty Uint8Array', async () => {
        const store = await open();
        await store.commit([put('prekeys', 'empty', new Uint8Array(0))]);
        const record = await store.get('prekeys', 'empty');
        expect(record?.value).toBeInstanceOf(Uint8Array);
        expect(record?.value.length).toBe(0);
        expect((await store.getMany('prekeys', ['empty'])).get('empty')?.value.length).toBe(0);
        expect((await store.list('prekeys'))[0]?.value.length).toBe(0);
      });

      it(`keeps a ${largeValueBytes}-byte value byte for byte`, async () => {
        const store = await open();
        const large = pseudoRandomBytes(largeValueBytes, 0x5eed);
        await store.commit([put('messages', 'large', large)]);
        const back = (await store.get('messages', 'large'))?.value;
        expect(back?.length).toBe(largeValueBytes);
        expect(back?.every((byte, i) => byte === large[i])).toBe(true);
      });

      it('stores only the bytes of a view, not its whole underlying buffer', async () => {
        const store = await open();
        const buffer = Uint8Array.from({ length: 64 }, (_, i) => i);
        await store.commit([put('sessions', 'view', buffer.subarray(10, 20))]);
        const back = (await store.get('sessions', 'view'))?.value;
        expect(back).toEqual(Uint8Array.from({ length: 10 }, (_, i) => i + 10));
        expect(back?.byteOffset).toBe(0);
      });

      it('returns expiresAt as written, and undefined when none was set', async () => {
        const store = await open();
        const expiresAt = clock.now() + 60_000;
        await store.commit([put('messages', 'm1', 'x', expiresAt), put('messages', 'm2', 'y')]);
        expect((await store.get('messages', 'm1'))?.expiresAt).toBe(expiresAt);
        expect((await store.get('messages', 'm2'))?.expiresAt).toBeUndefined();
      });

      it('keeps keys exactly, including non-ASCII and lone surrogates', async () => {
        const store = await open();
        const keys = ['é', '\u{1F600}', '\uFFFF', '\uD800', '\uDC00', 'a\u0000b', 'a'];
        await store.commit(keys.map((key, i) => put('meta', key, `v${i}`)));
        for (const [i, key] of keys.entries()) {
          expect(readText((await store.get('meta', key))?.value), JSON.stringify(key)).toBe(`v${i}`);
        }
        // Ascending order is plain JavaScript string comparison (UTF-16 code units).
        const expected = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        expect((await store.list('meta')).map((r) => r.key)).toEqual(expected);
      });
    });

    describe('get, getMany and list', () => {
      it('returns undefined for a missing record', async () => {
        const store = await open();
        expect(await store.get('sessions', 'nobody')).toBeUndefined();
      });

      it('keeps namespaces apart', async () => {
        const store = await open();
        await store.commit([put('sessions', 'k', 'session'), put('messages', 'k', 'message')]);
        expect(readText((await store.get('sessions', 'k'))?.value)).toBe('session');
        expect(readText((await store.get('messages', 'k'))?.value)).toBe('message');
        expect(await store.get('prekeys', 'k')).toBeUndefined();
        expect((await store.list('sessions')).map((r) => r.key)).toEqual(['k']);
      });

      it('getMany returns present records only', async () => {
        const store = await open();
        await store.commit([put('identities', 'a', 'A'), put('identities', 'c', 'C')]);
        const found = await store.getMany('identities', ['a', 'b', 'c', 'a']);
        expect([...found.keys()].sort()).toEqual(['a', 'c']);
        expect(readText(found.get('c')?.value)).toBe('C');
        expect((await store.getMany('identities', [])).size).toBe(0);
      });

      it('lists in ascending key order with prefix and limit', async () => {
        const store = await open();
        const keys = ['b/2', 'a/1', 'a/10', 'a/2', 'a0', 'a', 'a/\uFFFF/z', 'c'];
        await store.commit(keys.map((key) => put('messages', key, key)));
        expect((await store.list('messages')).map((r) => r.key)).toEqual([
          'a',
          'a/1',
          'a/10',
          'a/2',
          'a/\uFFFF/z',
          'a0',
          'b/2',
          'c',
        ]);
        expect((await store.list('messages', { prefix: 'a/' })).map((r) => r.key)).toEqual([
          'a/1',
          'a/10',
          'a/2',
          'a/\uFFFF/z',
        ]);
        expect((await store.list('messages', { prefix: 'a/', limit: 2 })).map((r) => r.key)).toEqual([
          'a/1',
          'a/10',
        ]);
        expect(await store.list('messages', { limit: 0 })).toEqual([]);
        expect(await store.list('messages', { prefix: 'zz' })).toEqual([]);
        const [first] = await store.list('messages', { prefix: 'b/' });
        expect(first?.key).toBe('b/2');
        expect(readText(first?.value)).toBe('b/2');
        expect(first?.version).toBe((await store.get('messages', 'b/2'))?.version);
      });

      it('refuses malformed arguments with ERR_INVALID_ARGUMENT', async () => {
        const store = await open();
        await expectError(store.get('nope' as Namespace, 'k'), 'ERR_INVALID_ARGUMENT');
        await expectError(store.get('sessions', '' as string), 'ERR_INVALID_ARGUMENT');
        await expectError(store.get('sessions', 7 as unknown as string), 'ERR_INVALID_ARGUMENT');
        await expectError(store.getMany('sessions', ['a', 3 as unknown as string]), 'ERR_INVALID_ARGUMENT');
        await expectError(store.list('sessions', { limit: -1 }), 'ERR_INVALID_ARGUMENT');
        await expectError(store.list('sessions', { limit: 1.5 }), 'ERR_INVALID_ARGUMENT');
        await expectError(store.sweepExpired(Number.NaN), 'ERR_INVALID_ARGUMENT');
      });
    });

    describe('versions and conflicts', () => {
      it('gives every write a new, increasing version and reports them in order of the puts', async () => {
        const store = await open();
        const first = await store.commit([
          put('sessions', 'a', '1'),
          del('meta', 'x'),
          put('counters', 'b', '1'),
        ]);
        expect(first.versions.map((v) => [v.namespace, v.key])).toEqual([
          ['sessions', 'a'],
          ['counters', 'b'],
        ]);
        const [va, vb] = first.versions.map((v) => v.version) as [number, number];
        expect(va).toBeGreaterThan(0);
        expect(vb).not.toBe(va);
        expect((await store.get('sessions', 'a'))?.version).toBe(va);
        expect((await store.get('counters', 'b'))?.version).toBe(vb);
        const second = await store.commit([put('sessions', 'a', '2')]);
        expect(second.versions[0]?.version).toBeGreaterThan(Math.max(va, vb));
      });

      it('refuses a stale expected version with ERR_STORE_CONFLICT and writes nothing', async () => {
        const store = await open();
        const { versions } = await store.commit([put('sessions', 'alice', 'v1')]);
        const v1 = versions[0]!.version;
        await store.commit([put('sessions', 'alice', 'v2')], {
          expectVersions: [{ namespace: 'sessions', key: 'alice', version: v1 }],
        });
        const error = await expectError(
          store.commit([put('sessions', 'alice', 'v3'), put('messages', 'alice/1', 'm')], {
            expectVersions: [{ namespace: 'sessions', key: 'alice', version: v1 }],
          }),
          'ERR_STORE_CONFLICT',
        );
        expect(error.details.namespace).toBe('sessions');
        expect(readText((await store.get('sessions', 'alice'))?.value)).toBe('v2');
        expect(await store.get('messages', 'alice/1')).toBeUndefined();
      });

      it('treats version 0 as "must not exist"', async () => {
        const store = await open();
        const mustNotExist: CommitOptions = {
          expectVersions: [{ namespace: 'prekeys', key: 'p', version: 0 }],
        };
        await store.commit([put('prekeys', 'p', 'first')], mustNotExist);
        await expectError(store.commit([put('prekeys', 'p', 'second')], mustNotExist), 'ERR_STORE_CONFLICT');
        expect(readText((await store.get('prekeys', 'p'))?.value)).toBe('first');
      });

      it('refuses a non-zero expectation on a missing record', async () => {
        const store = await open();
        await expectError(
          store.commit([put('sessions', 'x', 'v')], {
            expectVersions: [{ namespace: 'sessions', key: 'x', version: 1 }],
          }),
          'ERR_STORE_CONFLICT',
        );
        expect(await store.get('sessions', 'x')).toBeUndefined();
      });

      it('checks expectations on records the mutation does not write', async () => {
        const store = await open();
        const { versions } = await store.commit([put('identities', 'remote', 'trusted')]);
        const guard = {
          expectVersions: [
            { namespace: 'identities' as const, key: 'remote', version: versions[0]!.version },
          ],
        };
        await store.commit([put('sessions', 's', '1')], guard);
        await store.commit([put('identities', 'remote', 'changed')]);
        await expectError(store.commit([put('sessions', 's', '2')], guard), 'ERR_STORE_CONFLICT');
        expect(readText((await store.get('sessions', 's'))?.value)).toBe('1');
      });

      it('gives a deleted and re-created record a fresh version', async () => {
        const store = await open();
        const created = (await store.commit([put('sessions', 'r', 'a')])).versions[0]!.version;
        await store.commit([del('sessions', 'r')], {
          expectVersions: [{ namespace: 'sessions', key: 'r', version: created }],
        });
        expect(await store.get('sessions', 'r')).toBeUndefined();
        const recreated = (
          await store.commit([put('sessions', 'r', 'b')], {
            expectVersions: [{ namespace: 'sessions', key: 'r', version: 0 }],
          })
        ).versions[0]!.version;
        expect(recreated).toBeGreaterThan(created);
        await expectError(
          store.commit([put('sessions', 'r', 'c')], {
            expectVersions: [{ namespace: 'sessions', key: 'r', version: created }],
          }),
          'ERR_STORE_CONFLICT',
        );
      });

      it('applies the operations of one mutation in order; deleting a missing record is a no-op', async () => {
        const store = await open();
        await store.commit([
          put('meta', 'a', '1'),
          del('meta', 'a'),
          del('meta', 'b'),
          put('meta', 'b', '2'),
        ]);
        expect(await store.get('meta', 'a')).toBeUndefined();
        expect(readText((await store.get('meta', 'b'))?.value)).toBe('2');
        expect((await store.commit([])).versions).toEqual([]);
      });

      it('serializes 100 parallel read-modify-write updates of one record (retry on conflict)', async () => {
        const store = await open();
        let conflicts = 0;
        const increment = async (): Promise<number> => {
          for (let attempt = 0; attempt < 1_000; attempt++) {
            const current = await store.get('counters', 'hits');
            const next = (current === undefined ? 0 : readCounter(current.value)) + 1;
            try {
              const { versions } = await store.commit([put('counters', 'hits', counterBytes(next))], {
                expectVersions: [{ namespace: 'counters', key: 'hits', version: current?.version ?? 0 }],
              });
              return versions[0]!.version;
            } catch (error) {
              if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
              conflicts += 1;
            }
          }
          throw new Error('no progress after 1000 attempts');
        };
        const versions = await Promise.all(Array.from({ length: 100 }, increment));
        const final = await store.get('counters', 'hits');
        expect(readCounter(final!.value)).toBe(100);
        expect(new Set(versions).size).toBe(100);
        expect(final!.version).toBe(Math.max(...versions));
        expect(conflicts).toBeGreaterThanOrEqual(0);
      });
    });

    describe('commits are all-or-nothing', () => {
      async function seed(store: Store): Promise<number> {
        const { versions } = await store.commit([
          put('sessions', 'alice', 'session-1'),
          put('prekeys', 'otpk/7', 'prekey'),
          put('counters', 'received', 'count-1'),
        ]);
        return versions[0]!.version;
      }

      function decryptLikeMutation(): Mutation {
        return [
          put('sessions', 'alice', 'session-2'),
          del('prekeys', 'otpk/7'),
          put('identities', 'alice', 'identity'),
          put('messages', 'in/1', 'plaintext'),
          put('counters', 'received', 'count-2'),
        ];
      }

      async function expectUntouched(store: Store): Promise<void> {
        expect(await valuesOf(store, 'sessions')).toEqual({ alice: 'session-1' });
        expect(await valuesOf(store, 'prekeys')).toEqual({ 'otpk/7': 'prekey' });
        expect(await valuesOf(store, 'counters')).toEqual({ received: 'count-1' });
        expect(await valuesOf(store, 'identities')).toEqual({});
        expect(await valuesOf(store, 'messages')).toEqual({});
      }

      it('writes nothing in any namespace when one expectation conflicts', async () => {
        const store = await open();
        const version = await seed(store);
        await expectError(
          store.commit(decryptLikeMutation(), {
            expectVersions: [
              { namespace: 'sessions', key: 'alice', version },
              { namespace: 'identities', key: 'alice', version: 5 },
            ],
          }),
          'ERR_STORE_CONFLICT',
        );
        await expectUntouched(store);
      });

      it('writes nothing when one operation is malformed (ERR_INVALID_ARGUMENT)', async () => {
        const store = await open();
        await seed(store);
        const bad = [
          [
            ...decryptLikeMutation().slice(0, 3),
            { type: 'put', namespace: 'messages', key: 'm', value: 'no' },
          ],
          [
            ...decryptLikeMutation().slice(0, 3),
            { type: 'put', namespace: 'nope', key: 'm', value: new Uint8Array(1) },
          ],
          [...decryptLikeMutation().slice(0, 3), put('messages', 'm', 'x', Number.NaN)],
          [...decryptLikeMutation().slice(0, 3), { type: 'upsert', namespace: 'messages', key: 'm' }],
        ] as unknown as Mutation[];
        for (const mutation of bad) await expectError(store.commit(mutation), 'ERR_INVALID_ARGUMENT');
        await expectError(
          store.commit(decryptLikeMutation(), {
            expectVersions: [{ namespace: 'sessions', key: 'alice', version: -1 }],
          }),
          'ERR_INVALID_ARGUMENT',
        );
        await expectUntouched(store);
      });

      it.skipIf(factory.injectCommitFailure === undefined)(
        'rolls back a failure injected mid-commit (ERR_STORE_FAILURE) and stays usable',
        async () => {
          const store = await open();
          const version = await seed(store);
          for (const afterWrites of [0, 1, 3, 4]) {
            factory.injectCommitFailure!(store, afterWrites);
            const error = await expectError(
              store.commit(decryptLikeMutation(), {
                expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
              }),
              'ERR_STORE_FAILURE',
            );
            expect(error.message).toMatch(/nothing was written/i);
            await expectUntouched(store);
          }
          const { versions } = await store.commit(decryptLikeMutation(), {
            expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
          });
          expect(versions[0]!.version).toBeGreaterThan(version);
          expect(await valuesOf(store, 'messages')).toEqual({ 'in/1': 'plaintext' });
          expect(await valuesOf(store, 'prekeys')).toEqual({});
        },
      );
    });

    describe('expiry with an injected clock', () => {
      it('hides a record exactly at expiresAt, not one millisecond before', async () => {
        const store = await open();
        const deadline = clock.now() + 1_000;
        await store.commit([put('messages', 'm', 'x', deadline), put('messages', 'keep', 'y')]);
        clock.set(deadline - 1);
        expect(readText((await store.get('messages', 'm'))?.value)).toBe('x');
        expect((await store.getMany('messages', ['m'])).size).toBe(1);
        expect((await store.list('messages')).map((r) => r.key)).toEqual(['keep', 'm']);
        clock.set(deadline);
        expect(await store.get('messages', 'm')).toBeUndefined();
        expect((await store.getMany('messages', ['m', 'keep'])).has('m')).toBe(false);
        expect((await store.list('messages')).map((r) => r.key)).toEqual(['keep']);
        expect((await store.list('messages', { limit: 1 })).map((r) => r.key)).toEqual(['keep']);
      });

      it('never returns a record written already expired', async () => {
        const store = await open();
        await store.commit([put('messages', 'late', 'x', clock.now()), put('messages', 'past', 'y', 0)]);
        expect(await store.get('messages', 'late')).toBeUndefined();
        expect(await store.list('messages')).toEqual([]);
        expect(await store.sweepExpired(clock.now())).toBe(2);
      });

      it('sweepExpired deletes expired records physically and reports how many', async () => {
        const store = await open();
        const t0 = clock.now();
        await store.commit([
          put('messages', 'a', 'a', t0 + 10),
          put('messages', 'b', 'b', t0 + 20),
          put('outbox', 'c', 'c', t0 + 20),
          put('messages', 'd', 'd', t0 + 21),
          put('messages', 'forever', 'f'),
        ]);
        expect(await store.sweepExpired(t0)).toBe(0);
        clock.set(t0 + 20);
        expect(await store.sweepExpired(t0 + 20)).toBe(3);
        expect(await store.sweepExpired(t0 + 20)).toBe(0);
        expect((await store.list('messages')).map((r) => r.key)).toEqual(['d', 'forever']);
        // Swept records are gone, not merely hidden: a version-0 expectation passes and a
        // later backwards clock cannot show them again.
        clock.set(t0);
        expect(await store.get('messages', 'a')).toBeUndefined();
        expect(await store.sweepExpired(t0 + 1_000)).toBe(1);
        expect((await store.list('messages')).map((r) => r.key)).toEqual(['forever']);
      });

      it('treats an expired record as absent for version checks and lets it be re-created', async () => {
        const store = await open();
        const deadline = clock.now() + 5;
        const old = (await store.commit([put('prekeys', 'p', 'old', deadline)])).versions[0]!.version;
        clock.set(deadline);
        await expectError(
          store.commit([put('prekeys', 'p', 'stale')], {
            expectVersions: [{ namespace: 'prekeys', key: 'p', version: old }],
          }),
          'ERR_STORE_CONFLICT',
        );
        const fresh = (
          await store.commit([put('prekeys', 'p', 'new')], {
            expectVersions: [{ namespace: 'prekeys', key: 'p', version: 0 }],
          })
        ).versions[0]!.version;
        expect(fresh).toBeGreaterThan(old);
        const record = await store.get('prekeys', 'p');
        expect(readText(record?.value)).toBe('new');
        expect(record?.expiresAt).toBeUndefined();
      });

      it('keeps an expired record hidden when the clock goes backwards (expiry never runs backwards)', async () => {
        // The rule: a store judges expiry against the latest time it has seen, so an NTP step
        // back does not resurrect a record that was already expired; sweepExpired deletes it.
        const store = await open();
        const deadline = clock.now() + 100;
        await store.commit([
          put('messages', 'm', 'x', deadline),
          put('messages', 'later', 'y', deadline + 1_000),
        ]);
        clock.set(deadline);
        expect(await store.get('messages', 'm')).toBeUndefined();
        clock.set(deadline - 50);
        expect(await store.get('messages', 'm')).toBeUndefined();
        expect((await store.list('messages')).map((r) => r.key)).toEqual(['later']);
        expect((await store.getMany('messages', ['m'])).size).toBe(0);
        expect(await store.sweepExpired(clock.now())).toBe(1);
        expect(readText((await store.get('messages', 'later'))?.value)).toBe('y');
      });

      it('a record the clock has not reached yet stays visible after the clock goes backwards', async () => {
        const store = await open();
        const t0 = clock.now();
        await store.commit([put('messages', 'm', 'x', t0 + 100)]);
        clock.set(t0 + 99);
        expect(await store.get('messages', 'm')).toBeDefined();
        clock.set(t0 - 10_000);
        expect(await store.get('messages', 'm')).toBeDefined();
        expect(await store.sweepExpired(clock.now())).toBe(0);
      });

      it('overwriting a record replaces its expiry', async () => {
        const store = await open();
        const t0 = clock.now();
        await store.commit([put('outbox', 'o', 'x', t0 + 10)]);
        await store.commit([put('outbox', 'o', 'y')]);
        clock.set(t0 + 10);
        expect(readText((await store.get('outbox', 'o'))?.value)).toBe('y');
        expect(await store.sweepExpired(clock.now())).toBe(0);
      });
    });

    describe.skipIf(factory.reopen === undefined)('persistence across close and reopen', () => {
      it('keeps values, versions and expiry; versions keep increasing', async () => {
        const first = await open();
        const t0 = clock.now();
        const large = pseudoRandomBytes(64 * 1024, 7);
        const { versions } = await first.commit([
          put('sessions', 'alice', large),
          put('messages', 'in/1', 'hello', t0 + 1_000),
          put(
            'vault',
            'day/1',
            Uint8Array.from({ length: 256 }, (_, i) => i),
          ),
          put('meta', 'gone', 'x'),
        ]);
        await first.commit([del('meta', 'gone')]);
        await first.close();

        const second = await reopen();
        const session = await second.get('sessions', 'alice');
        expect(session?.value).toEqual(large);
        expect(session?.version).toBe(versions[0]!.version);
        expect((await second.get('messages', 'in/1'))?.expiresAt).toBe(t0 + 1_000);
        expect((await second.get('vault', 'day/1'))?.value).toEqual(
          Uint8Array.from({ length: 256 }, (_, i) => i),
        );
        expect(await second.get('meta', 'gone')).toBeUndefined();
        const next = (await second.commit([put('sessions', 'bob', 'b')])).versions[0]!.version;
        expect(next).toBeGreaterThan(Math.max(...versions.map((v) => v.version)));
        clock.set(t0 + 1_000);
        expect(await second.get('messages', 'in/1')).toBeUndefined();
        expect(await second.sweepExpired(clock.now())).toBe(1);
        await second.close();

        const third = await reopen();
        expect((await third.list('messages')).length).toBe(0);
        expect((await third.list('sessions')).map((r) => r.key)).toEqual(['alice', 'bob']);
      });
    });

    describe('lifecycle', () => {
      it('throws ERR_STORE_CLOSED from every method after close; close is idempotent', async () => {
        const store = await open();
        await store.commit([put('sessions', 'a', 'x')]);
        await store.close();
        await store.close();
        await expectError(store.get('sessions', 'a'), 'ERR_STORE_CLOSED');
        await expectError(store.getMany('sessions', ['a']), 'ERR_STORE_CLOSED');
        await expectError(store.list('sessions'), 'ERR_STORE_CLOSED');
        await expectError(store.commit([put('sessions', 'b', 'y')]), 'ERR_STORE_CLOSED');
        await expectError(store.sweepExpired(0), 'ERR_STORE_CLOSED');
      });

      it('declares its kind and region', async () => {
        const store = await open();
        expect(typeof store.kind).toBe('string');
        expect(store.kind.length).toBeGreaterThan(0);
        expect(store.region === undefined || typeof store.region === 'string').toBe(true);
      });
    });

    describe('values are copies', () => {
      it('mutating the written array after commit does not change the record', async () => {
        const store = await open();
        const value = Uint8Array.of(1, 2, 3);
        const mutation: Mutation = [put('sessions', 's', value)];
        await store.commit(mutation);
        value.fill(9);
        expect((await store.get('sessions', 's'))?.value).toEqual(Uint8Array.of(1, 2, 3));
        expect(mutation).toHaveLength(1);
      });

      it('what commit stores is what it was given when called, even if the caller changes it before it settles', async () => {
        const store = await open();
        const value = Uint8Array.of(1, 2, 3);
        const mutation: WriteOperation[] = [put('sessions', 's', value)];
        const expectVersions = [{ namespace: 'sessions' as const, key: 's', version: 0 }];
        const pending = store.commit(mutation, { expectVersions });
        value.fill(0);
        mutation[0] = put('sessions', 'other', 'x');
        expectVersions[0] = { namespace: 'sessions', key: 's', version: 99 };
        await pending;
        expect((await store.get('sessions', 's'))?.value).toEqual(Uint8Array.of(1, 2, 3));
        expect(await store.get('sessions', 'other')).toBeUndefined();
      });

      it('mutating a returned array does not change the record or other readers', async () => {
        const store = await open();
        await store.commit([put('sessions', 's', Uint8Array.of(1, 2, 3))]);
        const a = await store.get('sessions', 's');
        const b = await store.get('sessions', 's');
        a!.value.fill(0);
        expect(b!.value).toEqual(Uint8Array.of(1, 2, 3));
        (await store.getMany('sessions', ['s'])).get('s')!.value.fill(0);
        (await store.list('sessions'))[0]!.value.fill(0);
        expect((await store.get('sessions', 's'))?.value).toEqual(Uint8Array.of(1, 2, 3));
      });
    });

    // ---------------------------------------------------------------------------------------
    // EXTENSION POINT — session scenarios. Scenarios from `./session-scenarios.ts` (and any the
    // caller passes in `options.scenarios`) run here against the same factory, so higher-level
    // flows (Parley talking to Parley) are exercised unchanged on every adapter.
    // ---------------------------------------------------------------------------------------
    describe('session scenarios', () => {
      for (const scenario of scenarios) {
        it.skipIf(scenario.needsReopen === true && factory.reopen === undefined)(scenario.name, async () => {
          await open();
          const first = opened[opened.length - 1]!;
          await scenario.run({
            store: first,
            clock,
            open: async () => {
              const store = await factory.open(clock);
              opened.push(store);
              return store;
            },
            reopen: factory.reopen === undefined ? undefined : reopen,
          });
        });
      }
    });
  });
}
