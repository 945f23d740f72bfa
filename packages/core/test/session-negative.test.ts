import { describe, expect, it } from 'vitest';
import { type ErrorCode, isParleyError } from '../src/errors.js';
import { MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS } from '../src/ratchet/limits.js';
import { MessageType } from '../src/session/session-manager.js';
import { decodePreKeySignalMessage, encodePreKeySignalMessage } from '../src/wire/prekey-signal-message.js';
import { connect, createParty, type Party, snapshot, str, text } from './support/parties.js';

async function expectRefusal(party: Party, action: () => Promise<unknown>, code: ErrorCode): Promise<void> {
  const before = await snapshot(party.store);
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeDefined();
  expect(isParleyError(error), `not a ParleyError: ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  expect(await snapshot(party.store)).toEqual(before);
}

/** Alice and Bob with an acknowledged session. */
async function established(): Promise<{ alice: Party; bob: Party }> {
  const alice = await createParty('alice');
  const bob = await createParty('bob');
  await connect(alice, bob);
  await bob.sessions.decrypt(alice.address, await alice.sessions.encrypt(bob.address, text('hi')));
  await alice.sessions.decrypt(bob.address, await bob.sessions.encrypt(alice.address, text('hi back')));
  return { alice, bob };
}

function flip(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = bytes.slice();
  out[index] = out[index]! ^ (1 << bit);
  return out;
}

describe('refused input changes nothing', () => {
  it('every single-bit flip of the signed-prekey signature is refused before anything is stored', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    const bundle = await bob.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 1 });
    for (let bit = 0; bit < bundle.signedPreKeySignature.length * 8; bit++) {
      const signature = flip(bundle.signedPreKeySignature, bit >> 3, bit & 7);
      await expectRefusal(
        alice,
        () => alice.sessions.processBundle(bob.address, { ...bundle, signedPreKeySignature: signature }),
        'ERR_INVALID_SIGNATURE',
      );
    }
    expect(await alice.sessions.hasSession(bob.address)).toBe(false);
  });

  it('a tampered MAC, ciphertext or header is refused', async () => {
    const { alice, bob } = await established();
    const message = await alice.sessions.encrypt(bob.address, text('tamper me'));
    expect(message.type).toBe(MessageType.Whisper);
    const { body } = message;
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 2, body: flip(body, body.length - 1) }),
      'ERR_INVALID_MAC',
    );
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 2, body: flip(body, body.length - 12) }),
      'ERR_INVALID_MAC',
    );
    // The counter: version, tag, length and the 33-byte key come first, then its tag.
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 2, body: flip(body, 37) }),
      'ERR_INVALID_MAC',
    );
    expect(str((await bob.sessions.decrypt(alice.address, message)).plaintext)).toBe('tamper me');
  });

  it('a replayed message is a duplicate', async () => {
    const { alice, bob } = await established();
    const message = await alice.sessions.encrypt(bob.address, text('once'));
    await bob.sessions.decrypt(alice.address, message);
    await expectRefusal(bob, () => bob.sessions.decrypt(alice.address, message), 'ERR_DUPLICATE_MESSAGE');
  });

  it('a replayed prekey message is a duplicate; replayed under another identity it is refused', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    const mallory = await createParty('mallory');
    await connect(alice, bob);
    const first = await alice.sessions.encrypt(bob.address, text('first'));
    await bob.sessions.decrypt(alice.address, first);
    await expectRefusal(bob, () => bob.sessions.decrypt(alice.address, first), 'ERR_DUPLICATE_MESSAGE');

    const fields = decodePreKeySignalMessage(first.body);
    const forged = encodePreKeySignalMessage({
      ...fields,
      identityKey: (await mallory.sessions.localIdentity()).identityKeyPair.publicKey,
    });
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 3, body: forged }),
      'ERR_UNTRUSTED_IDENTITY',
    );
    // From an address with no pinned identity: the one-time prekey is spent, and without
    // it the forged identity enters X3DH and the MAC cannot verify.
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(mallory.address, { type: 3, body: forged }),
      'ERR_PREKEY_NOT_FOUND',
    );
    const forgedWithoutPreKey = encodePreKeySignalMessage({
      ...fields,
      preKeyId: undefined,
      identityKey: (await mallory.sessions.localIdentity()).identityKeyPair.publicKey,
    });
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(mallory.address, { type: 3, body: forgedWithoutPreKey }),
      'ERR_INVALID_MAC',
    );
  });

  it('an unknown one-time or signed prekey id is refused', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    await connect(alice, bob, 3);
    await bob.sessions.removePreKey('one-time', 3);
    const message = await alice.sessions.encrypt(bob.address, text('x'));
    await expectRefusal(bob, () => bob.sessions.decrypt(alice.address, message), 'ERR_PREKEY_NOT_FOUND');

    const carol = await createParty('carol');
    await connect(carol, bob, 4);
    await bob.sessions.removePreKey('signed', 1);
    const fromCarol = await carol.sessions.encrypt(bob.address, text('y'));
    await expectRefusal(bob, () => bob.sessions.decrypt(carol.address, fromCarol), 'ERR_PREKEY_NOT_FOUND');
  });

  it('a counter jump beyond the limit is refused', async () => {
    const { alice, bob } = await established();
    const states = alice.sessions as unknown as { encrypt: typeof alice.sessions.encrypt };
    // Advance Alice's chain past the limit without delivering anything.
    let last: Awaited<ReturnType<typeof states.encrypt>> | undefined;
    for (let i = 0; i <= MAX_FORWARD_JUMPS + 1; i++)
      last = await alice.sessions.encrypt(bob.address, text('.'));
    await expectRefusal(bob, () => bob.sessions.decrypt(alice.address, last!), 'ERR_MESSAGE_GAP_TOO_LARGE');
  }, 120_000);

  it('many small jumps evict the oldest skipped keys; evicted messages are duplicates, recent ones open', async () => {
    const { alice, bob } = await established();
    const skipped: { type: 2 | 3; body: Uint8Array }[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < MAX_MESSAGE_KEYS; i++)
        skipped.push(await alice.sessions.encrypt(bob.address, text(`s${round}-${i}`)));
      await bob.sessions.decrypt(alice.address, await alice.sessions.encrypt(bob.address, text('tick')));
    }
    await expectRefusal(bob, () => bob.sessions.decrypt(alice.address, skipped[0]!), 'ERR_DUPLICATE_MESSAGE');
    const recent = skipped[skipped.length - 1]!;
    expect(str((await bob.sessions.decrypt(alice.address, recent)).plaintext)).toBe(
      `s2-${MAX_MESSAGE_KEYS - 1}`,
    );
    const record = await bob.store.get('sessions', bob.sessions.records.sessionKey(alice.address));
    expect(record!.value.length).toBeLessThan(MAX_MESSAGE_KEYS * 40 + 2_000);
  }, 120_000);

  it('low-order and all-zero ratchet keys are refused', async () => {
    const { alice, bob } = await established();
    const message = await alice.sessions.encrypt(bob.address, text('x'));
    for (const bad of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
      const body = message.body.slice();
      body.set(bad, 4); // version byte, field tag, length and 0x05 come first
      await expectRefusal(
        bob,
        () => bob.sessions.decrypt(alice.address, { type: 2, body }),
        'ERR_INVALID_KEY',
      );
    }
  });

  it('truncated, oversized, malformed and unknown-version messages are refused', async () => {
    const { alice, bob } = await established();
    const message = await alice.sessions.encrypt(bob.address, text('shape'));
    for (const length of [0, 1, 5, 9, 20, message.body.length - 9]) {
      const error = await bob.sessions
        .decrypt(alice.address, { type: 2, body: message.body.slice(0, length) })
        .catch((e) => e);
      expect(isParleyError(error)).toBe(true);
    }
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 2, body: new Uint8Array(300 * 1024) }),
      'ERR_MESSAGE_TOO_LARGE',
    );
    await expectRefusal(
      bob,
      () =>
        bob.sessions.decrypt(alice.address, {
          type: 2,
          body: Uint8Array.of(0x33, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0),
        }),
      'ERR_INVALID_MESSAGE',
    );
    const unknownVersion = message.body.slice();
    unknownVersion[0] = 0x55;
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 2, body: unknownVersion }),
      'ERR_UNKNOWN_VERSION',
    );
    const oldVersion = message.body.slice();
    oldVersion[0] = 0x22;
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 2, body: oldVersion }),
      'ERR_UNKNOWN_VERSION',
    );
  });

  it('an identity change under the strict policy is refused and stores nothing', async () => {
    const { alice, bob } = await established();
    const reinstalled = await createParty('alice');
    await connect(reinstalled, bob, 5);
    const message = await reinstalled.sessions.encrypt(bob.address, text('new me'));
    await expectRefusal(bob, () => bob.sessions.decrypt(alice.address, message), 'ERR_UNTRUSTED_IDENTITY');
    const bundle = await reinstalled.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 2 });
    await expectRefusal(
      bob,
      () => bob.sessions.processBundle(alice.address, bundle),
      'ERR_UNTRUSTED_IDENTITY',
    );
  });

  it('a late message from an archived session that fails leaves the current session intact', async () => {
    const { alice, bob } = await established();
    const late = await alice.sessions.encrypt(bob.address, text('late'));
    await connect(alice, bob, 6);
    await bob.sessions.decrypt(alice.address, await alice.sessions.encrypt(bob.address, text('new session')));
    const tampered = { type: 2 as const, body: flip(late.body, late.body.length - 1) };
    await expectRefusal(bob, () => bob.sessions.decrypt(alice.address, tampered), 'ERR_INVALID_MAC');
    expect(
      str(
        (
          await bob.sessions.decrypt(
            alice.address,
            await alice.sessions.encrypt(bob.address, text('current')),
          )
        ).plaintext,
      ),
    ).toBe('current');
    expect(str((await bob.sessions.decrypt(alice.address, late)).plaintext)).toBe('late');
  });

  it('concurrent decrypts on one session are serialized and both succeed', async () => {
    const { alice, bob } = await established();
    const one = await alice.sessions.encrypt(bob.address, text('one'));
    const two = await alice.sessions.encrypt(bob.address, text('two'));
    const results = await Promise.all([
      bob.sessions.decrypt(alice.address, two),
      bob.sessions.decrypt(alice.address, one),
    ]);
    expect(results.map((r) => str(r.plaintext))).toEqual(['two', 'one']);
  });

  it('encrypt racing decrypt on one session never reuses a counter', async () => {
    const { alice, bob } = await established();
    const incoming = await alice.sessions.encrypt(bob.address, text('in'));
    const [out1, , out2] = await Promise.all([
      bob.sessions.encrypt(alice.address, text('out1')),
      bob.sessions.decrypt(alice.address, incoming),
      bob.sessions.encrypt(alice.address, text('out2')),
    ]);
    expect(str((await alice.sessions.decrypt(bob.address, out1)).plaintext)).toBe('out1');
    expect(str((await alice.sessions.decrypt(bob.address, out2)).plaintext)).toBe('out2');
  });

  it('two managers over one store serialize through version checks', async () => {
    const { alice, bob } = await established();
    const { SessionManager } = await import('../src/session/session-manager.js');
    const { testCrypto } = await import('./support/parties.js');
    const twin = new SessionManager({
      store: bob.store,
      crypto: testCrypto(),
      clock: bob.clock,
      scope: 'bob',
    });
    const messages = [];
    for (let i = 0; i < 10; i++) messages.push(await alice.sessions.encrypt(bob.address, text(`m${i}`)));
    const results = await Promise.all(
      messages.map((m, i) =>
        (i % 2 ? twin : bob.sessions).decrypt(alice.address, m).then((r) => str(r.plaintext)),
      ),
    );
    expect(results.sort()).toEqual(messages.map((_, i) => `m${i}`).sort());
  });

  it("a session deleted behind the manager's back is not used from its cache", async () => {
    const { alice, bob } = await established();
    await alice.store.commit([
      { type: 'delete', namespace: 'sessions', key: alice.sessions.records.sessionKey(bob.address) },
    ]);
    const error = await alice.sessions.encrypt(bob.address, text('ghost')).catch((e: unknown) => e);
    expect(isParleyError(error, 'ERR_SESSION_NOT_FOUND')).toBe(true);
    expect(await alice.store.get('sessions', alice.sessions.records.sessionKey(bob.address))).toBeUndefined();
  });

  it("a session replaced behind the manager's back is read afresh", async () => {
    const { alice, bob } = await established();
    const sessionKey = bob.sessions.records.sessionKey(alice.address);
    const saved = (await bob.store.get('sessions', sessionKey))!;
    const m1 = await alice.sessions.encrypt(bob.address, text('one'));
    const m2 = await alice.sessions.encrypt(bob.address, text('two'));
    expect(str((await bob.sessions.decrypt(alice.address, m1)).plaintext)).toBe('one');
    // Restore the older record (as a backup restore would): m1 opens again from it, which a
    // cached newer state would refuse as a duplicate.
    await bob.store.commit([{ type: 'put', namespace: 'sessions', key: sessionKey, value: saved.value }]);
    expect(str((await bob.sessions.decrypt(alice.address, m1)).plaintext)).toBe('one');
    expect(str((await bob.sessions.decrypt(alice.address, m2)).plaintext)).toBe('two');
  });
});
