/**
 * `alsoExpect` on encrypt: a caller's own precondition (a gateway attempt's claim on its outbox
 * entry) that no longer holds ends the operation at the first conflict — re-running it from
 * fresh reads cannot bring the record's version back — while a conflict on the session itself
 * (another writer encrypted first) is still re-run and succeeds.
 */
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { SessionManager } from '../src/session/session-manager.js';
import type { Store } from '../src/storage/contract.js';
import { connect, createParty, snapshot, testCrypto } from './support/parties.js';

const text = (value: string) => new TextEncoder().encode(value);

async function pair() {
  const alice = await createParty('alice');
  const bob = await createParty('bob');
  await connect(alice, bob);
  let commits = 0;
  let beforeFirstCommit: (() => Promise<void>) | undefined;
  const counting: Store = Object.create(alice.store, {
    commit: {
      value: async (...args: Parameters<Store['commit']>) => {
        commits += 1;
        const hook = beforeFirstCommit;
        beforeFirstCommit = undefined;
        if (hook) await hook();
        return alice.store.commit(...args);
      },
    },
  });
  // A second instance of alice over the same records, with the default retry budget (2 s).
  const twin = new SessionManager({
    store: counting,
    crypto: testCrypto(),
    clock: alice.clock,
    scope: 'alice',
  });
  return {
    alice,
    bob,
    twin,
    commits: () => commits,
    onFirstCommit(hook: () => Promise<void>) {
      beforeFirstCommit = hook;
    },
  };
}

describe('encrypt with alsoExpect', () => {
  it('a record the caller expected has moved: one commit, a final conflict, nothing written', async () => {
    const { alice, bob, twin, commits } = await pair();
    await alice.store.commit([{ type: 'put', namespace: 'meta', key: 'claim', value: new Uint8Array([1]) }]);
    const claim = await alice.store.get('meta', 'claim');
    // Another instance took the claim over meanwhile.
    await alice.store.commit([{ type: 'put', namespace: 'meta', key: 'claim', value: new Uint8Array([2]) }]);
    const before = await snapshot(alice.store);
    const error = await twin
      .encrypt(bob.address, text('late'), {
        alsoExpect: [{ namespace: 'meta', key: 'claim', version: claim!.version }],
      })
      .then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
    expect(isParleyError(error, 'ERR_STORE_CONFLICT')).toBe(true);
    expect(isParleyError(error) && error.details.final).toBe(true);
    expect(commits()).toBe(1);
    expect(await snapshot(alice.store)).toEqual(before);
  });

  it('a conflict on the session with the caller’s records unchanged is re-run and succeeds', async () => {
    const { alice, bob, twin, commits, onFirstCommit } = await pair();
    await alice.store.commit([{ type: 'put', namespace: 'meta', key: 'claim', value: new Uint8Array([1]) }]);
    const claim = await alice.store.get('meta', 'claim');
    // The first instance encrypts on the session between the twin's read and its commit.
    onFirstCommit(async () => {
      await alice.sessions.encrypt(bob.address, text('first'));
    });
    const message = await twin.encrypt(bob.address, text('second'), {
      alsoExpect: [{ namespace: 'meta', key: 'claim', version: claim!.version }],
    });
    expect(commits()).toBe(2);
    expect(message.body.length).toBeGreaterThan(0);
  });
});
