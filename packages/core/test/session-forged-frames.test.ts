/**
 * Issue 15, "Also": forged frames that claim a 25 000-message counter jump made us walk
 * 25 000 chain steps each before their MAC failed — and again for every repeat, since a failure
 * commits nothing. Now walks are remembered (a repeat costs nothing), and each sender device
 * has a budget of unverified derivation, bounded in total across devices. Work is counted in
 * HMAC calls (one per chain step; an HKDF counts as its HMACs), not timed: the counts are
 * deterministic.
 */
import { describe, expect, it } from 'vitest';
import { MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS } from '../src/ratchet/limits.js';
import type { CiphertextMessage } from '../src/session/session-manager.js';
import { forgedFrame, freshRatchetKey, refusal, world } from './support/forged-frames.js';
import { snapshot, str, text } from './support/parties.js';

/** HMAC calls of one maximal walk (one per chain step, plus the seeds of the kept skipped keys). */
const WALK = MAX_FORWARD_JUMPS + MAX_MESSAGE_KEYS;
/**
 * Forged maximal walks one device's budget pays for in a session without SPQR: one, what a
 * genuine message of such a session could need (see ratchet/work-meter.ts).
 */
const PAID_WALKS = 1;

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

/** The ratchet key of a SignalMessage we built (field 1 right after the version byte). */
function decodeRatchetKey(message: CiphertextMessage): Uint8Array {
  // version byte, tag 0x0a, length 33
  return message.body.slice(3, 36);
}
