/**
 * The gateway's group scenarios, run against any pair of stores (memory in core, SQLite in the
 * examples): a business in groups with simulated people (the testing kit's devices, real
 * Parley sessions and sender keys on their side), on a step-driven network, a manual clock and
 * seeded randomness. Every scenario goes through the business's scoped handle.
 */
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../../src/crypto/random.js';
import { type ErrorCode, isParleyError } from '../../src/errors.js';
import { readMessageArchive } from '../../src/gateway/archive.js';
import type { BusinessHandle } from '../../src/gateway/business-handle.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../../src/gateway/key-provider.js';
import type { GatewayEvent, InboundMessage, OutboundFrame } from '../../src/gateway/types.js';
import { NAMESPACES, type Store } from '../../src/storage/contract.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { createSimulatedPerson, type SimulatedPerson } from '../../src/testing/simulated-person.js';
import { TestNetwork } from '../../src/testing/test-network.js';
import { decryptionErrorFor } from '../../src/wire/decryption-error-message.js';
import { encodeDecryptionErrorContent } from '../../src/wire/plaintext-content.js';
import type { SenderKeyFormat } from '../../src/wire/sender-key-format.js';
import { decodeSenderKeyMessage } from '../../src/wire/sender-key-message.js';
import { type CutMode, cuttingStore } from './cutting-store.js';
import { type GatewayStoreFactory, TEST_KEK } from './gateway-network.js';
import { type FakeClock, testCrypto } from './parties.js';

const SHOP = '+15550100';
const OTHER_SHOP = '+15550199';
const ALICE = '+4915100000001';
const BOB = '+4915100000002';
const CAROL = '+4915100000003';
const DAVE = '+4915100000004';
const DAY_MS = 24 * 60 * 60 * 1000;

interface GroupWorld {
  gateway: Gateway;
  shop: BusinessHandle;
  readonly network: TestNetwork;
  readonly clock: ManualClock;
  readonly store: Store;
  readonly vaultStore: Store;
  readonly format: SenderKeyFormat;
  readonly people: Map<string, SimulatedPerson>;
  /** What the business's handler received. */
  readonly inbox: InboundMessage[];
  readonly events: GatewayEvent[];
  readonly errors: unknown[];
  person(phoneNumber: string): SimulatedPerson;
  /** A new gateway "process" on the same stores (after a crash), business and number kept. */
  restart(store?: Store): Promise<void>;
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isParleyError(error) ? error.code : error).toBe(code);
}

/**
 * Every stored record (`namespace:key` and bytes as latin1), for canary scans and snapshots;
 * without the access log, which names people by pseudonym on purpose (an audit outlives them).
 */
async function dumpStore(store: Store): Promise<string> {
  let out = '';
  for (const namespace of NAMESPACES) {
    for (const record of await store.list(namespace)) {
      if (/^gw\/b\/[^/]+\/log/.test(record.key)) continue;
      out += `${namespace}:${record.key} ${Buffer.from(record.value).toString('latin1')}\n`;
    }
  }
  return out;
}

/** The frames the gateway handed the transport since `from`, split by what they carried. */
function framesSince(world: GroupWorld, from: number) {
  const frames = world.network.sent.slice(from);
  return {
    group: frames.filter((frame) => frame.type === 7),
    distribution: frames.filter((frame) => frame.type !== 7 && frame.frameId.endsWith('.k')),
    oneToOne: frames.filter((frame) => frame.type !== 7 && !frame.frameId.endsWith('.k')),
  };
}

function textsOf(person: SimulatedPerson, group: string): string[] {
  return person.received.filter((message) => message.group === group).map((message) => message.text);
}

export function describeGatewayGroupScenarios(factory: GatewayStoreFactory): void {
  async function groupWorld(
    options: { format?: SenderKeyFormat; people?: Record<string, number>; seed?: string } = {},
  ): Promise<GroupWorld> {
    const clock = new ManualClock();
    // The factories take the suite's FakeClock; any clock with now() does.
    const stores = await factory.create(clock as unknown as FakeClock);
    const format = options.format ?? 'signal';
    const seed = options.seed ?? `groups/${factory.kind}/${format}`;
    const crypto = testCrypto();
    const network = new TestNetwork({ random: createDeterministicRandom(`${seed}/network`) });
    const inbox: InboundMessage[] = [];
    const events: GatewayEvent[] = [];
    const errors: unknown[] = [];
    const people = new Map<string, SimulatedPerson>();
    let generation = 0;
    const open = async (store: Store) => {
      generation += 1;
      const gateway = createGateway({
        store,
        vaultStore: stores.vaultStore,
        keyProvider: createLocalKeyProvider({ kek: TEST_KEK, crypto }),
        transport: network,
        directory: network,
        crypto,
        random: createDeterministicRandom(`${seed}/gateway/${generation}`),
        clock,
        timer: false,
        groups: { format },
        // Kyber-1024 key generation costs ~3 ms a key: small pools keep the suite fast.
        preKeys: { batchSize: 20, kyberBatchSize: 4, kyberLowWaterMark: 2 },
      });
      gateway.onError((error) => errors.push(error));
      network.connect(gateway);
      await gateway.registerBusiness({ businessId: 'shop', retentionDays: 30 });
      const shop = gateway.forBusiness('shop', { principal: 'group-tests' });
      await shop.onMessage((message) => {
        inbox.push(message);
      });
      await shop.onEvent((event) => {
        events.push(event);
      });
      return { gateway, shop };
    };
    const first = await open(stores.store);
    await first.gateway.addNumber('shop', SHOP);
    const world: GroupWorld = {
      ...first,
      network,
      clock,
      store: stores.store,
      vaultStore: stores.vaultStore,
      format,
      people,
      inbox,
      events,
      errors,
      person(phoneNumber) {
        const person = people.get(phoneNumber);
        if (!person) throw new Error('no such person in this world');
        return person;
      },
      async restart(store = stores.store) {
        const next = await open(store);
        world.gateway = next.gateway;
        world.shop = next.shop;
      },
    };
    for (const [phoneNumber, devices] of Object.entries(
      options.people ?? { [ALICE]: 2, [BOB]: 1, [CAROL]: 1 },
    )) {
      const person = await createSimulatedPerson({
        phoneNumber,
        devices,
        crypto,
        clock,
        random: createDeterministicRandom(`${seed}/person/${phoneNumber}`),
        groupFormat: format,
      });
      people.set(phoneNumber, network.addPerson(person));
    }
    return world;
  }

  async function flush(world: GroupWorld): Promise<void> {
    const result = await world.network.flush();
    expect(result.remaining).toBe(0);
  }

  describe.each(['signal', 'whatsapp'] as const)(`gateway groups (${factory.kind}, %s format)`, (format) => {
    it('a send is one sender-key encryption for every member device; distribution messages only where the chain is missing', async () => {
      const world = await groupWorld({ format });
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE, BOB] });
      const before = world.network.sent.length;
      const first = await world.shop.sendToGroup({ groupId: group, content: 'Welcome to the group!' });
      await flush(world);
      const firstFrames = framesSince(world, before);
      // Alice's two devices and Bob's one: one type-7 frame each, the same bytes, after one
      // distribution message over each device's 1:1 session.
      expect(firstFrames.group.map((frame) => [frame.to, frame.deviceId]).sort()).toEqual(
        [
          [ALICE, 1],
          [ALICE, 2],
          [BOB, 1],
        ].sort(),
      );
      expect(new Set(firstFrames.group.map((frame) => Buffer.from(frame.body).toString('hex'))).size).toBe(1);
      expect(firstFrames.group.every((frame) => frame.groupId === group)).toBe(true);
      expect(firstFrames.distribution).toHaveLength(3);
      expect(firstFrames.oneToOne).toHaveLength(0);
      for (const [phoneNumber, devices] of [
        [ALICE, 2],
        [BOB, 1],
      ] as const) {
        expect(textsOf(world.person(phoneNumber), group)).toEqual(
          Array(devices).fill('Welcome to the group!'),
        );
      }
      expect(textsOf(world.person(CAROL), group)).toEqual([]);

      const middle = world.network.sent.length;
      await world.shop.sendToGroup({ groupId: group, content: 'Second message' });
      await flush(world);
      const steady = framesSince(world, middle);
      expect(steady.group).toHaveLength(3);
      expect(steady.distribution).toHaveLength(0);
      // One encryption per message: the chain moved one iteration.
      const iteration = (frame: OutboundFrame) => decodeSenderKeyMessage(frame.body, format).iteration;
      expect(iteration(steady.group[0]!)).toBe(iteration(firstFrames.group[0]!) + 1);

      // Per-member-device statuses: every member device, each named by its member.
      const info = await world.shop.group(group);
      const member = new Map(info.members.map((entry) => [entry.phoneNumber, entry.member]));
      const status = await world.shop.status(first);
      expect(status.group).toBe(group);
      expect(status.devices.map((device) => [device.member, device.deviceId, device.state]).sort()).toEqual(
        [
          [member.get(ALICE), 1, 'delivered'],
          [member.get(ALICE), 2, 'delivered'],
          [member.get(BOB), 1, 'delivered'],
        ].sort(),
      );
      const statuses = world.events.flatMap((event) =>
        event.type === 'status' && event.messageId === first ? [event.status] : [],
      );
      expect(statuses).toEqual(['accepted', 'sent', 'delivered']);
      const delivered = world.events.find(
        (event) => event.type === 'status' && event.messageId === first && event.status === 'delivered',
      );
      expect(delivered?.type === 'status' && delivered.devices.every((device) => device.member)).toBe(true);
      expect(world.errors).toEqual([]);
    });

    it("members' group messages reach the business; their distribution messages come over 1:1", async () => {
      const world = await groupWorld({ format });
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE, BOB] });
      const alice = world.person(ALICE);
      await alice.sendToGroup(SHOP, group, 'Hi all, Alice here', { deviceId: 2 });
      const deliveries = (await world.network.flush()).deliveries;
      const outcomes = deliveries.flatMap((delivery) =>
        delivery.result === 'accepted' ? [delivery.outcome.kind] : [],
      );
      expect(outcomes).toEqual(['distribution', 'accepted']);
      await alice.sendToGroup(SHOP, group, 'And once more', { deviceId: 2 });
      await flush(world);
      expect(
        world.inbox.map((message) => [message.text, message.group, message.from, message.deviceId]),
      ).toEqual([
        ['Hi all, Alice here', group, ALICE, 2],
        ['And once more', group, ALICE, 2],
      ]);
      // The distribution message was for the gateway, not for the business's handler.
      expect(world.inbox).toHaveLength(2);
    });

    it('a group message with no sender key is ERR_SENDER_KEY_NOT_FOUND and asks the device for it; a non-member changes nothing', async () => {
      const world = await groupWorld({ format, people: { [ALICE]: 1, [DAVE]: 1 } });
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE] });
      const alice = world.person(ALICE);
      // Alice's device starts a 1:1 session, then sends a group message whose distribution
      // message never reached the gateway.
      await alice.send(SHOP, 'hello');
      await flush(world);
      const chain = await alice.device(1).groups.createDistribution(group);
      expect(chain.chainId).toBeGreaterThanOrEqual(0);
      const lost = await alice.device(1).groups.encrypt(group, new TextEncoder().encode('lost'));
      const outcome = await world.gateway.receiveFrame({
        frameId: 'no-key-1',
        to: SHOP,
        from: ALICE,
        deviceId: 1,
        type: 7,
        groupId: group,
        body: lost.body,
      });
      expect(outcome).toEqual({
        kind: 'undecryptable',
        reason: 'ERR_SENDER_KEY_NOT_FOUND',
        retryRequested: true,
      });
      expect(world.network.retryRequests.at(-1)).toMatchObject({
        frameId: 'no-key-1',
        reason: 'ERR_SENDER_KEY_NOT_FOUND',
        groupId: group,
      });
      // The device answers with its distribution message; its later messages are read.
      await alice.sendDistribution(SHOP, group);
      await alice.sendToGroup(SHOP, group, 'after the retry');
      await flush(world);
      expect(world.inbox.map((message) => message.text)).toEqual(['hello', 'after the retry']);

      // Dave is in no group: his distribution message (over a 1:1 session that works) and his
      // group message are refused; no group record, sender key or pending record changes.
      const dave = world.person(DAVE);
      await dave.send(SHOP, 'hi');
      await flush(world);
      const groupState = async () =>
        (await dumpStore(world.store))
          .split('\n')
          .filter((line) => /#group\/|\/(grp|gm|gd|gx|pg)\//.test(line))
          .join('\n');
      const before = await groupState();
      await dave.sendToGroup(SHOP, group, 'let me in');
      const refused = (await world.network.flush()).deliveries.flatMap((delivery) =>
        delivery.result === 'accepted' ? [delivery.outcome] : [],
      );
      expect(refused).toEqual([
        { kind: 'distribution' },
        { kind: 'undecryptable', reason: 'ERR_NOT_GROUP_MEMBER', retryRequested: false },
      ]);
      expect(world.inbox.map((message) => message.text)).toEqual(['hello', 'after the retry', 'hi']);
      expect(await groupState()).toBe(before);
    });

    it('membership changes: a member added later cannot read earlier messages, a removed one cannot read later ones', async () => {
      const world = await groupWorld({ format });
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE, BOB] });
      let mark = world.network.sent.length;
      await world.shop.sendToGroup({ groupId: group, content: 'before Carol' });
      await flush(world);
      const beforeCarol = framesSince(world, mark).group[0]!;
      const firstChain = (await world.shop.group(group)).chain!.chainId;

      await world.shop.addGroupMembers(group, [CAROL]);
      // Adding needs no new chain: Carol gets the current one, from its current iteration.
      expect((await world.shop.group(group)).chain!.chainId).toBe(firstChain);
      mark = world.network.sent.length;
      await world.shop.sendToGroup({ groupId: group, content: 'Carol joined' });
      await flush(world);
      const joined = framesSince(world, mark);
      expect(joined.distribution.map((frame) => frame.to)).toEqual([CAROL]);
      const carol = world.person(CAROL);
      expect(textsOf(carol, group)).toEqual(['Carol joined']);
      await expectCode(carol.decrypt({ ...beforeCarol, to: CAROL, deviceId: 1 }), 'ERR_SENDER_KEY_NOT_FOUND');

      const bob = world.person(BOB);
      await bob.sendToGroup(SHOP, group, 'Bob says bye');
      await flush(world);
      await world.shop.removeGroupMembers(group, [BOB]);
      const info = await world.shop.group(group);
      expect(info.members.map((member) => member.phoneNumber).sort()).toEqual([ALICE, CAROL].sort());
      expect(info.chain!.chainId).not.toBe(firstChain);
      // Bob's chains are gone from the store with him.
      const bobMember = world.inbox.find((message) => message.from === BOB);
      expect(bobMember?.group).toBe(group);
      mark = world.network.sent.length;
      await world.shop.sendToGroup({ groupId: group, content: 'after Bob left' });
      await flush(world);
      const afterBob = framesSince(world, mark);
      expect(afterBob.group.map((frame) => frame.to).sort()).toEqual([ALICE, ALICE, CAROL].sort());
      // The rotated chain went to every remaining device; none to Bob.
      expect(afterBob.distribution.map((frame) => frame.to).sort()).toEqual([ALICE, ALICE, CAROL].sort());
      expect(textsOf(bob, group)).toEqual(['before Carol', 'Carol joined']);
      await expectCode(
        bob.decrypt({ ...afterBob.group[0]!, to: BOB, deviceId: 1 }),
        'ERR_SENDER_KEY_NOT_FOUND',
      );
      // And Bob can no longer post: refused, nothing stored.
      await bob.sendToGroup(SHOP, group, 'still here?');
      const refused = (await world.network.flush()).deliveries.flatMap((delivery) =>
        delivery.result === 'accepted' ? [delivery.outcome.kind] : [],
      );
      expect(refused).toEqual(['undecryptable']);
      expect(world.inbox.map((message) => message.text)).toEqual(['Bob says bye']);
    });

    it('a member device that missed the distribution message reports it and gets the message again over 1:1', async () => {
      const world = await groupWorld({ format, people: { [BOB]: 1 } });
      const group = await world.shop.createGroup({ from: SHOP, members: [BOB] });
      // The network loses the distribution message (the first frame to Bob's device).
      world.network.dropNext(1, { direction: 'to-person' });
      const first = await world.shop.sendToGroup({ groupId: group, content: 'Can you read this?' });
      const deliveries = (await world.network.flush()).deliveries;
      // Bob's device could not read the group message, reported the missing key, and the
      // gateway resent it over 1:1 with the group context and the current chain.
      expect(deliveries.map((delivery) => delivery.result)).toEqual([
        'refused',
        'reported',
        'received',
        'receipt',
      ]);
      const bob = world.person(BOB);
      expect(textsOf(bob, group)).toEqual(['Can you read this?']);
      expect((await world.shop.status(first)).devices.map((device) => device.state)).toEqual(['delivered']);
      // From now on it reads the group's messages as every member does: no more 1:1 copies.
      const mark = world.network.sent.length;
      await world.shop.sendToGroup({ groupId: group, content: 'And this one?' });
      await flush(world);
      expect(framesSince(world, mark).group).toHaveLength(1);
      expect(framesSince(world, mark).distribution).toHaveLength(0);
      expect(textsOf(bob, group)).toEqual(['Can you read this?', 'And this one?']);
      // A second report for the same frame within the interval is ignored (no resend storm).
      const frame = world.network.sent.find((sent) => sent.type === 7)!;
      expect(
        await world.gateway.receiveSenderKeyMissing({ frameId: frame.frameId, from: BOB, deviceId: 1 }),
      ).toBe('ignored');
      // A report naming someone else's frame changes nothing; a malformed one is refused before
      // anything is written.
      const before = await dumpStore(world.store);
      expect(
        await world.gateway.receiveSenderKeyMissing({ frameId: frame.frameId, from: ALICE, deviceId: 1 }),
      ).toBe('ignored');
      for (const report of [
        { frameId: 'not-a-frame-id', from: BOB, deviceId: 1 },
        { frameId: `${frame.frameId}.k`, from: BOB, deviceId: 1 },
        { frameId: frame.frameId, from: BOB, deviceId: 2 },
        { frameId: frame.frameId, from: 'bob', deviceId: 1 },
      ]) {
        await expectCode(world.gateway.receiveSenderKeyMissing(report), 'ERR_INVALID_ARGUMENT');
      }
      expect(await dumpStore(world.store)).toBe(before);
    });

    it("Signal's way: a member device's decryption-error message (type 8, no ratchet key) naming a group message has it resent over 1:1", async () => {
      const world = await groupWorld({ format, people: { [BOB]: 1 } });
      const group = await world.shop.createGroup({ from: SHOP, members: [BOB] });
      // The network loses both frames to Bob's device: the distribution message and the group message.
      world.network.dropNext(2, { direction: 'to-person' });
      const id = await world.shop.sendToGroup({ groupId: group, content: 'Read me again' });
      await world.network.flush();
      const lost = world.network.sent.find((frame) => frame.type === 7)!;
      const bob = world.person(BOB);
      expect(textsOf(bob, group)).toEqual([]);
      // What a Signal client sends for a sender-key message it cannot read: the error names the
      // message's timestamp and no ratchet key.
      let frames = 0;
      const error = (timestamp: number, from = BOB) => ({
        frameId: `bob-error-${++frames}`,
        to: SHOP,
        from,
        deviceId: 1,
        type: 8 as const,
        body: encodeDecryptionErrorContent(decryptionErrorFor({ type: 7, body: lost.body }, timestamp, 1)),
        timestamp: world.clock.now(),
      });
      expect(await world.gateway.receiveFrame(error(lost.timestamp))).toEqual({
        kind: 'decryption-error',
        resent: true,
        sessionArchived: false,
      });
      await flush(world);
      expect(textsOf(bob, group)).toEqual(['Read me again']);
      expect((await world.shop.status(id)).devices.map((device) => device.state)).toEqual(['delivered']);
      // Again within the retry interval, a timestamp naming no group message of Bob's, or from
      // someone who is not a member: nothing is resent and no stored byte changes.
      const before = await dumpStore(world.store);
      const sent = world.network.sent.length;
      for (const again of [error(lost.timestamp), error(lost.timestamp + 1), error(lost.timestamp, ALICE)]) {
        expect(await world.gateway.receiveFrame(again)).toEqual({
          kind: 'decryption-error',
          resent: false,
          sessionArchived: false,
        });
      }
      expect(world.network.sent.length).toBe(sent);
      expect(await dumpStore(world.store)).toBe(before);
    });
  });

  describe(`gateway groups (${factory.kind})`, () => {
    it('erase removes the person from every group (rotating it) and from its stored messages', async () => {
      const world = await groupWorld();
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE, BOB] });
      const id = await world.shop.sendToGroup({ groupId: group, content: 'hello' });
      await world.person(ALICE).sendToGroup(SHOP, group, 'canary-alice-writes');
      await flush(world);
      const chain = (await world.shop.group(group)).chain!.chainId;
      const alice = (await world.shop.group(group)).members.find(
        (member) => member.phoneNumber === ALICE,
      )!.member;

      await world.shop.erase(ALICE);
      const info = await world.shop.group(group);
      expect(info.members.map((member) => member.phoneNumber)).toEqual([BOB]);
      expect(info.chain!.chainId).not.toBe(chain);
      const status = await world.shop.status(id);
      expect(status.devices.map((device) => device.member)).toEqual([info.members[0]!.member]);
      const dump = await dumpStore(world.store);
      expect(dump).not.toContain(ALICE);
      expect(dump).not.toContain(alice);
      // Bob's number is kept only where the group needs it (his member record) and next to messages.
      const bobKeys = (await world.store.list('meta')).filter((record) =>
        Buffer.from(record.value).toString('latin1').includes(BOB),
      );
      expect(bobKeys).toEqual([]);
      // Bob still gets the group's messages, on the new chain.
      await world.shop.sendToGroup({ groupId: group, content: 'after the erasure' });
      await flush(world);
      expect(textsOf(world.person(BOB), group)).toEqual(['hello', 'after the erasure']);
    });

    it('erasure is one commit: cut right after it, the person is gone from the groups and from everything else alike', async () => {
      const world = await groupWorld();
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE, BOB] });
      await world.shop.sendToGroup({ groupId: group, content: 'hello' });
      await world.person(ALICE).sendToGroup(SHOP, group, 'alice writes');
      await flush(world);
      const info = await world.shop.group(group);
      const alice = info.members.find((member) => member.phoneNumber === ALICE)!.member;
      // The process dies right after the commit that removes Alice's member record.
      const cutting = cuttingStore(
        world.store,
        (mutation) => mutation.some((write) => write.key.includes(`/gm/${group}/${alice}`)),
        'after',
      );
      await world.restart(cutting.store);
      cutting.arm();
      await world.shop.erase(ALICE).catch(() => undefined);
      expect(cutting.cut()).toBe(true);
      await world.restart();
      // That commit took her sessions, messages and group records together.
      expect(await dumpStore(world.store)).not.toContain(alice);
      // The rotation it marked due runs before the next send: Bob only, on a new chain.
      const mark = world.network.sent.length;
      await world.shop.sendToGroup({ groupId: group, content: 'after the erasure' });
      await flush(world);
      expect((await world.shop.group(group)).chain!.chainId).not.toBe(info.chain!.chainId);
      expect(framesSince(world, mark).group.map((frame) => frame.to)).toEqual([BOB]);
      expect(textsOf(world.person(BOB), group)).toEqual(['hello', 'after the erasure']);
    });

    it('retention and crypto-shredding as for 1:1 messages', async () => {
      const world = await groupWorld();
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE, BOB] });
      const id = await world.shop.sendToGroup({ groupId: group, content: 'canary-group-content' });
      await world.person(BOB).sendToGroup(SHOP, group, 'canary-member-content');
      await flush(world);
      expect(await dumpStore(world.store)).not.toContain('canary-');
      const backup = await factory.copy(world.store, world.clock as unknown as FakeClock);
      world.clock.advance(31 * DAY_MS);
      await world.gateway.tick();
      await expectCode(world.shop.retransmit(id), 'ERR_RETENTION_EXPIRED');
      await expectCode(world.shop.status(id), 'ERR_RETENTION_EXPIRED');
      expect((await world.store.list('messages')).length).toBe(0);
      // The copy still holds both messages and the stored sender-key ciphertext; without the
      // destroyed period keys none of them opens.
      const archived = await readMessageArchive({
        store: backup,
        vaultStore: world.vaultStore,
        keyProvider: createLocalKeyProvider({ kek: TEST_KEK, crypto: testCrypto() }),
        businessId: 'shop',
        crypto: testCrypto(),
      });
      expect(archived.map((message) => [message.direction, message.readable]).sort()).toEqual([
        ['inbound', false],
        ['outbound', false],
      ]);
      expect((await backup.list('messages')).some((record) => record.key.includes('/gc/'))).toBe(true);
      // The group and its members are not messages: they stay until removed or erased.
      expect((await world.shop.group(group)).members).toHaveLength(2);
    });

    it('integrity counts each recipient of a group send; statistics and billing count the message once', async () => {
      const members = Array.from({ length: 12 }, (_, i) => `+49151000001${String(i).padStart(2, '0')}`);
      const world = await groupWorld({ people: Object.fromEntries(members.map((member) => [member, 1])) });
      const group = await world.shop.createGroup({ from: SHOP, members });
      await world.shop.sendToGroup({ groupId: group, content: 'Sale starts tomorrow' });
      await flush(world);
      const signal = world.gateway.integritySignals().signal('shop');
      expect(signal.snapshot.sent).toBe(12);
      expect(signal.snapshot.distinctRecipients).toBeGreaterThanOrEqual(11);
      await world.person(members[0]!).sendToGroup(SHOP, group, 'Great!');
      await flush(world);
      const { statistics, billing } = world.gateway.statisticsExport();
      const day = statistics.days().at(-1)!;
      const row = statistics.snapshot(day).businesses[0]!;
      expect(row).toMatchObject({
        messagesOut: 1,
        groupMessagesOut: 1,
        messagesIn: 1,
        groupMessagesIn: 1,
        delivered: 1,
      });
      expect(billing.snapshot(day).businesses[0]).toMatchObject({
        groupMessagesDelivered: 1,
        businessInitiatedDelivered: 0,
        conversationsOpened: 0,
      });
      // Counts only: no member, pseudonym or number in the export.
      const exported = JSON.stringify([statistics.snapshot(day), billing.snapshot(day)]);
      const info = await world.shop.group(group);
      for (const member of info.members) {
        expect(exported).not.toContain(member.member);
        expect(exported).not.toContain(member.phoneNumber);
      }
      // A member's spam report counts once the message reached one of their devices.
      const frame = world.network.sent.find((sent) => sent.type === 7 && sent.to === members[3])!;
      expect(
        await world.gateway.receiveSpamReport({ reporter: members[3]!, to: SHOP, messageId: frame.frameId }),
      ).toBe('counted');
      expect(
        await world.gateway.receiveSpamReport({
          reporter: DAVE,
          to: SHOP,
          messageId: frame.frameId.split('.')[0]!,
        }),
      ).not.toBe('counted');
    });

    it('the scoped handle: group operations stay within the business and are logged with the group', async () => {
      const world = await groupWorld();
      await world.gateway.registerBusiness({ businessId: 'other' });
      await world.gateway.addNumber('other', OTHER_SHOP);
      const other = world.gateway.forBusiness('other', { principal: 'other-app' });
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE, BOB] });
      await expectCode(other.createGroup({ from: SHOP, members: [ALICE] }), 'ERR_NOT_FOUND');
      await expectCode(other.sendToGroup({ groupId: group, content: 'x' }), 'ERR_NOT_FOUND');
      await expectCode(other.group(group), 'ERR_NOT_FOUND');
      await expectCode(other.addGroupMembers(group, [CAROL]), 'ERR_NOT_FOUND');
      await expectCode(other.removeGroupMembers(group, [ALICE]), 'ERR_NOT_FOUND');
      await expectCode(other.deleteGroup(group), 'ERR_NOT_FOUND');
      await expectCode(world.shop.group('g0000'), 'ERR_INVALID_ARGUMENT');

      // Bad input changes nothing.
      const snapshot = await dumpStore(world.store);
      await expectCode(world.shop.createGroup({ from: SHOP, members: [] }), 'ERR_INVALID_ARGUMENT');
      await expectCode(world.shop.createGroup({ from: SHOP, members: ['0151'] }), 'ERR_INVALID_ARGUMENT');
      await expectCode(world.shop.sendToGroup({ groupId: group, content: '' }), 'ERR_INVALID_ARGUMENT');
      await expectCode(world.shop.addGroupMembers(group, [42 as unknown as string]), 'ERR_INVALID_ARGUMENT');
      await expectCode(
        world.gateway.receiveFrame({
          frameId: 'f',
          to: SHOP,
          from: ALICE,
          deviceId: 1,
          type: 7,
          body: new Uint8Array(8),
        }),
        'ERR_INVALID_ARGUMENT',
      );
      // The access log holds the failed attempts; nothing else changed.
      expect(await dumpStore(world.store)).toBe(snapshot);

      await world.shop.addGroupMembers(group, [CAROL]);
      await world.shop.removeGroupMembers(group, [BOB]);
      const id = await world.shop.sendToGroup({ groupId: group, content: 'logged' });
      const records = await world.gateway.accessLog().query('shop', { principal: 'group-tests' });
      const groupRecords = records.filter(
        (record) => record.operation.startsWith('group-') && record.outcome === 'ok',
      );
      const info = await world.shop.group(group);
      const pseudonym = (phoneNumber: string) =>
        info.members.find((member) => member.phoneNumber === phoneNumber)?.member;
      expect(groupRecords.map((record) => [record.operation, record.group === group])).toEqual([
        ['group-create', true],
        ['group-create', true],
        ['group-add', true],
        ['group-remove', true],
        ['group-send', true],
      ]);
      expect(groupRecords[2]!.person).toBe(pseudonym(CAROL));
      expect(groupRecords[4]!.messageId).toBe(id);
      expect(JSON.stringify(records)).not.toContain(ALICE);
      expect((await world.gateway.accessLog().verify('shop')).ok).toBe(true);
    });

    it.each(['before', 'after'] as CutMode[])(
      'a removal cut short (%s its rotation commit) rotates before the next send',
      async (mode) => {
        const world = await groupWorld();
        const group = await world.shop.createGroup({ from: SHOP, members: [ALICE, BOB] });
        await world.shop.sendToGroup({ groupId: group, content: 'one' });
        await flush(world);
        const chain = (await world.shop.group(group)).chain!.chainId;
        // The removal's first commit lands; the process dies at the rotation's.
        const cutting = cuttingStore(world.store, 2, mode);
        await world.restart(cutting.store);
        cutting.arm();
        await world.shop.removeGroupMembers(group, [BOB]).catch(() => undefined);
        expect(cutting.cut()).toBe(true);
        await world.restart();
        const mark = world.network.sent.length;
        await world.shop.sendToGroup({ groupId: group, content: 'after the crash' });
        await flush(world);
        expect((await world.shop.group(group)).chain!.chainId).not.toBe(chain);
        const frames = framesSince(world, mark);
        expect(frames.group.map((frame) => frame.to)).toEqual([ALICE, ALICE]);
        await expectCode(
          world.person(BOB).decrypt({ ...frames.group[0]!, to: BOB, deviceId: 1 }),
          'ERR_SENDER_KEY_NOT_FOUND',
        );
        expect(textsOf(world.person(ALICE), group)).toEqual([
          'one',
          'one',
          'after the crash',
          'after the crash',
        ]);
      },
    );

    it('a receipt that arrives before the sending attempt is recorded (the process died between the transport and its commit) still counts', async () => {
      const world = await groupWorld({ people: { [ALICE]: 1 } });
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE] });
      // The attempt's end: the message record and its outbox entry, no session or timestamp.
      const cutting = cuttingStore(
        world.store,
        (mutation) =>
          mutation.some((write) => write.namespace === 'messages') &&
          mutation.some((write) => write.namespace === 'outbox') &&
          !mutation.some((write) => write.namespace === 'sessions' || write.key.includes('/t/')),
        'before',
      );
      await world.restart(cutting.store);
      cutting.arm();
      const id = await world.shop.sendToGroup({ groupId: group, content: 'sent, then the process died' });
      await world.gateway.idle().catch(() => undefined);
      expect(cutting.cut()).toBe(true);
      await world.restart();
      // The frames were handed to the transport before the cut: Alice reads and confirms them.
      await flush(world);
      expect(textsOf(world.person(ALICE), group)).toEqual(['sent, then the process died']);
      const status = await world.shop.status(id);
      expect(status.status).toBe('delivered');
      expect(status.devices.map((device) => device.state)).toEqual(['delivered']);
    });

    it("a member's distribution message taken over 1:1 but not yet stored (a crash between the two commits) is stored at the next group message", async () => {
      const world = await groupWorld();
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE] });
      const alice = world.person(ALICE);
      await alice.send(SHOP, 'hello');
      await flush(world);
      const cutting = cuttingStore(world.store, 2, 'before');
      await world.restart(cutting.store);
      cutting.arm();
      await alice.sendDistribution(SHOP, group);
      await world.network.flush();
      expect(cutting.cut()).toBe(true);
      await world.restart();
      await alice.sendToGroup(SHOP, group, 'read after the crash');
      await flush(world);
      expect(world.inbox.map((message) => message.text)).toEqual(['hello', 'read after the crash']);
      expect((await world.store.list('meta')).some((record) => record.key.includes('/gd/'))).toBe(false);
      expect(world.network.retryRequests).toEqual([]);
    });

    it('keys and content never reach the transport, the logs or the statistics; group records are sealed', async () => {
      const world = await groupWorld();
      const group = await world.shop.createGroup({ from: SHOP, members: [ALICE] });
      await world.shop.sendToGroup({ groupId: group, content: 'canary-outbound-group' });
      await flush(world);
      const wire = world.network.sent.map((frame) => Buffer.from(frame.body).toString('latin1')).join('');
      expect(wire).not.toContain('canary-');
      // Records are sealed: no clear number anywhere (the member record keeps it sealed), and
      // the pseudonym only in keys, never in a value.
      const dump = await dumpStore(world.store);
      const alice = (await world.shop.group(group)).members[0]!.member;
      expect(dump).not.toContain(ALICE);
      expect(dump).not.toContain('canary-');
      for (const line of dump.split('\n').filter((line) => line.includes(alice))) {
        expect(line.split(' ')[0]).toContain(alice);
        expect(line.slice(line.indexOf(' '))).not.toContain(alice);
      }
      // The logger got ids and counts only.
      expect(world.errors).toEqual([]);
    });
  });
}
