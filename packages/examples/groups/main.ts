/**
 * A business in a group with a person whose phone runs current Signal —
 * `@signalapp/libsignal-client@0.103.0`, its own sender keys (`SenderKeyDistributionMessage`,
 * `groupEncrypt`/`groupDecrypt`) — and a person on Parley's testing kit. The gateway sends each
 * group message once (one sender-key encryption for every member device) and the distribution
 * message only to devices that lack the current chain; members' group messages reach the
 * business; a member added later cannot read earlier messages, a removed one cannot read later
 * ones (the business's chain rotates); a device that missed the distribution message is sent
 * the message again over its 1:1 session.
 *
 *   pnpm --filter @parley/examples exec tsx --conditions=parley-source groups/main.ts
 */
import { pathToFileURL } from 'node:url';
import {
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  defaultRandom,
  type InboundMessage,
  type MessageId,
  type OutboundFrame,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock, TestNetwork } from '@parley/core/testing';
import { LibsignalCurrentPerson } from '../src/libsignal-current-person.js';

const BUSINESS_ID = 'bike-club';
const NUMBER = '+15550100';
const ALICE = '+15550123'; // two devices on libsignal-client 0.103.0
const BOB = '+15550124'; // one device on Parley's testing kit
const CAROL = '+15550125'; // joins later (Parley's testing kit)

export interface GroupExampleResult {
  /** What each member device read of the group, `person/device: text`. */
  readonly read: readonly string[];
  /** What the business's handler got from the group, `person: text`. */
  readonly businessReceived: readonly string[];
  /** Per-member-device states of each message the business sent, in sending order. */
  readonly statuses: readonly (readonly string[])[];
  /**
   * Frames on the wire per business message: sender-key (type 7), distribution messages over
   * 1:1, and copies resent over 1:1 to a device that reported a missing key.
   */
  readonly frames: readonly {
    readonly groupFrames: number;
    readonly distributions: number;
    readonly resent: number;
  }[];
  /** What the removed members and the late member got when handed a message not meant for them. */
  readonly refusals: readonly string[];
}

export async function runGroupExample(log: (line: string) => void = () => {}): Promise<GroupExampleResult> {
  const crypto = createNodeCrypto();
  const clock = new ManualClock();
  const network = new TestNetwork();
  const gateway = createGateway({
    store: createMemoryStore({ clock }),
    vaultStore: createMemoryStore({ clock }),
    keyProvider: createLocalKeyProvider({ kek: defaultRandom(32), crypto }),
    transport: network,
    directory: network,
    crypto,
    clock,
    timer: false,
    // libsignal-client's format (with distribution ids); `whatsapp` for the WhatsApp family.
    groups: { format: 'signal' },
  });
  network.connect(gateway);
  const errors: unknown[] = [];
  gateway.onError((error) => errors.push(error));
  const names = new Map([
    [ALICE, 'Alice'],
    [BOB, 'Bob'],
    [CAROL, 'Carol'],
  ]);
  try {
    await gateway.registerBusiness({ businessId: BUSINESS_ID });
    await gateway.addNumber(BUSINESS_ID, NUMBER);
    const club = gateway.forBusiness(BUSINESS_ID, { principal: 'club-app' });
    const received: InboundMessage[] = [];
    await club.onMessage((message) => {
      received.push(message);
    });

    const alice = network.addPerson(LibsignalCurrentPerson.create(ALICE, 2));
    const bob = network.addPerson(await createSimulatedPerson({ phoneNumber: BOB, crypto, clock }));
    const carol = network.addPerson(await createSimulatedPerson({ phoneNumber: CAROL, crypto, clock }));
    log(`Alice's two devices run ${alice.kind}; Bob and Carol run Parley's testing kit`);

    const sent: MessageId[] = [];
    const frames: { groupFrames: number; distributions: number; resent: number }[] = [];
    const businessSends = async (group: string, text: string): Promise<OutboundFrame[]> => {
      const from = network.sent.length;
      sent.push(await club.sendToGroup({ groupId: group, content: text }));
      await network.flush();
      const wire = network.sent.slice(from);
      const groupFrames = wire.filter((frame) => frame.type === 7);
      const distributions = wire.filter((frame) => frame.type !== 7 && frame.frameId.endsWith('.k')).length;
      const resent = wire.filter((frame) => frame.type !== 7 && !frame.frameId.endsWith('.k')).length;
      frames.push({ groupFrames: groupFrames.length, distributions, resent });
      log(
        `business → group  "${text}": one sender-key message to ${groupFrames.length} member devices, ` +
          `${distributions} distribution message(s) over 1:1`,
      );
      return groupFrames;
    };

    const group = await club.createGroup({ from: NUMBER, members: [ALICE, BOB] });
    log(`group ${group.slice(0, 9)}… created with Alice and Bob`);
    const welcome = await businessSends(group, 'Welcome to the Sunday ride!');
    await businessSends(group, 'We meet at 9:00 at the bridge.');

    await alice.sendToGroup(NUMBER, group, "I'll bring coffee.", { deviceId: 2 });
    await bob.sendToGroup(NUMBER, group, 'Count me in.');
    await network.flush();
    for (const message of received) log(`${names.get(message.from)} → group  "${message.text}"`);

    await club.addGroupMembers(group, [CAROL]);
    log('Carol added');
    await businessSends(group, 'Carol joins us this week.');
    const refusals: string[] = [];
    const refusal = async (attempt: Promise<unknown>) =>
      attempt.then(
        () => 'read it',
        (error: unknown) => {
          // Parley's errors carry a string code; libsignal-client's say it in words.
          const code = (error as { code?: unknown }).code;
          if (typeof code === 'string') return code;
          return /sender key/i.test(String((error as Error)?.message)) ? 'no sender key state' : 'refused';
        },
      );
    refusals.push(
      `Carol, the welcome: ${await refusal(carol.decrypt({ ...welcome[0]!, to: CAROL, deviceId: 1 }))}`,
    );

    // Bob leaves; the network loses one of the new chain's distribution messages. The device
    // that missed it reports the missing key and is sent the message again over 1:1.
    await club.removeGroupMembers(group, [BOB]);
    log('Bob removed: the business rotated its sending chain');
    network.dropNext(1, { direction: 'to-person' });
    const afterBob = await businessSends(group, 'See you Sunday!');
    log(
      '  one distribution message was lost: that device reported the missing key and got the message over 1:1',
    );
    refusals.push(
      `Bob, after he left: ${await refusal(bob.decrypt({ ...afterBob[0]!, to: BOB, deviceId: 1 }))}`,
    );

    // Alice leaves: her libsignal-client devices cannot read what follows (and their report of
    // the missing key is ignored: she is no member).
    await club.removeGroupMembers(group, [ALICE]);
    log('Alice removed');
    const afterAlice = await businessSends(group, 'Route: along the river.');
    refusals.push(
      `Alice (libsignal-client), after she left: ${await refusal(alice.receive({ ...afterAlice[0]!, to: ALICE, deviceId: 1 }))}`,
    );
    await network.flush();

    const read = [
      ...alice.received.map((message) => `Alice/${message.deviceId}: ${message.text}`),
      ...bob.received.map((message) => `Bob/${message.deviceId}: ${message.text}`),
      ...carol.received.map((message) => `Carol/${message.deviceId}: ${message.text}`),
    ];
    const statuses: string[][] = [];
    for (const id of sent) {
      const status = await club.status(id);
      statuses.push(status.devices.map((device) => device.state));
    }
    for (const line of refusals) log(`  ${line}`);
    log(
      `${sent.length} group messages sent; every member device's status: ${statuses.map((s) => s.join('/')).join(', ')}`,
    );
    if (errors.length > 0) throw errors[0];
    return {
      read,
      businessReceived: received.map((message) => `${names.get(message.from)}: ${message.text}`),
      statuses,
      frames,
      refusals,
    };
  } finally {
    await gateway.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runGroupExample(console.log).catch((error: unknown) => {
    console.error('example failed:', error instanceof Error ? error.message : 'unknown error');
    process.exit(1);
  });
}
