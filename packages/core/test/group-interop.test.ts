/**
 * Sender keys both ways against real peers: libsignal-client (the `signal` format, an old and
 * the current version) and Baileys' group code (the `whatsapp` format). Each way: the peer's
 * distribution message processed by Parley and Parley's by the peer, 100 group messages
 * delivered reordered, duplicated and with drops, then a key rotation that the remaining member
 * follows and a removed member cannot.
 */
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { MAX_SENDER_MESSAGE_KEYS } from '../src/groups/limits.js';
import { BAILEYS_KIND, createBaileysGroupPeer, type GroupPeer, groupPeerFactories } from './peers/groups.js';
import {
  createGroupParty,
  deliveryPlan,
  expectGroupRefusal,
  type GroupParty,
  remoteStates,
} from './support/groups.js';
import { snapshot, str, text } from './support/parties.js';

const GROUP = 'group-7f3a';
const MESSAGES = 100;
const AFTER_ROTATION = 10;

/** An old and the current libsignal-client, and Baileys. */
const PEERS = ['lsc-0.23.1', 'lsc-0.103.0', BAILEYS_KIND] as const;

function peerOf(kind: string, name: string): GroupPeer {
  const factory = groupPeerFactories[kind];
  if (!factory) throw new Error(`unknown group peer ${kind}`);
  return factory({ name, deviceId: 1 });
}

function partyFor(kind: string, name: string): GroupParty {
  return createGroupParty(name, { format: kind === BAILEYS_KIND ? 'whatsapp' : 'signal' });
}

async function peerRefusal(peer: GroupPeer, action: () => Promise<unknown>): Promise<string> {
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${peer.kind} accepted what it should refuse`).toBeDefined();
  return peer.classify(error);
}

describe.each(PEERS)('%s sends to Parley', (kind) => {
  it('distribution, 100 messages reordered with duplicates and drops, then a rotation', async () => {
    const peer = peerOf(kind, 'peer');
    const parley = partyFor(kind, 'parley');
    const removed = partyFor(kind, 'removed');
    for (const party of [parley, removed]) party.members.add(GROUP, peer.address);

    const distribution = await peer.createDistribution(GROUP);
    expect((await parley.groups.processDistribution(GROUP, peer.address, distribution)).newChain).toBe(true);
    await removed.groups.processDistribution(GROUP, peer.address, distribution);

    const messages: Uint8Array[] = [];
    for (let i = 0; i < MESSAGES; i++) messages.push(await peer.encrypt(GROUP, text(`to parley ${i}`)));
    // Message 3 is held back and delivered only after the rotation: a late message of the
    // previous chain must still open.
    const late = 3;
    const plan = deliveryPlan(MESSAGES, 1701, { keep: [late] });
    const received = new Set<number>();
    for (const step of plan.steps) {
      if (step.index === late) continue;
      const body = messages[step.index]!;
      if (step.duplicate) {
        await expectGroupRefusal(
          parley.store,
          () => parley.groups.decrypt(GROUP, peer.address, body),
          'ERR_DUPLICATE_MESSAGE',
        );
        continue;
      }
      const result = await parley.groups.decrypt(GROUP, peer.address, body);
      expect(str(result.plaintext)).toBe(`to parley ${step.index}`);
      received.add(step.index);
    }
    expect(received.size).toBe(MESSAGES - plan.dropped.size - 1);
    expect(plan.steps.some((step) => step.duplicate)).toBe(true);
    expect(plan.dropped.size).toBeGreaterThan(0);

    if (kind === BAILEYS_KIND) {
      // Baileys sends iterations 0, 2, 4, …: every odd one stays behind as a skipped key, beside
      // the keys of the dropped messages and of the held-back one.
      // (Keys above the newest message received were never derived.)
      const [state] = await remoteStates(parley, GROUP, peer.address);
      const unused = [...state!.skipped.keys()].sort((a, b) => a - b);
      const newest = 2 * Math.max(...received);
      const expected: number[] = [];
      for (let iteration = 1; iteration < newest; iteration += 2) expected.push(iteration);
      for (const index of [...plan.dropped, late]) if (2 * index < newest) expected.push(2 * index);
      expect(unused).toEqual(expected.sort((a, b) => a - b));
      expect(unused.length).toBeGreaterThanOrEqual(MESSAGES - 10);
    }

    // Rotation: the remaining member gets the new chain, the removed one does not.
    removed.members.remove(GROUP, peer.address);
    const rotated = await peer.rotate(GROUP);
    expect((await parley.groups.processDistribution(GROUP, peer.address, rotated)).newChain).toBe(true);
    for (let i = 0; i < AFTER_ROTATION; i++) {
      const body = await peer.encrypt(GROUP, text(`after rotation ${i}`));
      expect(str((await parley.groups.decrypt(GROUP, peer.address, body)).plaintext)).toBe(
        `after rotation ${i}`,
      );
      removed.members.add(GROUP, peer.address);
      await expectGroupRefusal(
        removed.store,
        () => removed.groups.decrypt(GROUP, peer.address, body),
        'ERR_SENDER_KEY_NOT_FOUND',
      );
      removed.members.remove(GROUP, peer.address);
    }
    expect(str((await parley.groups.decrypt(GROUP, peer.address, messages[late]!)).plaintext)).toBe(
      `to parley ${late}`,
    );
    expect(await remoteStates(parley, GROUP, peer.address)).toHaveLength(2);
  });
});

describe.each(PEERS)('Parley sends to %s', (kind) => {
  it('distribution, 100 messages reordered with duplicates and drops, then a rotation', async () => {
    const parley = partyFor(kind, 'parley');
    const peer = peerOf(kind, 'peer');
    const removed = peerOf(kind, 'removed');

    const distribution = await parley.groups.createDistribution(GROUP);
    expect(distribution.iteration).toBe(0);
    await peer.processDistribution(GROUP, parley.address, distribution.body);
    await removed.processDistribution(GROUP, parley.address, distribution.body);

    const messages: Uint8Array[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const message = await parley.groups.encrypt(GROUP, text(`from parley ${i}`));
      expect(message.type).toBe(7);
      expect(message.iteration).toBe(i);
      messages.push(message.body);
    }
    const late = 5;
    const plan = deliveryPlan(MESSAGES, 4242, { keep: [late] });
    let received = 0;
    for (const step of plan.steps) {
      if (step.index === late) continue;
      const body = messages[step.index]!;
      if (step.duplicate) {
        expect(await peerRefusal(peer, () => peer.decrypt(GROUP, parley.address, body))).toBe('duplicate');
        continue;
      }
      expect(str(await peer.decrypt(GROUP, parley.address, body))).toBe(`from parley ${step.index}`);
      received++;
    }
    expect(received).toBe(MESSAGES - plan.dropped.size - 1);

    const rotated = await parley.groups.rotate(GROUP);
    expect(rotated.chainId).not.toBe(distribution.chainId);
    expect(rotated.distributionId).toBe(distribution.distributionId);
    expect(rotated.iteration).toBe(0);
    await peer.processDistribution(GROUP, parley.address, rotated.body);
    for (let i = 0; i < AFTER_ROTATION; i++) {
      const { body } = await parley.groups.encrypt(GROUP, text(`after rotation ${i}`));
      expect(str(await peer.decrypt(GROUP, parley.address, body))).toBe(`after rotation ${i}`);
      expect(await peerRefusal(removed, () => removed.decrypt(GROUP, parley.address, body))).toBe(
        'no-sender-key',
      );
    }
    // The peer keeps the previous chain for late messages, as libsignal and Baileys both do.
    expect(str(await peer.decrypt(GROUP, parley.address, messages[late]!))).toBe(`from parley ${late}`);
  });
});

describe('distribution messages of every installed libsignal-client version', () => {
  it.each(Object.keys(groupPeerFactories).filter((kind) => kind.startsWith('lsc-')))(
    '%s: one message each way',
    async (kind) => {
      const peer = peerOf(kind, 'peer');
      const parley = createGroupParty('parley', { format: 'signal' });
      parley.members.add(GROUP, peer.address);
      await parley.groups.processDistribution(GROUP, peer.address, await peer.createDistribution(GROUP));
      const incoming = await peer.encrypt(GROUP, text(`hello from ${kind}`));
      expect(str((await parley.groups.decrypt(GROUP, peer.address, incoming)).plaintext)).toBe(
        `hello from ${kind}`,
      );
      await peer.processDistribution(
        GROUP,
        parley.address,
        (await parley.groups.createDistribution(GROUP)).body,
      );
      const outgoing = await parley.groups.encrypt(GROUP, text('hello from parley'));
      expect(str(await peer.decrypt(GROUP, parley.address, outgoing.body))).toBe('hello from parley');
    },
  );
});

describe('Baileys leaves a skipped key per message: bounded eviction, not refusal', () => {
  it('a receiver at MAX_SENDER_MESSAGE_KEYS keeps accepting, evicting the oldest key', async () => {
    const peer = createBaileysGroupPeer({ name: 'peer', deviceId: 1 });
    const parley = createGroupParty('parley', { format: 'whatsapp' });
    parley.members.add(GROUP, peer.address);
    await parley.groups.processDistribution(GROUP, peer.address, await peer.createDistribution(GROUP));
    const first = await peer.encrypt(GROUP, text('first'));
    expect(str((await parley.groups.decrypt(GROUP, peer.address, first)).plaintext)).toBe('first');
    const early = await peer.encrypt(GROUP, text('early, delivered last'));

    // ~1 100 messages to other members that this device missed (Baileys advances its chain by
    // two per message), then 60 it receives: the missed ones alone push the skipped keys past
    // the bound, and every received one adds one more (the odd iteration Baileys skipped).
    const missed = 1_100;
    await peer.skipAhead(GROUP, 2 * missed);
    let [state] = await remoteStates(parley, GROUP, peer.address);
    expect(state!.skipped.size).toBe(0);
    const decrypted = [0];
    let held: Uint8Array | undefined;
    for (let i = 0; i < 60; i++) {
      const body = await peer.encrypt(GROUP, text(`received ${i}`));
      if (i === 30) {
        held = body;
        continue;
      }
      const result = await parley.groups.decrypt(GROUP, peer.address, body);
      expect(str(result.plaintext)).toBe(`received ${i}`);
      decrypted.push(result.iteration);
      [state] = await remoteStates(parley, GROUP, peer.address);
      expect(state!.skipped.size).toBe(MAX_SENDER_MESSAGE_KEYS);
    }
    // Exactly the newest MAX_SENDER_MESSAGE_KEYS unused iterations are kept, the oldest evicted…
    const newest = Math.max(...decrypted);
    const unused: number[] = [];
    for (let iteration = newest - 1; unused.length < MAX_SENDER_MESSAGE_KEYS; iteration--) {
      if (!decrypted.includes(iteration)) unused.push(iteration);
    }
    expect([...state!.skipped.keys()].sort((a, b) => a - b)).toEqual(unused.sort((a, b) => a - b));
    expect(unused[0]).toBeGreaterThan(2 * missed - MAX_SENDER_MESSAGE_KEYS);
    // …so the held-back message of this run still opens, while the record stays bounded.
    expect(str((await parley.groups.decrypt(GROUP, peer.address, held!)).plaintext)).toBe('received 30');
    const stored = await parley.store.get('sessions', parley.groups.records.remoteKey(GROUP, peer.address));
    expect(stored!.value.length).toBeLessThan(4 + 100 + MAX_SENDER_MESSAGE_KEYS * 36 + 16);
    // A message whose key was evicted is refused as libsignal refuses it (a duplicate), and
    // changes nothing.
    const before = await snapshot(parley.store);
    const error = await parley.groups.decrypt(GROUP, peer.address, early).catch((e: unknown) => e);
    expect(isParleyError(error, 'ERR_DUPLICATE_MESSAGE'), String(error)).toBe(true);
    expect(await snapshot(parley.store)).toEqual(before);
  });
});
