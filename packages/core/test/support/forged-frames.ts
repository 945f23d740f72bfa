/**
 * Shared by the forged-frame tests (session-forged-frames, spqr-forged-frames): parties with
 * sessions to one business, a crypto provider that counts HMAC calls, and forged SignalMessages.
 */
import { expect } from 'vitest';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { isParleyError } from '../../src/errors.js';
import { generateKeyPair } from '../../src/keys/curve.js';
import type { CiphertextMessage } from '../../src/session/session-manager.js';
import { appendMac, encodeSignalMessageBody } from '../../src/wire/signal-message.js';
import { connect, createParty, FakeClock, type Party, testCrypto, text } from './parties.js';

export function countingCrypto(inner: CryptoProvider): { crypto: CryptoProvider; hmacs: () => number } {
  let hmacs = 0;
  const crypto: CryptoProvider = {
    ...inner,
    name: `${inner.name}+count`,
    hmacSha256(key, data) {
      hmacs++;
      return inner.hmacSha256(key, data);
    },
    // An HKDF is an extract and one expand block per 32 bytes: counted as those HMAC calls.
    hkdfSha256(ikm, salt, info, length) {
      hmacs += 1 + Math.ceil(length / 32);
      return inner.hkdfSha256(ikm, salt, info, length);
    },
  };
  // The provider's other methods do not depend on `this`, so spreading keeps them working.
  return { crypto, hmacs: () => hmacs };
}

export const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/**
 * A SignalMessage claiming `counter` on the chain of `ratchetKey` (with a pq_ratchet field, for
 * an SPQR session), with a MAC nobody can have made.
 */
export function forgedFrame(
  ratchetKey: Uint8Array,
  counter: number,
  pqRatchet?: Uint8Array,
): CiphertextMessage {
  const body = encodeSignalMessageBody({
    version: pqRatchet === undefined ? 3 : 4,
    ratchetKey,
    counter,
    previousCounter: 0,
    ciphertext: random(32),
    pqRatchet,
  });
  return { type: 2, body: appendMac(body, random(8)) };
}

export const freshRatchetKey = () => generateKeyPair({ crypto: testCrypto(), random }).publicKey;

export interface World {
  readonly bob: Party;
  readonly mallory: Party;
  readonly alice: Party;
  readonly hmacs: () => number;
  readonly clock: FakeClock;
}

export async function world(spqr = false): Promise<World> {
  const clock = new FakeClock();
  const counting = countingCrypto(testCrypto());
  const bob = await createParty('bob', { clock, crypto: counting.crypto });
  const mallory = await createParty('mallory', { clock });
  const alice = await createParty('alice', { clock });
  for (const [sender, preKeyId] of [
    [mallory, 1],
    [alice, 2],
  ] as const) {
    if (spqr) {
      // PQXDH bundles: the sessions run SPQR (both sides have the default, 'offer').
      await bob.sessions.generateKyberPreKey(preKeyId);
      await sender.sessions.processBundle(
        bob.address,
        await bob.sessions.createBundle({
          deviceId: 1,
          signedPreKeyId: 1,
          preKeyId,
          kyberPreKeyId: preKeyId,
        }),
      );
    } else {
      await connect(sender, bob, preKeyId);
    }
    await bob.sessions.decrypt(sender.address, await sender.sessions.encrypt(bob.address, text('hi')));
    await sender.sessions.decrypt(bob.address, await bob.sessions.encrypt(sender.address, text('hello')));
  }
  return { bob, mallory, alice, hmacs: counting.hmacs, clock };
}

export async function refusal(action: () => Promise<unknown>): Promise<string> {
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isParleyError(error), `not a ParleyError: ${String(error)}`).toBe(true);
  return (error as { code: string }).code;
}
