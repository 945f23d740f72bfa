/**
 * Session record format 2 carries SPQR state; format 1 records (written before SPQR, checked
 * in as a fixture from commit d283280) still load, keep working, and are written back as
 * format 2. The SPQR section round-trips through every braid state, and corrupted records only
 * ever fail with ERR_INVALID_RECORD.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import {
  decodeSessionRecord,
  decodeSessionState,
  encodeSessionRecord,
} from '../src/ratchet/session-record.js';
import { SessionManager } from '../src/session/session-manager.js';
import {
  initialPqRatchetState,
  type PqRatchetState,
  pqRatchetReceive,
  pqRatchetSend,
} from '../src/spqr/pq-ratchet.js';
import { decodePqRatchetState, encodePqRatchetState } from '../src/spqr/state-codec.js';
import type { Namespace, Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import fixture from './fixtures/session-records-format1.json' with { type: 'json' };
import { connect, createParty, FakeClock, str, testCrypto, text } from './support/parties.js';

const crypto = testCrypto();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function storeFrom(records: Record<string, string>, clock: FakeClock): Promise<Store> {
  const store = createMemoryStore({ clock });
  await store.commit(
    Object.entries(records).map(([id, value]) => {
      const [namespace, key] = id.split(' ') as [Namespace, string];
      return { type: 'put' as const, namespace, key, value: Buffer.from(value, 'hex') };
    }),
  );
  return store;
}

describe('format 1 records (before SPQR)', () => {
  it('load, open the messages in flight, keep working without SPQR, and are written back as format 2', async () => {
    const clock = new FakeClock();
    const alice = new SessionManager({
      store: await storeFrom(fixture.alice, clock),
      crypto,
      clock,
      scope: 'alice',
    });
    const bob = new SessionManager({
      store: await storeFrom(fixture.bob, clock),
      crypto,
      clock,
      scope: 'bob',
    });
    const A = { name: 'alice', deviceId: 1 };
    const B = { name: 'bob', deviceId: 1 };
    const held = (m: { type: number; body: string }) => ({
      type: m.type as 2 | 3,
      body: Buffer.from(m.body, 'hex'),
    });
    expect(
      decodeSessionRecord(Buffer.from(fixture.bob[`sessions bob/alice/1`]!, 'hex')).archived,
    ).toHaveLength(1);
    expect(str((await bob.decrypt(A, held(fixture.heldToBob))).plaintext)).toBe('held for bob');
    expect(str((await alice.decrypt(B, held(fixture.heldToAlice))).plaintext)).toBe('held for alice');
    for (let i = 0; i < 5; i++) {
      expect(str((await bob.decrypt(A, await alice.encrypt(B, text(`a${i}`)))).plaintext)).toBe(`a${i}`);
      expect(str((await alice.decrypt(B, await bob.encrypt(A, text(`b${i}`)))).plaintext)).toBe(`b${i}`);
    }
    const stored = (await bob.records.store.get('sessions', bob.records.sessionKey(A)))!.value;
    expect(stored[0]).toBe(2);
    const record = decodeSessionRecord(stored);
    expect(record.current?.version).toBe(4);
    // Sessions keep what they negotiated: this one predates SPQR.
    expect(record.current?.spqr).toBeUndefined();
    // The archived X3DH state still decodes.
    expect(decodeSessionState(record.archived[0]!).version).toBe(3);
  });
});

describe('the SPQR section of a session record', () => {
  it('round-trips through every braid state of a long exchange, and the decoded state carries on identically', () => {
    const ctx = { crypto, random: createDeterministicRandom('codec') };
    const auth = new Uint8Array(32).fill(7);
    let a: PqRatchetState = initialPqRatchetState(ctx, { mode: 'require', authKey: auth, initiator: true });
    let b: PqRatchetState = initialPqRatchetState(ctx, { mode: 'offer', authKey: auth, initiator: false });
    const kinds = new Set<string>();
    const roundTrip = (state: PqRatchetState) => {
      kinds.add(state.braid.kind);
      const bytes = encodePqRatchetState(state);
      const decoded = decodePqRatchetState(bytes);
      expect(hex(encodePqRatchetState(decoded))).toBe(hex(bytes));
      return decoded;
    };
    for (let i = 0; i < 160; i++) {
      // Uneven traffic (three from a, one from b, some lost) visits the out-of-order states too.
      for (let k = 0; k < (i % 4 === 0 ? 1 : 3); k++) {
        const sent = pqRatchetSend(ctx, roundTrip(a));
        a = sent.state;
        if ((i + k) % 7 === 3) continue;
        const got = pqRatchetReceive(ctx, roundTrip(b), sent.field);
        expect(hex(got.key ?? new Uint8Array(0))).toBe(hex(sent.key ?? new Uint8Array(0)));
        b = got.commit()!;
      }
      const sent = pqRatchetSend(ctx, roundTrip(b));
      b = sent.state;
      const got = pqRatchetReceive(ctx, roundTrip(a), sent.field);
      expect(hex(got.key ?? new Uint8Array(0))).toBe(hex(sent.key ?? new Uint8Array(0)));
      a = got.commit()!;
    }
    expect(kinds.size).toBeGreaterThanOrEqual(9);
  });

  it('corrupted records fail with ERR_INVALID_RECORD only, never another error', async () => {
    const alice = await createParty('alice');
    const bob = await createParty('bob');
    await connect(alice, bob, 1);
    for (let i = 0; i < 12; i++) {
      await bob.sessions.decrypt(alice.address, await alice.sessions.encrypt(bob.address, text('x')));
      await alice.sessions.decrypt(bob.address, await bob.sessions.encrypt(alice.address, text('y')));
    }
    const bytes = (await bob.store.get('sessions', bob.sessions.records.sessionKey(alice.address)))!.value;
    const current = decodeSessionRecord(bytes).current!;
    // createParty bundles have no Kyber prekey: v3. Build a v4 record with SPQR for the fuzzing.
    expect(current.version).toBe(3);
    const ctx = { crypto, random: createDeterministicRandom('fuzz') };
    let spqr = initialPqRatchetState(ctx, { mode: 'require', authKey: new Uint8Array(32), initiator: true });
    for (let i = 0; i < 5; i++) spqr = pqRatchetSend(ctx, spqr).state;
    const record = encodeSessionRecord({ current: { ...current, version: 4, spqr }, archived: [] });
    expect(decodeSessionRecord(record).current?.spqr?.braid.kind).toBe('keys-sampled');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: record.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        (at, xor, truncate) => {
          const corrupted = truncate ? record.subarray(0, at) : record.slice();
          if (!truncate) corrupted[at]! ^= xor;
          try {
            decodeSessionRecord(corrupted);
          } catch (error) {
            expect(isParleyError(error, 'ERR_INVALID_RECORD'), String(error)).toBe(true);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
