/**
 * Parley against real v3 Signal-protocol peers, both directions: session from the other's
 * bundle (with and without a one-time prekey), two prekey messages, a reply, 50+ messages
 * each way, a reversed burst with one message dropped.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runConversation } from './peers/conversation.js';
import { v3PeerKinds, v3Peers } from './peers/index.js';
import { createParleyPeer } from './peers/parley.js';

// The JS peers log whole session objects (private keys included) to the console.
beforeAll(() => {
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
    vi.spyOn(console, level).mockImplementation(() => {});
});
afterAll(() => vi.restoreAllMocks());

const options = { rounds: 50, burst: 8, drop: true } as const;

describe.each(v3PeerKinds)('interop with %s', (kind) => {
  const peerFactory = v3Peers[kind]!;
  for (const oneTimePreKey of [true, false]) {
    const label = oneTimePreKey ? 'with a one-time prekey' : 'without a one-time prekey';

    it(`Parley starts from the peer's bundle (${label})`, async () => {
      const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
      const peer = await peerFactory({ name: 'peer', deviceId: 2 });
      const result = await runConversation(parley, peer, { ...options, oneTimePreKey });
      expect(result).toMatchObject({ ok: true });
      expect(result.delivered).toBeGreaterThanOrEqual(100);
      expect(result.versionBytes.alice).toEqual(['33']);
    });

    it(`the peer starts from Parley's bundle (${label})`, async () => {
      const parley = await createParleyPeer({ name: 'parley', deviceId: 1 });
      const peer = await peerFactory({ name: 'peer', deviceId: 2 });
      const result = await runConversation(peer, parley, { ...options, oneTimePreKey });
      expect(result).toMatchObject({ ok: true });
      expect(result.delivered).toBeGreaterThanOrEqual(100);
      expect(result.versionBytes.bob).toEqual(['33']);
    });
  }
});
