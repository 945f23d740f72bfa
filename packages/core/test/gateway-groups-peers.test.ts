/**
 * A business in a group through the gateway, with members whose devices run real peer code:
 * libsignal-client's 1:1 sessions and sender keys (`signal` format) at the oldest and the
 * current pinned versions, and the WhatsApp family's as Baileys implements its group cipher
 * (`whatsapp` format; its 1:1 sessions on libsignal-node 6.0.0, which Baileys builds on).
 * Both ways: each peer device processes the gateway's distribution message (from a 1:1
 * envelope) and decrypts its type-7 messages, and the gateway stores the peer's distribution
 * message and decrypts its group messages; a rotation on removal is followed by the peer, and
 * once removed itself it reads nothing more.
 */
import { describe, expect, it } from 'vitest';
import {
  contentBytes,
  decodeMessagePlaintext,
  encodeMessagePlaintext,
} from '../src/content/message-plaintext.js';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { createGateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { InboundFrame, InboundMessage, OutboundFrame } from '../src/gateway/types.js';
import type { PreKeyBundle } from '../src/keys/prekeys.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import {
  createSimulatedPerson,
  type NetworkPerson,
  type PersonLink,
  type PersonMessage,
} from '../src/testing/simulated-person.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { BAILEYS_KIND, type GroupPeer, groupPeerFactories } from './peers/groups.js';
import { allPeers, supportsKyber } from './peers/index.js';
import type { PeerClient } from './peers/types.js';
import { TEST_KEK } from './support/gateway-network.js';
import { testCrypto } from './support/parties.js';

const SHOP = '+15550100';
const PEER = '+4915100000001';
const ANNA = '+4915100000002';
const BEN = '+4915100000003';

/** One device whose 1:1 sessions and sender keys are a real peer's, on the test network. */
class PeerMember implements NetworkPerson {
  readonly deviceIds = [1];
  readonly received: PersonMessage[] = [];
  private link: PersonLink | undefined;
  private frames = 0;

  constructor(
    readonly phoneNumber: string,
    private readonly oneToOne: PeerClient,
    readonly group: GroupPeer,
    private readonly padding: number | false,
  ) {}

  attach(link: PersonLink): void {
    this.link = link;
  }

  bundle(): Promise<PreKeyBundle> {
    return this.oneToOne.createBundle({ kyber: supportsKyber(this.oneToOne.kind) });
  }

  async receive(frame: OutboundFrame): Promise<PersonMessage> {
    const business = { name: frame.from, deviceId: 1 };
    if (frame.type === 8) throw new Error('the business could not decrypt a frame (a decryption error)');
    const plaintext =
      frame.type === 7
        ? await this.group.decrypt(frame.groupId!, business, frame.body)
        : await this.oneToOne.decrypt(business, { type: frame.type, body: frame.body });
    const envelope = decodeMessagePlaintext(plaintext, this.padding);
    const distribution = frame.type === 7 ? undefined : envelope.senderKeyDistribution;
    if (distribution)
      await this.group.processDistribution(distribution.groupId, business, distribution.message);
    const content = contentBytes(envelope);
    const message: PersonMessage = {
      from: frame.from,
      deviceId: 1,
      frameId: frame.frameId,
      content,
      text: envelope.text ?? '',
      ...(frame.type === 7 ? { group: frame.groupId } : {}),
    };
    if (!distribution) this.received.push(message);
    await this.link?.submitReceipt({ frameId: frame.frameId });
    return message;
  }

  /** Its distribution message over 1:1 (a session from the directory's bundle first), then the group message. */
  async sendToGroup(to: string, group: string, text: string): Promise<void> {
    const business = { name: to, deviceId: 1 };
    if (!(await this.oneToOne.hasSession(business))) {
      await this.oneToOne.processBundle(business, await this.link!.businessBundle(to));
    }
    const distribution = await this.group.createDistribution(group);
    const message = await this.oneToOne.encrypt(
      business,
      encodeMessagePlaintext(
        { senderKeyDistribution: { groupId: group, message: distribution } },
        this.padding,
      ),
    );
    await this.submit({ to, type: message.type, body: message.body });
    const body = await this.group.encrypt(
      group,
      encodeMessagePlaintext({ text, group: { groupId: group } }, this.padding),
    );
    await this.submit({ to, type: 7, groupId: group, body });
  }

  private async submit(frame: Pick<InboundFrame, 'to' | 'type' | 'body' | 'groupId'>): Promise<void> {
    this.frames += 1;
    await this.link!.submitFrame({
      ...frame,
      frameId: `peer-${this.frames}`,
      from: this.phoneNumber,
      deviceId: 1,
    });
  }
}

const cases = [
  { group: 'lsc-0.23.1', oneToOne: 'lsc-0.23.1', format: 'signal', padding: 160 },
  { group: 'lsc-0.103.0', oneToOne: 'lsc-0.103.0', format: 'signal', padding: 160 },
  // WhatsApp-family clients do not use Signal's 0x80 padding: the gateway is set not to pad.
  { group: BAILEYS_KIND, oneToOne: 'libsignal-6.0.0', format: 'whatsapp', padding: false },
] as const;

describe.each(cases)(
  'a $group member in a gateway group ($format format)',
  ({ group: groupKind, oneToOne, format, padding }) => {
    it('reads the business’s group messages, posts to the group, follows a rotation, and reads nothing once removed', async () => {
      const crypto = testCrypto();
      const clock = new ManualClock();
      const network = new TestNetwork();
      const gateway = createGateway({
        store: createMemoryStore({ clock }),
        vaultStore: createMemoryStore({ clock }),
        keyProvider: createLocalKeyProvider({ kek: TEST_KEK, crypto }),
        transport: network,
        directory: network,
        crypto,
        random: createDeterministicRandom(`peers/${groupKind}`),
        clock,
        timer: false,
        padding,
        groups: { format },
        preKeys: { batchSize: 10, kyberBatchSize: 4, kyberLowWaterMark: 2 },
      });
      network.connect(gateway);
      const errors: unknown[] = [];
      gateway.onError((error) => errors.push(error));
      await gateway.registerBusiness({ businessId: 'shop' });
      await gateway.addNumber('shop', SHOP);
      const inbox: InboundMessage[] = [];
      gateway.onMessage('shop', (message) => {
        inbox.push(message);
      });
      const address = { name: PEER, deviceId: 1 };
      const peer = network.addPerson(
        new PeerMember(
          PEER,
          await allPeers[oneToOne]!(address),
          groupPeerFactories[groupKind]!(address),
          padding,
        ),
      );
      const people = [];
      for (const phoneNumber of [ANNA, BEN]) {
        people.push(
          network.addPerson(
            await createSimulatedPerson({
              phoneNumber,
              crypto,
              clock,
              padding,
              groupFormat: format,
              random: createDeterministicRandom(`peers/${groupKind}/${phoneNumber}`),
            }),
          ),
        );
      }
      const [anna, ben] = people as [(typeof people)[0], (typeof people)[0]];
      const groupId = await gateway.createGroup({ from: SHOP, members: [PEER, ANNA, BEN] });
      const texts = (member: { received: readonly PersonMessage[] }) =>
        member.received.filter((message) => message.group === groupId).map((message) => message.text);

      for (const text of ['one', 'two', 'three']) await gateway.sendToGroup({ groupId, content: text });
      await network.flush();
      expect(texts(peer)).toEqual(['one', 'two', 'three']);

      await peer.sendToGroup(SHOP, groupId, `hello from ${groupKind}`);
      await peer.sendToGroup(SHOP, groupId, 'and again');
      await anna.sendToGroup(SHOP, groupId, 'hi from Parley');
      await network.flush();
      expect(inbox.map((message) => [message.from, message.text, message.group])).toEqual([
        [PEER, `hello from ${groupKind}`, groupId],
        [PEER, 'and again', groupId],
        [ANNA, 'hi from Parley', groupId],
      ]);

      // Ben leaves: the chain rotates, and the peer takes the new one.
      await gateway.removeGroupMembers(groupId, [BEN]);
      await gateway.sendToGroup({ groupId, content: 'after Ben left' });
      await network.flush();
      expect(texts(peer)).toEqual(['one', 'two', 'three', 'after Ben left']);
      expect(texts(ben)).toEqual(['one', 'two', 'three']);

      // The peer leaves: it cannot read the next message.
      await gateway.removeGroupMembers(groupId, [PEER]);
      const mark = network.sent.length;
      await gateway.sendToGroup({ groupId, content: 'after the peer left' });
      await network.flush();
      const next = network.sent.slice(mark).find((frame) => frame.type === 7)!;
      expect(next.to).toBe(ANNA);
      const refusal = await peer.group.decrypt(groupId, { name: SHOP, deviceId: 1 }, next.body).then(
        () => 'read it',
        (error: unknown) => peer.group.classify(error),
      );
      expect(refusal).toBe('no-sender-key');
      expect(texts(anna)).toEqual(['one', 'two', 'three', 'after Ben left', 'after the peer left']);
      expect(errors).toEqual([]);
      await gateway.close();
    });
  },
);
