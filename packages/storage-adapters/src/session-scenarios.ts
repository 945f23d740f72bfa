/**
 * Session scenarios for the conformance suite: Parley talking to Parley with every protocol
 * record in the store under test (the scenarios of the sessions issue), plus store-level
 * scenarios with the commit shape a gateway's decrypt has (session record, delivered message
 * and counter in one commit, guarded by the session's version).
 *
 * The protocol scenarios use the portable (noble) crypto provider so that they run unchanged
 * in a browser.
 */
import {
  type CiphertextMessage,
  type Clock,
  createPortableCrypto,
  isParleyError,
  type ProtocolAddress,
  SessionManager,
  type Store,
} from '@parley/core';
import { createDeterministicRandom } from '@parley/core/testing';
import { expect } from 'vitest';

export interface ScenarioContext {
  /** A fresh store opened for this scenario. */
  readonly store: Store;
  /** The fake clock the store was opened with; move it to drive expiry. */
  readonly clock: Clock & { set(now: number): void; advance(ms: number): void };
  /** Opens another fresh, empty store (e.g. the other party's). */
  open(): Promise<Store>;
  /** Reopens the storage behind the most recent open; undefined for non-persistent adapters. */
  readonly reopen: (() => Promise<Store>) | undefined;
}

export interface StoreScenario {
  readonly name: string;
  /** Skipped on adapters without `reopen`. */
  readonly needsReopen?: boolean;
  run(context: ScenarioContext): Promise<void>;
}

interface ToySession {
  readonly received: number;
  readonly chain: number;
}

function encodeSession(session: ToySession): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, session.received);
  view.setUint32(4, session.chain);
  return out;
}

function decodeSession(bytes: Uint8Array): ToySession {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { received: view.getUint32(0), chain: view.getUint32(4) };
}

/** Stands in for the chain-key step of a ratchet: deterministic, order-sensitive. */
function step(chain: number): number {
  return Math.imul(chain ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
}

/** One "decrypt": re-read the session, advance it, commit session + message + counter at once. */
async function receive(store: Store, peer: string, retention: number, now: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const current = await store.get('sessions', peer);
    const session = current === undefined ? { received: 0, chain: 1 } : decodeSession(current.value);
    const next = { received: session.received + 1, chain: step(session.chain) };
    try {
      await store.commit(
        [
          { type: 'put', namespace: 'sessions', key: peer, value: encodeSession(next) },
          {
            type: 'put',
            namespace: 'messages',
            key: `${peer}/in/${String(next.received).padStart(6, '0')}`,
            value: encodeSession(next),
            expiresAt: now + retention,
          },
          { type: 'put', namespace: 'counters', key: `${peer}/received`, value: encodeSession(next) },
        ],
        { expectVersions: [{ namespace: 'sessions', key: peer, version: current?.version ?? 0 }] },
      );
      return next.received;
    } catch (error) {
      if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
    }
  }
  throw new Error('receive made no progress');
}

async function expectConsistent(store: Store, peer: string, expected: number): Promise<void> {
  const session = decodeSession((await store.get('sessions', peer))!.value);
  expect(session.received).toBe(expected);
  let chain = 1;
  for (let i = 0; i < expected; i++) chain = step(chain);
  expect(session.chain).toBe(chain);
  expect(decodeSession((await store.get('counters', `${peer}/received`))!.value)).toEqual(session);
}

const crypto = createPortableCrypto();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Party {
  readonly address: ProtocolAddress;
  readonly sessions: SessionManager;
}

async function party(store: Store, clock: Clock, name: string, fresh = true): Promise<Party> {
  const sessions = new SessionManager({
    store,
    crypto,
    clock,
    scope: name,
    random: createDeterministicRandom(`${name}-${clock.now()}`),
  });
  if (fresh) {
    await sessions.initializeIdentity();
    await sessions.generateSignedPreKey(1);
    await sessions.generateOneTimePreKeys(1, 5);
  }
  return { address: { name, deviceId: 1 }, sessions };
}

async function connect(alice: Party, bob: Party, preKeyId = 1): Promise<void> {
  const bundle = await bob.sessions.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId });
  await alice.sessions.processBundle(bob.address, bundle);
}

async function send(from: Party, to: Party, text: string): Promise<CiphertextMessage> {
  return from.sessions.encrypt(to.address, encoder.encode(text));
}

async function receiveText(at: Party, from: Party, message: CiphertextMessage): Promise<string> {
  return decoder.decode((await at.sessions.decrypt(from.address, message)).plaintext);
}

async function exchange(alice: Party, bob: Party, text: string): Promise<void> {
  expect(await receiveText(bob, alice, await send(alice, bob, `${text} a→b`))).toBe(`${text} a→b`);
  expect(await receiveText(alice, bob, await send(bob, alice, `${text} b→a`))).toBe(`${text} b→a`);
}

async function allRecords(store: Store): Promise<string[]> {
  const out: string[] = [];
  for (const namespace of ['identities', 'prekeys', 'sessions', 'messages', 'counters', 'meta'] as const) {
    for (const record of await store.list(namespace)) {
      out.push(`${namespace}/${record.key}@${record.version}:${Array.from(record.value).join(',')}`);
    }
  }
  return out;
}

const protocolScenarios: readonly StoreScenario[] = [
  {
    name: 'Parley to Parley: two prekey messages, a reply, 20 messages each way, a reversed burst with one lost',
    async run({ store, clock }) {
      const alice = await party(store, clock, 'alice');
      const bob = await party(store, clock, 'bob');
      await connect(alice, bob);
      const first = await send(alice, bob, 'prekey 1');
      const second = await send(alice, bob, 'prekey 2');
      expect([first.type, second.type]).toEqual([3, 3]);
      expect(await receiveText(bob, alice, first)).toBe('prekey 1');
      expect(await receiveText(bob, alice, second)).toBe('prekey 2');
      expect(await receiveText(alice, bob, await send(bob, alice, 'reply'))).toBe('reply');
      for (let i = 0; i < 20; i++) await exchange(alice, bob, `round ${i}`);
      const burst: CiphertextMessage[] = [];
      for (let i = 0; i < 8; i++) burst.push(await send(alice, bob, `burst ${i}`));
      for (let i = burst.length - 1; i >= 0; i--) {
        if (i !== 3) expect(await receiveText(bob, alice, burst[i]!)).toBe(`burst ${i}`);
      }
      await exchange(alice, bob, 'after the burst');
    },
  },
  {
    name: 'a refused message leaves every stored record byte-identical',
    async run({ store, clock }) {
      const alice = await party(store, clock, 'alice');
      const bob = await party(store, clock, 'bob');
      await connect(alice, bob);
      await exchange(alice, bob, 'hello');
      const message = await send(alice, bob, 'tampered');
      const body = message.body.slice();
      body[body.length - 1]! ^= 1;
      const before = await allRecords(store);
      const error = await bob.sessions
        .decrypt(alice.address, { type: message.type, body })
        .catch((e: unknown) => e);
      expect(isParleyError(error, 'ERR_INVALID_MAC')).toBe(true);
      expect(await allRecords(store)).toEqual(before);
      expect(await receiveText(bob, alice, message)).toBe('tampered');
    },
  },
  {
    name: 'two session managers over one store serialize concurrent decrypts through version checks',
    async run({ store, clock }) {
      const alice = await party(store, clock, 'alice');
      const bob = await party(store, clock, 'bob');
      await connect(alice, bob);
      await exchange(alice, bob, 'hello');
      const twin: Party = {
        address: bob.address,
        sessions: new SessionManager({ store, crypto, clock, scope: 'bob' }),
      };
      const messages: CiphertextMessage[] = [];
      for (let i = 0; i < 8; i++) messages.push(await send(alice, bob, `m${i}`));
      const opened = await Promise.all(messages.map((m, i) => receiveText(i % 2 ? twin : bob, alice, m)));
      expect(opened).toEqual(messages.map((_, i) => `m${i}`));
      await exchange(alice, twin, 'still in step');
    },
  },
  {
    name: 'a late message on an archived session opens and the newer session keeps working',
    async run({ store, clock }) {
      const alice = await party(store, clock, 'alice');
      const bob = await party(store, clock, 'bob');
      await connect(alice, bob, 1);
      await exchange(alice, bob, 'first session');
      const late = await send(bob, alice, 'late');
      await connect(alice, bob, 2);
      expect(await receiveText(bob, alice, await send(alice, bob, 'second session'))).toBe('second session');
      expect(await receiveText(alice, bob, late)).toBe('late');
      await exchange(alice, bob, 'onwards');
    },
  },
  {
    name: 'Parley sessions continue from the stored state after reopen',
    needsReopen: true,
    async run({ store, clock, reopen }) {
      const alice = await party(store, clock, 'alice');
      const bob = await party(store, clock, 'bob');
      await connect(alice, bob);
      await exchange(alice, bob, 'before');
      const inFlight = await send(alice, bob, 'in flight across the reopen');
      await store.close();
      const again = await reopen!();
      const alice2 = await party(again, clock, 'alice', false);
      const bob2 = await party(again, clock, 'bob', false);
      expect(await receiveText(bob2, alice2, inFlight)).toBe('in flight across the reopen');
      await exchange(alice2, bob2, 'after');
    },
  },
];

export const sessionScenarios: readonly StoreScenario[] = [
  ...protocolScenarios,
  {
    name: 'concurrent receives on one session each land exactly once, in one commit each',
    async run({ store, clock }) {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => receive(store, 'peer-a', 60_000, clock.now())),
      );
      expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      await expectConsistent(store, 'peer-a', 20);
      expect(await store.list('messages', { prefix: 'peer-a/in/' })).toHaveLength(20);
    },
  },
  {
    name: 'delivered messages expire with their retention while the session carries on',
    async run({ store, clock }) {
      for (let i = 0; i < 5; i++) {
        await receive(store, 'peer-b', 1_000, clock.now());
        clock.advance(400);
      }
      // Message i was written at t0 + 400 (i - 1) and expires 1000 ms later; the clock is now
      // t0 + 2000, so messages 1..3 are gone and 4..5 remain.
      expect((await store.list('messages', { prefix: 'peer-b/' })).map((r) => r.key.slice(-1))).toEqual([
        '4',
        '5',
      ]);
      expect(await store.sweepExpired(clock.now())).toBe(3);
      await receive(store, 'peer-b', 1_000, clock.now());
      await expectConsistent(store, 'peer-b', 6);
    },
  },
  {
    name: 'a session continues from the stored state after reopen',
    needsReopen: true,
    async run({ store, clock, reopen }) {
      for (let i = 0; i < 3; i++) await receive(store, 'peer-c', 60_000, clock.now());
      await store.close();
      const again = await reopen!();
      await expectConsistent(again, 'peer-c', 3);
      await receive(again, 'peer-c', 60_000, clock.now());
      await expectConsistent(again, 'peer-c', 4);
    },
  },
];
