import { describe, expect, it } from 'vitest';
import { SessionBuilder, SessionCipher } from '../src/session/session-cipher.js';
import { createParty, str, text } from './support/parties.js';

describe('libsignal-shaped SessionBuilder and SessionCipher', () => {
  it('build a session and exchange both message types through per-address views', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    const bundle = await bob.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 1 });
    await new SessionBuilder(alice.sessions, bob.address).processPreKeyBundle(bundle);
    const toBob = new SessionCipher(alice.sessions, bob.address);
    const toAlice = new SessionCipher(bob.sessions, alice.address);
    expect(await toAlice.hasOpenSession()).toBe(false);

    const first = await toBob.encrypt(text('hello'));
    expect(first.type).toBe(3);
    expect(str((await toAlice.decryptPreKeySignalMessage(first.body)).plaintext)).toBe('hello');
    expect(await toAlice.hasOpenSession()).toBe(true);
    const reply = await toAlice.encrypt(text('hi'));
    expect(reply.type).toBe(2);
    expect(str((await toBob.decryptSignalMessage(reply.body)).plaintext)).toBe('hi');
    expect(str((await toAlice.decrypt(await toBob.encrypt(text('again')))).plaintext)).toBe('again');
  });
});

describe('a session manager prints no secrets', () => {
  it('inspect and JSON show a summary, never key bytes', async () => {
    const { inspect } = await import('node:util');
    const { toHex } = await import('../src/bytes.js');
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    const bundle = await bob.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 1 });
    await alice.sessions.processBundle(bob.address, bundle);
    await bob.sessions.decrypt(
      alice.address,
      await alice.sessions.encrypt(bob.address, text('secret words')),
    );
    const privateKey = (await alice.sessions.localIdentity()).identityKeyPair.privateKey;
    for (const output of [
      inspect(alice.sessions, { depth: 10 }),
      JSON.stringify(alice.sessions),
      String(alice.sessions),
    ]) {
      expect(output).not.toContain(toHex(privateKey));
      expect(output).not.toContain(Buffer.from(privateKey).toString('base64'));
      expect(output).not.toMatch(/Uint8Array|<Buffer|secret words|alice/);
    }
    expect(inspect(alice.sessions)).toMatch(/^SessionManager \{/);
  });
});
