/**
 * Issue 15, "Also": forged frames that claim a 25 000-message counter jump made us walk
 * 25 000 chain steps each before their MAC failed — and again for every repeat, since a failure
 * commits nothing. Now walks are remembered (a repeat costs nothing), and each sender device
 * has a budget of unverified derivation, bounded in total across devices. Work is counted in
 * HMAC calls (one per chain step; an HKDF counts as its HMACs), not timed: the counts are
 * deterministic.
 */
import { describe, expect, it } from 'vitest';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { isParleyError } from '../src/errors.js';
import { generateKeyPair } from '../src/keys/curve.js';
import { nextChainKey } from '../src/ratchet/chain-key.js';
import { MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS } from '../src/ratchet/limits.js';
import { decodeSessionRecord, encodeSessionRecord } from '../src/ratchet/session-record.js';
import { DH_STEP_COST, unverifiedWorkCeiling } from '../src/ratchet/work-meter.js';
import type { CiphertextMessage } from '../src/session/session-manager.js';
import { sendKey } from '../src/spqr/chain.js';
import { encodeBraidMessage } from '../src/spqr/message.js';
import { appendMac, encodeSignalMessageBody } from '../src/wire/signal-message.js';
import {
  connect,
  createParty,
  FakeClock,
  type Party,
  snapshot,
  str,
  testCrypto,
  text,
} from './support/parties.js';

function countingCrypto(inner: CryptoProvider): { crypto: CryptoProvider; hmacs: () => number } {
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

const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/**
 * A SignalMessage claiming `counter` on the chain of `ratchetKey` (and, in an SPQR session, an
 * SPQR index), with a MAC nobody can have made.
 */
function forgedFrame(ratchetKey: Uint8Array, counter: number, spqrIndex?: number): CiphertextMessage {
  const body = encodeSignalMessageBody({
    version: spqrIndex === undefined ? 3 : 4,
    ratchetKey,
    counter,
    previousCounter: 0,
    ciphertext: random(32),
    pqRatchet:
      spqrIndex === undefined
        ? undefined
        : encodeBraidMessage({ epoch: 1, payload: { type: 'none' } }, spqrIndex),
  });
  return { type: 2, body: appendMac(body, random(8)) };
}

const freshRatchetKey = () => generateKeyPair({ crypto: testCrypto(), random }).publicKey;

interface World {
  readonly bob: Party;
  readonly mallory: Party;
  readonly alice: Party;
  readonly hmacs: () => number;
  readonly clock: FakeClock;
}

async function world(spqr = false): Promise<World> {
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

async function refusal(action: () => Promise<unknown>): Promise<string> {
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isParleyError(error), `not a ParleyError: ${String(error)}`).toBe(true);
  return (error as { code: string }).code;
}

/** HMAC calls of one maximal walk (one per chain step, plus the seeds of the kept skipped keys). */
const WALK = MAX_FORWARD_JUMPS + MAX_MESSAGE_KEYS;
/** Forged maximal walks one device's budget pays for in a session without SPQR. */
const PAID_WALKS = Math.floor(
  unverifiedWorkCeiling(MAX_FORWARD_JUMPS, false) / (MAX_FORWARD_JUMPS + DH_STEP_COST),
);

describe('forged frames claiming a 25 000-message jump', () => {
  it('60 of them from one device cost a few walks in all, each is refused with a typed error, nothing changes', async () => {
    const { bob, mallory, hmacs } = await world();
    const before = await snapshot(bob.store);
    const start = hmacs();
    const codes = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const code = await refusal(() =>
        bob.sessions.decrypt(mallory.address, forgedFrame(freshRatchetKey(), MAX_FORWARD_JUMPS)),
      );
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    const spent = hmacs() - start;
    // Before: 60 full walks (~1 600 000 HMAC calls, seconds of CPU). Now: one — what a genuine
    // message of this session could need — then nothing until the budget refills.
    expect(PAID_WALKS).toBe(1);
    expect(spent).toBeLessThan((PAID_WALKS + 1) * WALK);
    expect([...codes.keys()].sort()).toEqual(['ERR_INVALID_MAC', 'ERR_WORK_BUDGET_EXHAUSTED']);
    expect(codes.get('ERR_INVALID_MAC')).toBe(PAID_WALKS);
    expect(await snapshot(bob.store)).toEqual(before);
    // A frame the budget refuses costs no DH step and no walk: not one HMAC.
    const refused = hmacs();
    for (let i = 0; i < 10; i++) {
      await refusal(() =>
        bob.sessions.decrypt(mallory.address, forgedFrame(freshRatchetKey(), MAX_FORWARD_JUMPS)),
      );
    }
    expect(hmacs() - refused).toBe(0);
  }, 60_000);

  it('a repeated forged frame costs nothing after the first time', async () => {
    const { bob, mallory, hmacs } = await world();
    const frame = forgedFrame(freshRatchetKey(), MAX_FORWARD_JUMPS);
    const first = hmacs();
    expect(await refusal(() => bob.sessions.decrypt(mallory.address, frame))).toBe('ERR_INVALID_MAC');
    const second = hmacs();
    expect(second - first).toBeGreaterThanOrEqual(WALK);
    for (let i = 0; i < 10; i++) {
      expect(await refusal(() => bob.sessions.decrypt(mallory.address, frame))).toBe('ERR_INVALID_MAC');
    }
    // The DH step and the MAC itself remain: a handful of HMAC calls per repeat, no walk.
    expect((hmacs() - second) / 10).toBeLessThan(20);
    // A variation of the counter on the same chain starts from a remembered position.
    const variant = forgedFrame(decodeRatchetKey(frame), MAX_FORWARD_JUMPS - 700);
    const third = hmacs();
    expect(await refusal(() => bob.sessions.decrypt(mallory.address, variant))).toBe('ERR_INVALID_MAC');
    expect(hmacs() - third).toBeLessThan(600);
  }, 60_000);

  it('meanwhile another device’s genuine 25 000-message gap still decrypts, and so does the flooder’s next real message', async () => {
    const { bob, mallory, alice, clock } = await world();
    for (let i = 0; i < 60; i++) {
      await refusal(() =>
        bob.sessions.decrypt(mallory.address, forgedFrame(freshRatchetKey(), MAX_FORWARD_JUMPS)),
      );
    }
    let last: CiphertextMessage | undefined;
    for (let i = 0; i <= MAX_FORWARD_JUMPS; i++)
      last = await alice.sessions.encrypt(bob.address, text(`m${i}`));
    expect(str((await bob.sessions.decrypt(alice.address, last!)).plaintext)).toBe(`m${MAX_FORWARD_JUMPS}`);
    // The flooding device is not locked out of its own session: a real message needs no walk.
    const real = await mallory.sessions.encrypt(bob.address, text('sorry'));
    expect(str((await bob.sessions.decrypt(mallory.address, real)).plaintext)).toBe('sorry');
    // And its budget refills with time.
    clock.advance(60_000);
    expect(
      await refusal(() =>
        bob.sessions.decrypt(mallory.address, forgedFrame(freshRatchetKey(), MAX_FORWARD_JUMPS)),
      ),
    ).toBe('ERR_INVALID_MAC');
  }, 120_000);
});

/**
 * Advances a sender's chains as if it had sent `count` messages that never arrived: the next
 * message it encrypts is a genuine one with that gap, in both the Double Ratchet and SPQR.
 */
async function skipAhead(sender: Party, receiver: Party, count: number): Promise<void> {
  const key = sender.sessions.records.sessionKey(receiver.address);
  const stored = (await sender.store.get('sessions', key))!;
  const record = decodeSessionRecord(stored.value);
  const state = record.current!;
  for (let i = 0; i < count; i++) state.sender.chainKey = nextChainKey(testCrypto(), state.sender.chainKey);
  const spqr = state.spqr!;
  let chain = spqr.chain!;
  for (let i = 0; i < count; i++) chain = sendKey(testCrypto(), chain, spqr.braid.epoch - 1).chain;
  state.spqr = { ...spqr, chain };
  await sender.store.commit([
    { type: 'put', namespace: 'sessions', key, value: encodeSessionRecord(record) },
  ]);
}

describe('forged frames claiming 25 000-message jumps in an SPQR session (both chains)', () => {
  it('one device pays for one maximal pair of walks; repeats are free; another device’s genuine maximal gap decrypts', async () => {
    const { bob, mallory, alice, hmacs } = await world(true);
    const before = await snapshot(bob.store);
    const ratchetKey = freshRatchetKey();
    const frame = forgedFrame(ratchetKey, MAX_FORWARD_JUMPS, MAX_FORWARD_JUMPS);
    const start = hmacs();
    expect(await refusal(() => bob.sessions.decrypt(mallory.address, frame))).toBe('ERR_INVALID_MAC');
    const walked = hmacs() - start;
    // Both walks happened: the receiving chain's and SPQR's (three HMAC calls a step).
    expect(walked).toBeGreaterThan(MAX_FORWARD_JUMPS * 4);
    for (let i = 0; i < 5; i++) {
      expect(await refusal(() => bob.sessions.decrypt(mallory.address, frame))).toBe('ERR_INVALID_MAC');
    }
    expect(hmacs() - start - walked).toBeLessThan(5 * 20);
    for (let i = 0; i < 30; i++) {
      expect(
        await refusal(() =>
          bob.sessions.decrypt(
            mallory.address,
            forgedFrame(freshRatchetKey(), MAX_FORWARD_JUMPS, MAX_FORWARD_JUMPS - i),
          ),
        ),
      ).toBe('ERR_WORK_BUDGET_EXHAUSTED');
    }
    expect(hmacs() - start).toBeLessThan(2 * walked);
    expect(await snapshot(bob.store)).toEqual(before);
    await skipAhead(alice, bob, MAX_FORWARD_JUMPS - 1);
    const genuine = await alice.sessions.encrypt(bob.address, text('after a long silence'));
    expect(str((await bob.sessions.decrypt(alice.address, genuine)).plaintext)).toBe('after a long silence');
  }, 120_000);
});

/** The ratchet key of a SignalMessage we built (field 1 right after the version byte). */
function decodeRatchetKey(message: CiphertextMessage): Uint8Array {
  // version byte, tag 0x0a, length 33
  return message.body.slice(3, 36);
}
