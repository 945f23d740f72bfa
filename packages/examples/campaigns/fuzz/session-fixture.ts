import {
  type CryptoProvider,
  createMemoryStore,
  type PreKeyBundle,
  type ProtocolAddress,
  type RandomSource,
  SessionManager,
  type Store,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createDeterministicRandom, ManualClock } from '@parley/core/testing';
import { memoryStoreFrom, type StoreSnapshot, snapshotStore } from '../store-snapshot.js';

/** A real message the receiver has not seen yet: a seed for mutation. */
export interface MessageSeed {
  readonly label: string;
  /** The sender as the receiver addresses it. */
  readonly sender: ProtocolAddress;
  readonly type: 2 | 3;
  readonly body: Uint8Array;
}

/**
 * Real sessions to fuzz against: a receiver ("bob", plain records so corrupted bytes reach
 * the decoders directly) and three senders — a PQXDH (v4) and an X3DH (v3) initiator whose
 * first prekey messages bob has not read, and an established v4 session whose next whisper
 * messages (one after a DH ratchet step) bob has not read either.
 */
export interface SessionFixture {
  readonly crypto: CryptoProvider;
  readonly time: number;
  readonly receiverScope: string;
  readonly receiver: StoreSnapshot;
  /** The v4 initiator's store before it processed a bundle (for processBundle inputs). */
  readonly initiator: StoreSnapshot;
  readonly initiatorScope: string;
  readonly seeds: readonly MessageSeed[];
  /** Bob's bundles: with a Kyber prekey (v4) and without (v3). */
  readonly bundles: readonly PreKeyBundle[];
  /** The senders' stores (an initiator's record with a pending prekey, a responder's). */
  readonly senders: readonly StoreSnapshot[];
  /** A fresh manager over a restored copy of a snapshot, on the fixture's clock and a given random source. */
  open(
    snapshot: StoreSnapshot,
    scope: string,
    random: RandomSource,
  ): Promise<{ store: Store; sessions: SessionManager }>;
}

const RECEIVER = 'bob';

export async function buildSessionFixture(seed: string): Promise<SessionFixture> {
  const crypto = createNodeCrypto();
  const clock = new ManualClock();
  const manager = (name: string, store: Store = createMemoryStore({ clock })) =>
    new SessionManager({
      store,
      crypto,
      clock,
      random: createDeterministicRandom(`${seed}/${name}`),
      scope: name,
    });
  const bob = manager(RECEIVER);
  await bob.initializeIdentity();
  await bob.generateSignedPreKey(1);
  await bob.generateOneTimePreKeys(1, 4);
  await bob.generateKyberPreKey(1, { lastResort: true });
  await bob.generateKyberPreKey(2);
  const v4Bundle = await bob.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 1, kyberPreKeyId: 2 });
  const v3Bundle = await bob.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: 2 });
  const lastResortBundle = await bob.createBundle({
    deviceId: 1,
    signedPreKeyId: 1,
    preKeyId: 3,
    kyberPreKeyId: 1,
  });
  const bobAddress = { name: RECEIVER, deviceId: 1 };
  const text = (s: string) => new TextEncoder().encode(s);
  const seeds: MessageSeed[] = [];

  const aliceStore = createMemoryStore({ clock });
  const alice4 = manager('alice4', aliceStore);
  await alice4.initializeIdentity();
  const initiator = await snapshotStore(aliceStore);
  await alice4.processBundle(bobAddress, v4Bundle);
  const a4 = await alice4.encrypt(bobAddress, text('first words, post-quantum'));
  seeds.push({ label: 'prekey-v4', sender: { name: 'alice4', deviceId: 1 }, type: a4.type, body: a4.body });
  const a4b = await alice4.encrypt(bobAddress, text('second prekey message of the same session'));
  seeds.push({
    label: 'prekey-v4-2',
    sender: { name: 'alice4', deviceId: 1 },
    type: a4b.type,
    body: a4b.body,
  });

  const alice3 = manager('alice3');
  await alice3.initializeIdentity();
  await alice3.processBundle(bobAddress, v3Bundle);
  const a3 = await alice3.encrypt(bobAddress, text('first words, classic'));
  seeds.push({ label: 'prekey-v3', sender: { name: 'alice3', deviceId: 1 }, type: a3.type, body: a3.body });

  // An established session: carol's prekey message read, bob replied, carol read the reply.
  const carol = manager('carol');
  await carol.initializeIdentity();
  await carol.processBundle(bobAddress, lastResortBundle);
  const carolAddress = { name: 'carol', deviceId: 1 };
  const opening = await carol.encrypt(bobAddress, text('hello bob'));
  await bob.decrypt(carolAddress, opening);
  const reply = await bob.encrypt(carolAddress, text('hello carol'));
  await carol.decrypt(bobAddress, reply);
  for (let i = 0; i < 3; i++) {
    const m = await carol.encrypt(bobAddress, text(`whisper ${i} `.repeat(i + 1)));
    seeds.push({ label: `whisper-${i}`, sender: carolAddress, type: m.type, body: m.body });
  }
  // Two sessions in a row from dave: bob's record for dave holds an archived state too.
  const dave = manager('dave');
  await dave.initializeIdentity();
  const daveAddress = { name: 'dave', deviceId: 1 };
  const noOneTime = await bob.createBundle({ deviceId: 1, signedPreKeyId: 1, kyberPreKeyId: 1 });
  for (let i = 0; i < 2; i++) {
    await dave.processBundle(bobAddress, noOneTime);
    await bob.decrypt(daveAddress, await dave.encrypt(bobAddress, text(`dave session ${i}`)));
  }
  const receiver = await snapshotStore(bob.records.store);
  const senders = [await snapshotStore(aliceStore), await snapshotStore(carol.records.store)];

  return {
    crypto,
    time: clock.now(),
    receiverScope: RECEIVER,
    receiver,
    initiator,
    initiatorScope: 'alice4',
    seeds,
    bundles: [v4Bundle, v3Bundle, lastResortBundle],
    senders,
    async open(snapshot, scope, random) {
      const restoredClock = new ManualClock(clock.now());
      const store = await memoryStoreFrom(snapshot, restoredClock);
      return { store, sessions: new SessionManager({ store, crypto, clock: restoredClock, random, scope }) };
    },
  };
}
