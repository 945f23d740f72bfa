/**
 * `processBundle(address, bundle, { ifNoSession, alsoWrite })`: of several writers sharing a
 * store (gateway instances), exactly one starts a first session, and what it counts commits
 * with it. Decided on the store's state in the commit, not on a cached read.
 */
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { SessionManager } from '../src/session/session-manager.js';
import { createParty, snapshot, testCrypto } from './support/parties.js';

const bundleOf = (bob: Awaited<ReturnType<typeof createParty>>, preKeyId: number) =>
  bob.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId });

describe('processBundle options', () => {
  it('ifNoSession starts a first session with alsoWrite, and later writes nothing', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    const marker = {
      type: 'put' as const,
      namespace: 'meta' as const,
      key: 'counted/1',
      value: new Uint8Array([1]),
    };
    const first = await alice.sessions.processBundle(bob.address, await bundleOf(bob, 1), {
      ifNoSession: true,
      alsoWrite: [marker],
    });
    expect(first.established).toBe(true);
    expect((await alice.store.get('meta', 'counted/1'))?.value).toEqual(new Uint8Array([1]));
    const before = await snapshot(alice.store);
    const second = await alice.sessions.processBundle(bob.address, await bundleOf(bob, 2), {
      ifNoSession: true,
      alsoWrite: [{ ...marker, key: 'counted/2' }],
    });
    expect(second).toMatchObject({ established: false, sessionVersion: first.sessionVersion });
    expect(await snapshot(alice.store)).toEqual(before);
  });

  it('two managers on one store starting a session at once: one starts it, the other keeps it', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    // A second instance of alice: same store and scope, caches of its own.
    const twin = new SessionManager({
      store: alice.store,
      crypto: testCrypto(),
      clock: alice.clock,
      scope: 'alice',
    });
    const results = await Promise.all([
      alice.sessions.processBundle(bob.address, await bundleOf(bob, 1), { ifNoSession: true }),
      twin.processBundle(bob.address, await bundleOf(bob, 2), { ifNoSession: true }),
    ]);
    expect(results.map((result) => result.established).sort()).toEqual([false, true]);
    // Both encrypt on the one session: bob opens both messages.
    const one = await alice.sessions.encrypt(bob.address, new Uint8Array([1]));
    const two = await twin.encrypt(bob.address, new Uint8Array([2]));
    expect((await bob.sessions.decrypt(alice.address, one)).plaintext).toEqual(new Uint8Array([1]));
    expect((await bob.sessions.decrypt(alice.address, two)).plaintext).toEqual(new Uint8Array([2]));
  });

  it('malformed options are ERR_INVALID_ARGUMENT and store nothing', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    const bundle = await bundleOf(bob, 1);
    const before = await snapshot(alice.store);
    for (const bad of [null, 5, { alsoWrite: 'x' }]) {
      let caught: unknown;
      try {
        await alice.sessions.processBundle(bob.address, bundle, bad as never);
      } catch (error) {
        caught = error;
      }
      expect(isParleyError(caught, 'ERR_INVALID_ARGUMENT'), String(caught)).toBe(true);
    }
    expect(await snapshot(alice.store)).toEqual(before);
  });
});
