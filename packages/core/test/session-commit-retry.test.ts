/**
 * Issue 15, item 7: with two managers on one store, a busy address loses optimistic commits
 * to the other writer in bursts. The retry loop used to give up after 8 immediate attempts
 * and let `ERR_STORE_CONFLICT` escape; now it waits jittered, growing delays drawn from the
 * injected random source and gives up only when its time budget is spent.
 */
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import type { CommitOptions, Mutation, Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { connect, createParty, FakeClock, type Party, str, text } from './support/parties.js';

/**
 * A store where another writer wins the race for one record: before each of the next
 * `rivalWins` commits that write `sessions/{key}`, it rewrites that record first, so the
 * commit's expected version is stale — a genuine conflict from the underlying store.
 */
function contendedStore(inner: Store, sessionKey: () => string, rivalWins: number) {
  let remaining = rivalWins;
  const stats = { commits: 0, conflicts: 0 };
  const store: Store = {
    kind: inner.kind,
    region: inner.region,
    get: (n, k) => inner.get(n, k),
    getMany: (n, k) => inner.getMany(n, k),
    list: (n, o) => inner.list(n, o),
    sweepExpired: (now) => inner.sweepExpired(now),
    close: () => inner.close(),
    async commit(mutation: Mutation, options?: CommitOptions) {
      const key = sessionKey();
      const touches = mutation.some((w) => w.type === 'put' && w.namespace === 'sessions' && w.key === key);
      if (touches) stats.commits++;
      if (touches && remaining > 0) {
        remaining--;
        const current = await inner.get('sessions', key);
        if (current) await inner.commit([{ type: 'put', namespace: 'sessions', key, value: current.value }]);
      }
      try {
        return await inner.commit(mutation, options);
      } catch (error) {
        if (isParleyError(error, 'ERR_STORE_CONFLICT')) stats.conflicts++;
        throw error;
      }
    },
  };
  return { store, stats, setRivalWins: (n: number) => (remaining = n) };
}

interface Setup {
  readonly alice: Party;
  readonly bob: Party;
  readonly waits: number[];
  readonly stats: { commits: number; conflicts: number };
  readonly setRivalWins: (n: number) => void;
  readonly clock: FakeClock;
}

async function setup(seed: string, budgetMs = 2_000): Promise<Setup> {
  const clock = new FakeClock();
  const waits: number[] = [];
  let bobKey = '';
  const contended = contendedStore(createMemoryStore({ clock }), () => bobKey, 0);
  const alice = await createParty('alice', { clock });
  const bob = await createParty('bob', {
    clock,
    seed,
    store: contended.store,
    extra: {
      retry: {
        budgetMs,
        sleep: async (ms: number) => {
          waits.push(ms);
          clock.advance(ms);
        },
      },
    },
  });
  bobKey = bob.sessions.records.sessionKey(alice.address);
  await connect(alice, bob);
  await bob.sessions.decrypt(alice.address, await alice.sessions.encrypt(bob.address, text('hello')));
  return { alice, bob, waits, stats: contended.stats, setRivalWins: contended.setRivalWins, clock };
}

describe('conflicting commits are retried with jittered backoff, bounded by time', () => {
  it('a decrypt that loses its commit 12 times in a row still succeeds', async () => {
    const { alice, bob, waits, stats, setRivalWins } = await setup('retry seed 1');
    const message = await alice.sessions.encrypt(bob.address, text('through the crowd'));
    setRivalWins(12);
    stats.conflicts = 0;
    const result = await bob.sessions.decrypt(alice.address, message);
    expect(str(result.plaintext)).toBe('through the crowd');
    expect(stats.conflicts).toBe(12);
    // One wait per conflict; caps double from 2 ms up to 100 ms, each wait in [cap/2, cap].
    expect(waits).toHaveLength(12);
    waits.forEach((ms, i) => {
      const cap = Math.min(100, 2 * 2 ** i);
      expect(ms).toBeGreaterThanOrEqual(cap / 2);
      expect(ms).toBeLessThanOrEqual(cap);
    });
    // Jittered: the waits at the 100 ms cap are not all the same.
    expect(new Set(waits.slice(7)).size).toBeGreaterThan(1);
  });

  it('the waits come from the injected random source: the same seed gives the same waits', async () => {
    const runs: number[][] = [];
    for (const seed of ['retry seed 2', 'retry seed 2', 'retry seed 3']) {
      const { alice, bob, waits, setRivalWins } = await setup(seed);
      const message = await alice.sessions.encrypt(bob.address, text('again'));
      setRivalWins(5);
      await bob.sessions.decrypt(alice.address, message);
      runs.push(waits);
    }
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]).not.toEqual(runs[2]);
  });

  it('under endless contention it gives up with ERR_STORE_CONFLICT once the time budget is spent', async () => {
    const budgetMs = 1_000;
    const { alice, bob, clock, waits, stats, setRivalWins } = await setup('retry seed 4', budgetMs);
    const message = await alice.sessions.encrypt(bob.address, text('never lands'));
    const before = await bob.store.get('sessions', bob.sessions.records.sessionKey(alice.address));
    setRivalWins(Number.MAX_SAFE_INTEGER);
    stats.commits = 0;
    const start = clock.now();
    const error = await bob.sessions.decrypt(alice.address, message).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isParleyError(error, 'ERR_STORE_CONFLICT')).toBe(true);
    const spent = clock.now() - start;
    expect(spent).toBeLessThanOrEqual(budgetMs);
    // It stopped because the next wait (at most 100 ms) would overrun the budget.
    expect(spent).toBeGreaterThan(budgetMs - 100);
    expect(stats.commits).toBe(waits.length + 1);
    expect(stats.commits).toBeGreaterThan(8);
    // The session record kept its bytes (the rival rewrote the same value).
    const after = await bob.store.get('sessions', bob.sessions.records.sessionKey(alice.address));
    expect(Buffer.from(after!.value).equals(Buffer.from(before!.value))).toBe(true);
    // And the message still decrypts once the contention ends.
    setRivalWins(0);
    expect(str((await bob.sessions.decrypt(alice.address, message)).plaintext)).toBe('never lands');
  });
});
