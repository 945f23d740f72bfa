import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { MessageType } from '../src/session/session-manager.js';
import { acceptIdentityChanges } from '../src/session/trust.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { connect, createParty, DAY_MS, FakeClock, type Party, str, text } from './support/parties.js';

async function send(from: Party, to: Party, value: string) {
  return from.sessions.encrypt(to.address, text(value));
}

async function receive(at: Party, from: Party, message: { type: 2 | 3; body: Uint8Array }) {
  return str((await at.sessions.decrypt(from.address, message)).plaintext);
}

describe('sessions between two Parley parties', () => {
  it.each([
    ['with a one-time prekey', 1],
    ['without a one-time prekey', undefined],
  ] as const)(
    'set up %s, two prekey messages, a reply, then 50 messages both ways',
    async (_label, preKeyId) => {
      const alice = await createParty('alice');
      const bob = await createParty('bob');
      await connect(alice, bob, preKeyId);

      const first = await send(alice, bob, 'hello 1');
      const second = await send(alice, bob, 'hello 2');
      expect(first.type).toBe(MessageType.PreKey);
      expect(second.type).toBe(MessageType.PreKey);
      const firstResult = await bob.sessions.decrypt(alice.address, first);
      expect(firstResult.newSession).toBe(true);
      expect(str(firstResult.plaintext)).toBe('hello 1');
      // The second prekey message carries the same base key: it must open with the session
      // the first one created, although the one-time prekey is gone by now.
      const secondResult = await bob.sessions.decrypt(alice.address, second);
      expect(secondResult.newSession).toBe(false);
      expect(str(secondResult.plaintext)).toBe('hello 2');
      if (preKeyId !== undefined) {
        expect(
          await bob.store.get('prekeys', bob.sessions.records.preKeyKey('one-time', preKeyId)),
        ).toBeUndefined();
      }

      const reply = await send(bob, alice, 'reply');
      expect(reply.type).toBe(MessageType.Whisper);
      expect(await receive(alice, bob, reply)).toBe('reply');
      const afterReply = await send(alice, bob, 'after reply');
      expect(afterReply.type).toBe(MessageType.Whisper);
      expect(await receive(bob, alice, afterReply)).toBe('after reply');

      for (let i = 0; i < 50; i++) {
        const [from, to] = i % 3 === 0 ? [bob, alice] : [alice, bob];
        const message = await send(from, to, `message ${i}`);
        expect(await receive(to, from, message)).toBe(`message ${i}`);
      }
    },
  );

  it('a reversed burst and a dropped message do not break the session', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    await connect(alice, bob);
    expect(await receive(bob, alice, await send(alice, bob, 'start'))).toBe('start');
    expect(await receive(alice, bob, await send(bob, alice, 'ack'))).toBe('ack');

    const burst = [];
    for (let i = 0; i < 12; i++) burst.push(await send(alice, bob, `burst ${i}`));
    const dropped = burst.splice(5, 1);
    expect(dropped).toHaveLength(1);
    for (const [i, message] of [...burst.entries()].reverse()) {
      expect(await receive(bob, alice, message)).toBe(`burst ${i >= 5 ? i + 1 : i}`);
    }
    expect(await receive(alice, bob, await send(bob, alice, 'still here'))).toBe('still here');
    expect(await receive(bob, alice, await send(alice, bob, 'me too'))).toBe('me too');
  });

  it('a late message on an archived session promotes it, and the newer session keeps working', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    await connect(alice, bob, 1);
    expect(await receive(bob, alice, await send(alice, bob, 'old session'))).toBe('old session');
    const lateFromBob = await send(bob, alice, 'late on old session');

    // Alice starts over (as after a reinstall of her session state); the old one is archived.
    await connect(alice, bob, 2);
    const onNew = await send(alice, bob, 'new session');
    expect(onNew.type).toBe(MessageType.PreKey);
    expect(await receive(bob, alice, onNew)).toBe('new session');

    expect(await receive(alice, bob, lateFromBob)).toBe('late on old session');
    const replyOnNew = await send(bob, alice, 'reply on new');
    expect(await receive(alice, bob, replyOnNew)).toBe('reply on new');
    expect(await receive(bob, alice, await send(alice, bob, 'onwards'))).toBe('onwards');
  });

  it('simultaneous initiation converges on one session', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    await connect(alice, bob, 1);
    await connect(bob, alice, 1);
    const fromAlice = await send(alice, bob, 'hi bob');
    const fromBob = await send(bob, alice, 'hi alice');
    expect(await receive(bob, alice, fromAlice)).toBe('hi bob');
    expect(await receive(alice, bob, fromBob)).toBe('hi alice');

    for (let i = 0; i < 6; i++) {
      expect(await receive(bob, alice, await send(alice, bob, `a${i}`))).toBe(`a${i}`);
      expect(await receive(alice, bob, await send(bob, alice, `b${i}`))).toBe(`b${i}`);
    }
    const lastA = await send(alice, bob, 'settled');
    expect(lastA.type).toBe(MessageType.Whisper);
    expect(await receive(bob, alice, lastA)).toBe('settled');
  });

  it('an unacknowledged session is refused after 30 days, an acknowledged one is not', async () => {
    const clock = new FakeClock();
    const alice = await createParty('alice', { clock });
    const bob = await createParty('bob', { clock });
    const carol = await createParty('carol', { clock });
    await connect(alice, bob);
    await connect(alice, carol);
    await receive(carol, alice, await send(alice, carol, 'hi'));
    await receive(alice, carol, await send(carol, alice, 'ack'));

    clock.advance(30 * DAY_MS);
    await expect(send(alice, bob, 'still ok at exactly 30 days')).resolves.toBeDefined();
    clock.advance(1);
    const error = await send(alice, bob, 'too late').catch((e: unknown) => e);
    expect(isParleyError(error, 'ERR_SESSION_EXPIRED')).toBe(true);
    await expect(send(alice, carol, 'fine')).resolves.toMatchObject({ type: MessageType.Whisper });
  });

  it('under the accepting policy a changed identity archives the old session and is reported', async () => {
    const clock = new FakeClock();
    const store = createMemoryStore({ clock });
    const business = await createParty('business', { clock, store, trust: acceptIdentityChanges });
    const person = await createParty('person', { clock });
    await connect(person, business, 1);
    await receive(business, person, await send(person, business, 'before reinstall'));

    const reinstalled = await createParty('person', { clock });
    await connect(reinstalled, business, 2);
    const result = await business.sessions.decrypt(
      reinstalled.address,
      await send(reinstalled, business, 'after'),
    );
    expect(str(result.plaintext)).toBe('after');
    expect(result.identityChange).toBeDefined();
    expect(result.identityChange?.previousIdentityKey).toEqual(
      (await person.sessions.localIdentity()).identityKeyPair.publicKey,
    );
    expect(await receive(reinstalled, business, await send(business, reinstalled, 'welcome back'))).toBe(
      'welcome back',
    );
  });
});
