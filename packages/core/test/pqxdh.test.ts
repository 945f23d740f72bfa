import { describe, expect, it } from 'vitest';
import { type ErrorCode, isParleyError } from '../src/errors.js';
import { MessageType, SessionManager } from '../src/session/session-manager.js';
import { decodePreKeySignalMessage, encodePreKeySignalMessage } from '../src/wire/prekey-signal-message.js';
import { createParty, type Party, snapshot, str, testCrypto, text } from './support/parties.js';

async function expectRefusal(party: Party, action: () => Promise<unknown>, code: ErrorCode): Promise<void> {
  const before = await snapshot(party.store);
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isParleyError(error), `expected ${code}, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  expect(await snapshot(party.store)).toEqual(before);
}

async function kyberBundle(
  bob: Party,
  options: { kyberId?: number; lastResort?: boolean; preKeyId?: number } = {},
) {
  const kyberId = options.kyberId ?? 1;
  await bob.sessions.generateKyberPreKey(kyberId, { lastResort: options.lastResort ?? false });
  return bob.sessions.createBundle({
    deviceId: 1,
    signedPreKeyId: 1,
    preKeyId: options.preKeyId,
    kyberPreKeyId: kyberId,
  });
}

describe('PQXDH (v4) between Parley parties', () => {
  it('a bundle with a signed Kyber prekey gives a v4 session; without one, v3', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    const carol = await createParty('carol');
    expect(
      (await alice.sessions.processBundle(bob.address, await kyberBundle(bob, { preKeyId: 1 })))
        .sessionVersion,
    ).toBe(4);
    const v3 = await carol.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 1 });
    expect((await alice.sessions.processBundle(carol.address, v3)).sessionVersion).toBe(3);

    const toBob = await alice.sessions.encrypt(bob.address, text('post-quantum'));
    expect(toBob.type).toBe(MessageType.PreKey);
    expect(toBob.body[0]).toBe(0x44);
    const atBob = await bob.sessions.decrypt(alice.address, toBob);
    expect(atBob.sessionVersion).toBe(4);
    expect(str(atBob.plaintext)).toBe('post-quantum');
    // The one-time Kyber prekey was consumed in the same commit as the session.
    expect(await bob.store.get('prekeys', bob.sessions.records.preKeyKey('kyber', 1))).toBeUndefined();

    const toCarol = await alice.sessions.encrypt(carol.address, text('classic'));
    expect(toCarol.body[0]).toBe(0x33);
    expect((await carol.sessions.decrypt(alice.address, toCarol)).sessionVersion).toBe(3);

    const reply = await bob.sessions.encrypt(alice.address, text('reply'));
    expect(reply.body[0]).toBe(0x44);
    expect(str((await alice.sessions.decrypt(bob.address, reply)).plaintext)).toBe('reply');
  });

  it('a v4 session and a v3 session with two devices of one person work side by side', async () => {
    const business = await createParty('business');
    const device1 = await createParty('person', { deviceId: 1 });
    const identity = await device1.sessions.localIdentity();
    const device2Manager = new SessionManager({
      store: device1.store,
      crypto: testCrypto(),
      clock: device1.clock,
      scope: 'person-2',
    });
    await device2Manager.initializeIdentity(identity);
    await device2Manager.generateSignedPreKey(1);
    const device2 = { ...device1, address: { name: 'person', deviceId: 2 }, sessions: device2Manager };

    await business.sessions.processBundle(device1.address, await kyberBundle(device1));
    await business.sessions.processBundle(
      device2.address,
      await device2.sessions.createBundle({ deviceId: 2, signedPreKeyId: 1 }),
    );
    for (let i = 0; i < 5; i++) {
      for (const [device, version] of [
        [device1, 4],
        [device2, 3],
      ] as const) {
        const out = await business.sessions.encrypt(
          device.address,
          text(`to ${device.address.deviceId} #${i}`),
        );
        const opened = await device.sessions.decrypt(business.address, out);
        expect(opened.sessionVersion).toBe(version);
        const back = await device.sessions.encrypt(
          business.address,
          text(`from ${device.address.deviceId} #${i}`),
        );
        expect(str((await business.sessions.decrypt(device.address, back)).plaintext)).toBe(
          `from ${device.address.deviceId} #${i}`,
        );
      }
    }
  });

  it('a policy that requires v4 refuses a bundle without a Kyber prekey', async () => {
    const bob = await createParty('bob');
    const alice = await createParty('alice', { extra: { minimumVersion: 4 } });
    const bundle = await bob.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 1 });
    await expectRefusal(
      alice,
      () => alice.sessions.processBundle(bob.address, bundle),
      'ERR_PROTOCOL_VERSION_REFUSED',
    );
    expect((await alice.sessions.processBundle(bob.address, await kyberBundle(bob))).sessionVersion).toBe(4);
  });

  it('every single-bit flip of the Kyber prekey signature is refused before anything is written', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    const bundle = await kyberBundle(bob);
    for (let bit = 0; bit < 512; bit += 7) {
      const signature = bundle.kyberPreKeySignature!.slice();
      signature[bit >> 3]! ^= 1 << (bit & 7);
      await expectRefusal(
        alice,
        () => alice.sessions.processBundle(bob.address, { ...bundle, kyberPreKeySignature: signature }),
        'ERR_INVALID_SIGNATURE',
      );
    }
    const kyberKey = bundle.kyberPreKey!.slice();
    kyberKey[100]! ^= 1;
    await expectRefusal(
      alice,
      () => alice.sessions.processBundle(bob.address, { ...bundle, kyberPreKey: kyberKey }),
      'ERR_INVALID_SIGNATURE',
    );
  });

  it('a wrong Kyber ciphertext fails the MAC and consumes nothing', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    await alice.sessions.processBundle(bob.address, await kyberBundle(bob, { preKeyId: 2 }));
    const message = await alice.sessions.encrypt(bob.address, text('x'));
    const fields = decodePreKeySignalMessage(message.body);
    const ciphertext = fields.kyberCiphertext!.slice();
    ciphertext[500]! ^= 0x10;
    const forged = encodePreKeySignalMessage({ ...fields, kyberCiphertext: ciphertext });
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 3, body: forged }),
      'ERR_INVALID_MAC',
    );
    expect(str((await bob.sessions.decrypt(alice.address, message)).plaintext)).toBe('x');
  });

  it('a v4 prekey message without fields 7 and 8 is refused', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    await alice.sessions.processBundle(bob.address, await kyberBundle(bob));
    const message = await alice.sessions.encrypt(bob.address, text('x'));
    // Re-encode by hand without fields 7 and 8 (our encoder refuses to, rightly).
    const fields = decodePreKeySignalMessage(message.body);
    const v3shaped = encodePreKeySignalMessage({
      ...fields,
      version: 3,
      kyberPreKeyId: undefined,
      kyberCiphertext: undefined,
    });
    const stripped = v3shaped.slice();
    stripped[0] = 0x44;
    await expectRefusal(
      bob,
      () => bob.sessions.decrypt(alice.address, { type: 3, body: stripped }),
      'ERR_INVALID_MESSAGE',
    );
  });

  it('a last-resort Kyber prekey serves many sessions but never the same base key twice', async () => {
    const bob = await createParty('bob');
    const bundle = await kyberBundle(bob, { lastResort: true });
    const alice = await createParty('alice');
    const carol = await createParty('carol');
    await alice.sessions.processBundle(bob.address, bundle);
    await carol.sessions.processBundle(bob.address, bundle);
    const fromAlice = await alice.sessions.encrypt(bob.address, text('a'));
    expect(str((await bob.sessions.decrypt(alice.address, fromAlice)).plaintext)).toBe('a');
    expect(
      str(
        (await bob.sessions.decrypt(carol.address, await carol.sessions.encrypt(bob.address, text('c'))))
          .plaintext,
      ),
    ).toBe('c');
    expect(await bob.store.get('prekeys', bob.sessions.records.preKeyKey('kyber', 1))).toBeDefined();

    // Without the session the replay would otherwise match, the base key must still be refused.
    await bob.sessions.deleteSession(alice.address);
    await expectRefusal(bob, () => bob.sessions.decrypt(alice.address, fromAlice), 'ERR_KYBER_PREKEY_REUSED');
  });
});
