/**
 * PQXDH (v4) against real libsignal-client 0.72.1, 0.75.1 (post-quantum ratchet switched off)
 * and 0.90.0, both directions, with Parley's default `spqr: 'offer'`: 0.72.1 and 0.75.1 answer
 * without SPQR and the sessions fall back to PQXDH alone; with 0.90.0 they run SPQR. The SPQR
 * matrix (every Parley mode, 0.103.0 included) is interop-spqr.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runConversation } from './peers/conversation.js';
import { makePeerFactory, v4PeerKinds } from './peers/index.js';
import { createParleyPeer } from './peers/parley.js';

beforeAll(() => {
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
    vi.spyOn(console, level).mockImplementation(() => {});
});
afterAll(() => vi.restoreAllMocks());

const options = { rounds: 50, burst: 8, drop: true, kyber: true } as const;

describe.each(v4PeerKinds)('PQXDH interop with %s', (kind) => {
  const peerFactory = makePeerFactory(kind, kind === 'lsc-0.75.1' ? { pqRatchet: false } : {});
  for (const oneTimePreKey of [true, false]) {
    const label = oneTimePreKey ? 'with a one-time prekey' : 'without a one-time prekey';

    it(`Parley starts from the peer's Kyber bundle (${label})`, async () => {
      const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
      const peer = await peerFactory({ name: 'peer', deviceId: 2 });
      const result = await runConversation(parley, peer, { ...options, oneTimePreKey });
      expect(result).toMatchObject({ ok: true });
      expect(result.delivered).toBeGreaterThanOrEqual(100);
      expect(result.versionBytes.alice).toEqual(['44']);
      expect(result.versionBytes.bob).toEqual(['44']);
    });

    it(`the peer starts from Parley's Kyber bundle (${label})`, async () => {
      const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
      const peer = await peerFactory({ name: 'peer', deviceId: 2 });
      const result = await runConversation(peer, parley, { ...options, oneTimePreKey });
      expect(result).toMatchObject({ ok: true });
      expect(result.delivered).toBeGreaterThanOrEqual(100);
      expect(result.versionBytes.bob).toEqual(['44']);
    });
  }

  it('the peer starts from a last-resort Kyber prekey, twice, with different base keys', async () => {
    const parley = await createParleyPeer({ name: 'parley', deviceId: 1 }, { kyberLastResort: true });
    for (const deviceId of [2, 3]) {
      const peer = await peerFactory({ name: `peer-${deviceId}`, deviceId });
      const result = await runConversation(peer, parley, {
        rounds: 3,
        burst: 3,
        kyber: true,
        oneTimePreKey: false,
      });
      expect(result).toMatchObject({ ok: true });
    }
  });
});

describe('v3 peers still work beside v4', () => {
  it('lsc-0.72.1 speaks v3 to a Parley bundle without Kyber, and Parley answers 0x33', async () => {
    const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
    const peer = await makePeerFactory('lsc-0.72.1')({ name: 'peer', deviceId: 2 });
    const result = await runConversation(peer, parley, { rounds: 5, burst: 4, kyber: false });
    expect(result).toMatchObject({ ok: true });
    expect(result.versionBytes.alice).toEqual(['34']);
    expect(result.versionBytes.bob).toEqual(['33']);
  });
});
