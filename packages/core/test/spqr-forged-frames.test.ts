/**
 * Forged frames in an SPQR session: the message key needs a walk of the receiving chain and
 * one of the SPQR chain (the pq_ratchet field's key salts the message keys), both before the
 * MAC can be checked. Both are charged to the sender device's budget before either is done,
 * both are remembered, and a genuine maximal gap in both chains still decrypts.
 */
import { describe, expect, it } from 'vitest';
import { nextChainKey } from '../src/ratchet/chain-key.js';
import { MAX_FORWARD_JUMPS } from '../src/ratchet/limits.js';
import { decodeSessionRecord, encodeSessionRecord } from '../src/ratchet/session-record.js';
import { sendKey } from '../src/spqr/chain.js';
import { encodeBraidMessage } from '../src/spqr/message.js';
import { forgedFrame, freshRatchetKey, refusal, world } from './support/forged-frames.js';
import { type Party, snapshot, str, testCrypto, text } from './support/parties.js';

/** A pq_ratchet field claiming message `index` of SPQR epoch 1 (its keys are of epoch 0). */
const claim = (index: number) => encodeBraidMessage({ epoch: 1, payload: { type: 'none' } }, index);

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
    const frame = forgedFrame(ratchetKey, MAX_FORWARD_JUMPS, claim(MAX_FORWARD_JUMPS));
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
            forgedFrame(freshRatchetKey(), MAX_FORWARD_JUMPS, claim(MAX_FORWARD_JUMPS - i)),
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
