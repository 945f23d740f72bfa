/**
 * Scoped handles (`gateway.forBusiness`) and the access log: a handle of business A cannot
 * read, send as, retransmit or erase anything of business B — another business's id reads
 * exactly like a missing one — and every call through a handle leaves a hash-chained record
 * that `verify` checks: an edited, removed or truncated record is found.
 */
import { describe, expect, it } from 'vitest';
import { utf8 } from '../src/bytes.js';
import { createPortableCrypto } from '../src/crypto/portable.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import { accessHeadKey } from '../src/gateway/durable/layout.js';
import { createGateway, type Gateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { MessageId } from '../src/gateway/types.js';
import type { Mutation, Store } from '../src/storage/contract.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { createSimulatedPerson } from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';

const A_NUMBER = '+15550101';
const B_NUMBER = '+15550202';
const ALICE = '+15550111'; // a customer of A
const BOB = '+15550222'; // a customer of B
const DAY = 24 * 60 * 60 * 1000;
const crypto = createPortableCrypto();

async function twoBusinesses(shared?: {
  store: Store;
  vaultStore: Store;
  clock: ManualClock;
  network: TestNetwork;
}) {
  const clock = shared?.clock ?? new ManualClock();
  const store = shared?.store ?? createMemoryStore({ clock });
  const vaultStore = shared?.vaultStore ?? createMemoryStore({ clock });
  const network = shared?.network ?? new TestNetwork({ random: createDeterministicRandom('net') });
  const gateway: Gateway = createGateway({
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32).fill(3), crypto }),
    transport: network,
    directory: network,
    crypto,
    random: createDeterministicRandom(`gw-${Math.random()}`),
    clock,
    timer: false,
    preKeys: { batchSize: 3, kyberBatchSize: 2, lowWaterMark: 1, kyberLowWaterMark: 1 },
  });
  network.connect(gateway);
  if (!shared) {
    for (const [id, number] of [
      ['a', A_NUMBER],
      ['b', B_NUMBER],
    ] as const) {
      await gateway.registerBusiness({ businessId: id });
      await gateway.addNumber(id, number);
    }
    for (const phoneNumber of [ALICE, BOB]) {
      network.addPerson(
        await createSimulatedPerson({
          phoneNumber,
          crypto,
          clock,
          random: createDeterministicRandom(phoneNumber),
        }),
      );
    }
  }
  return { gateway, store, vaultStore, clock, network };
}

async function refusal(call: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call();
  } catch (error) {
    expect(isParleyError(error), String(error)).toBe(true);
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  throw new Error('expected a refusal');
}

describe('a handle reaches its own business only', () => {
  it('the isolation matrix: B’s number, message ids and people are ERR_NOT_FOUND, exactly like missing ones', async () => {
    const w = await twoBusinesses();
    const a = w.gateway.forBusiness('a', { principal: 'token:a-support' });
    const b = w.gateway.forBusiness('b', { principal: 'token:b-app' });
    const aMessage = await a.send({ from: A_NUMBER, to: ALICE, content: 'for alice' });
    const bMessage = await b.send({ from: B_NUMBER, to: BOB, content: 'for bob' });
    await w.network.flush();

    // Sending as B's number reads like an unregistered number.
    const asB = await refusal(() => a.send({ from: B_NUMBER, to: BOB, content: 'spoofed' }));
    const unknownNumber = await refusal(() => a.send({ from: '+15559999', to: BOB, content: 'x' }));
    expect(asB).toEqual(unknownNumber);
    expect(asB.code).toBe('ERR_NOT_FOUND');

    // B's message ids read like ids that never existed, for status and retransmit.
    const missing = `m${'a'.repeat(32)}` as MessageId;
    for (const op of ['status', 'retransmit'] as const) {
      const other = await refusal(() => a[op](bMessage));
      expect(other).toEqual(await refusal(() => a[op](missing)));
      expect(other.code).toBe('ERR_NOT_FOUND');
    }
    // Erasing Bob through A touches nothing of B.
    await a.erase(BOB);
    expect((await b.status(bMessage)).status).toBe('delivered');
    expect(await a.numbers()).toEqual([A_NUMBER]);
    expect(await b.numbers()).toEqual([B_NUMBER]);
    expect((await a.status(aMessage)).status).toBe('delivered');

    // Usage and the access log are per business.
    const day = new Date(w.clock.now()).toISOString().slice(0, 10);
    expect((await a.usage(day)).statistics?.businessId).toBe('a');
    expect((await a.accessLog()).every((record) => record.businessId === 'a')).toBe(true);
    expect((await b.accessLog()).every((record) => record.businessId === 'b')).toBe(true);

    // Once B's message has expired: still ERR_NOT_FOUND for A (ERR_RETENTION_EXPIRED would say it existed).
    w.clock.advance(31 * DAY);
    expect((await refusal(() => a.status(bMessage))).code).toBe('ERR_NOT_FOUND');
    expect((await refusal(() => b.status(bMessage))).code).toBe('ERR_RETENTION_EXPIRED');
  });

  it('a principal is required and checked', async () => {
    const w = await twoBusinesses();
    expect(() => w.gateway.forBusiness('a', undefined as never)).toThrow(/options/);
    expect(() => w.gateway.forBusiness('a', { principal: '' })).toThrow(/principal/);
    expect(() => w.gateway.forBusiness('a', { principal: 'x'.repeat(129) })).toThrow(/principal/);
    expect(() => w.gateway.forBusiness('not a business id!', { principal: 'p' })).toThrow(/businessId/);
  });
});

const HEAD_A = accessHeadKey('a');

/**
 * Business "a" with a number, on a memory store whose commits that write the access-log head
 * (appends) first go through `beforeAppend`.
 */
async function withAppendCommits(beforeAppend: (inner: Store, mutation: Mutation) => Promise<void>) {
  const clock = new ManualClock();
  const inner = createMemoryStore({ clock });
  const watched: Store = Object.create(inner, {
    commit: {
      value: async (...args: Parameters<Store['commit']>) => {
        if (args[0].some((op) => op.type === 'put' && op.key === HEAD_A)) await beforeAppend(inner, args[0]);
        return inner.commit(...args);
      },
    },
  });
  const w = await twoBusinesses({
    store: watched,
    vaultStore: createMemoryStore({ clock }),
    clock,
    network: new TestNetwork({ random: createDeterministicRandom('net') }),
  });
  await w.gateway.registerBusiness({ businessId: 'a' });
  await w.gateway.addNumber('a', A_NUMBER);
  return w;
}

describe('the access log', () => {
  it('records every call with principal, operation, message id, pseudonym and outcome — never content or a number', async () => {
    const w = await twoBusinesses();
    const a = w.gateway.forBusiness('a', { principal: 'token:a-support' });
    const id = await a.send({ from: A_NUMBER, to: ALICE, content: 'canary-content-123' });
    await a.status(id);
    await refusal(() => a.retransmit(`m${'b'.repeat(32)}`));
    await a.erase(ALICE);
    const records = await w.gateway.accessLog().query('a');
    expect(records.map((r) => [r.seq, r.operation, r.outcome])).toEqual([
      [1, 'send', 'ok'],
      [2, 'status', 'ok'],
      [3, 'retransmit', 'ERR_NOT_FOUND'],
      [4, 'erase', 'ok'],
    ]);
    expect(records[0]).toMatchObject({ principal: 'token:a-support', businessId: 'a', messageId: id });
    expect(records[0]!.person).toMatch(/^[0-9a-f]{16,}$/);
    expect(records[3]!.person).toBe(records[0]!.person);
    const raw = (await w.store.list('meta', { prefix: 'gw/b/a/log' })).map((r) => r.value);
    for (const canary of [utf8('canary-content-123'), utf8(ALICE), utf8(ALICE.slice(1))]) {
      for (const bytes of raw) expect(Buffer.from(bytes).includes(Buffer.from(canary))).toBe(false);
    }
    expect(await w.gateway.accessLog().verify('a')).toMatchObject({
      ok: true,
      records: 4,
      firstSeq: 1,
      lastSeq: 4,
    });
    const exported = await w.gateway.accessLog().export('a');
    expect(exported.head).toEqual({ seq: 4, mac: records[3]!.mac });
    expect(JSON.parse(JSON.stringify(exported)).records).toHaveLength(4);
  });

  it('verify finds an edited record, a removed one, a removed tail and a removed oldest record', async () => {
    const cases = {
      edited: async (store: Store) => {
        const record = (await store.get('meta', 'gw/b/a/log/0000000000000002'))!;
        const edited = Uint8Array.from(record.value);
        edited[20]! ^= 1;
        await store.commit([
          { type: 'put', namespace: 'meta', key: 'gw/b/a/log/0000000000000002', value: edited },
        ]);
        return { seq: 2, reason: /edited/ };
      },
      removed: async (store: Store) => {
        await store.commit([{ type: 'delete', namespace: 'meta', key: 'gw/b/a/log/0000000000000003' }]);
        return { seq: 3, reason: /removed/ };
      },
      tail: async (store: Store) => {
        await store.commit([{ type: 'delete', namespace: 'meta', key: 'gw/b/a/log/0000000000000005' }]);
        return { seq: 5, reason: /head/ };
      },
      oldest: async (store: Store) => {
        await store.commit([{ type: 'delete', namespace: 'meta', key: 'gw/b/a/log/0000000000000001' }]);
        return { seq: 1, reason: /before its expiry/ };
      },
    };
    for (const [name, tamper] of Object.entries(cases)) {
      const w = await twoBusinesses();
      const a = w.gateway.forBusiness('a', { principal: 'p' });
      for (let i = 0; i < 5; i++) await a.numbers();
      expect((await w.gateway.accessLog().verify('a')).ok).toBe(true);
      const expected = await tamper(w.store);
      const verification = await w.gateway.accessLog().verify('a');
      expect(verification.ok, name).toBe(false);
      expect(verification.problem?.seq, name).toBe(expected.seq);
      expect(verification.problem?.reason, name).toMatch(expected.reason);
    }
  });

  it('an append that keeps losing the chain head to other instances waits and retries instead of failing the call', async () => {
    let interfere = 0;
    let interfered = 0;
    // Another instance appends (the head's version moves) right before each of this one's tries.
    const w = await withAppendCommits(async (inner) => {
      if (interfere > 0) {
        interfere -= 1;
        interfered += 1;
        const stored = await inner.get('meta', HEAD_A);
        await inner.commit([{ type: 'put', namespace: 'meta', key: HEAD_A, value: stored!.value }]);
      }
    });
    const a = w.gateway.forBusiness('a', { principal: 'p' });
    await a.numbers();
    // More lost races in a row than a fixed number of immediate retries allowed (20).
    interfere = 21;
    await expect(a.numbers()).resolves.toEqual([A_NUMBER]);
    expect(interfered).toBe(21);
    expect(await w.gateway.accessLog().verify('a')).toMatchObject({ ok: true, records: 2, lastSeq: 2 });
  });

  it('appends made while the previous one commits share one commit, chained in call order', async () => {
    const appendCommits: number[] = [];
    const w = await withAppendCommits(async (_inner, mutation) => {
      appendCommits.push(mutation.length - 1);
    });
    const handles = Array.from({ length: 20 }, (_, i) => w.gateway.forBusiness('a', { principal: `p${i}` }));
    await Promise.all(handles.map((handle) => handle.numbers()));
    // One record per call, in far fewer commits than calls (one per call before).
    expect(appendCommits.reduce((sum, records) => sum + records, 0)).toBe(20);
    expect(appendCommits.length).toBeLessThanOrEqual(3);
    const records = await w.gateway.accessLog().query('a');
    expect(records.map((record) => record.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(records.map((record) => record.principal)).size).toBe(20);
    expect(await w.gateway.accessLog().verify('a')).toMatchObject({ ok: true, records: 20, lastSeq: 20 });
  });

  it('records expire after 90 days and the rest still verifies; two instances append to one chain', async () => {
    const w = await twoBusinesses();
    const a = w.gateway.forBusiness('a', { principal: 'p' });
    await a.numbers();
    w.clock.advance(60 * DAY);
    await a.numbers();
    w.clock.advance(31 * DAY);
    await w.gateway.sweep();
    const left = await w.gateway.accessLog().query('a');
    expect(left.map((r) => r.seq)).toEqual([2]);
    expect((await w.gateway.accessLog().verify('a')).ok).toBe(true);

    const second = await twoBusinesses(w);
    const a2 = second.gateway.forBusiness('a', { principal: 'p2' });
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : a2).numbers()));
    const verification = await w.gateway.accessLog().verify('a');
    expect(verification).toMatchObject({ ok: true, records: 21, lastSeq: 22 });
  });
});
