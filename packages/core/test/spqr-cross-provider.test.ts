/**
 * The node:crypto and portable providers produce the same bytes for the same randomness,
 * SPQR included (its KDFs and MACs go through the provider; ML-KEM and SHA-3 through noble in
 * both): a whole PQXDH + SPQR conversation, run once per provider from the same seeds, gives
 * byte-identical messages and records.
 */
import { describe, expect, it } from 'vitest';
import { decodeSessionRecord } from '../src/ratchet/session-record.js';
import { spqrEpoch } from '../src/spqr/pq-ratchet.js';
import { createParty, testCrypto, text } from './support/parties.js';

async function conversation(
  kind: 'node' | 'portable',
): Promise<{ wire: string[]; records: string[]; epoch: number }> {
  const crypto = testCrypto(kind);
  const alice = await createParty('alice', { crypto, seed: 'alice seed' });
  const bob = await createParty('bob', { crypto, seed: 'bob seed' });
  await bob.sessions.generateKyberPreKey(1);
  await alice.sessions.processBundle(
    bob.address,
    await bob.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 1, kyberPreKeyId: 1 }),
  );
  const wire: string[] = [];
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  for (let i = 0; i < 110; i++) {
    const a = await alice.sessions.encrypt(bob.address, text(`a${i}`));
    await bob.sessions.decrypt(alice.address, a);
    const b = await bob.sessions.encrypt(alice.address, text(`b${i}`));
    await alice.sessions.decrypt(bob.address, b);
    wire.push(hex(a.body), hex(b.body));
  }
  const records: string[] = [];
  for (const [party, peer] of [
    [alice, bob],
    [bob, alice],
  ] as const) {
    records.push(
      hex((await party.store.get('sessions', party.sessions.records.sessionKey(peer.address)))!.value),
    );
  }
  const epoch = spqrEpoch(decodeSessionRecord(Buffer.from(records[0]!, 'hex')).current!.spqr!);
  return { wire, records, epoch };
}

describe('both crypto providers, one SPQR conversation', () => {
  it('give byte-identical messages and session records', async () => {
    const node = await conversation('node');
    const portable = await conversation('portable');
    expect(node.epoch).toBeGreaterThanOrEqual(2);
    expect(portable.wire).toEqual(node.wire);
    expect(portable.records).toEqual(node.records);
  }, 60_000);
});
