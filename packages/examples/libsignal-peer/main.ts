/**
 * A business served by a Parley gateway talks to people whose phones run a real, independent
 * Signal-protocol implementation: `@signalapp/libsignal-client@0.23.1` (Signal's Rust library)
 * or `libsignal@6.0.0` (libsignal-node). Sessions start in both directions, messages flow both
 * ways (also out of order), and every business message is confirmed by a delivery receipt.
 *
 *   pnpm --filter @parley/examples exec tsx --conditions=parley-source libsignal-peer/main.ts [lsc-0-23|libsignal-6]
 */
import { pathToFileURL } from 'node:url';
import {
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  defaultRandom,
  type InboundFrame,
  type MessageId,
  type OutboundStatus,
} from '@parley/core';
import { contentBytes, decodeMessagePlaintext, encodeMessagePlaintext } from '@parley/core/content';
import { createNodeCrypto } from '@parley/core/node';
import { MemoryNetwork } from '../src/shared/memory-network.js';
import type { Address, PersonDevice } from './person.js';
import { createLibsignalNodePerson } from './person-libsignal-node.js';
import { createLscPerson } from './person-lsc.js';

export type PeerLibrary = 'lsc-0-23' | 'libsignal-6';
export const PEER_LIBRARIES: readonly PeerLibrary[] = ['lsc-0-23', 'libsignal-6'];

export interface TranscriptEntry {
  readonly direction: 'to-business' | 'to-person';
  readonly person: string;
  /** The Signal message type on the wire. */
  readonly type: 'prekey' | 'whisper';
  /** What the receiving side decrypted. */
  readonly text: string;
}

export interface ExampleResult {
  /** The person's library, e.g. "@signalapp/libsignal-client 0.23.1". */
  readonly library: string;
  readonly transcript: readonly TranscriptEntry[];
  /** Final status of each message the business sent, in sending order. */
  readonly statuses: readonly OutboundStatus[];
  /** Frames the gateway could not decrypt (it then asks the device to retry). */
  readonly retryRequests: number;
}

const BUSINESS_ID = 'acme';
const BUSINESS_NUMBER = '+15550100';
/** How a person's phone addresses the business number (the business has one device). */
const BUSINESS: Address = { name: BUSINESS_NUMBER, deviceId: 1 };

const decoder = new TextDecoder();

const people = {
  lsc: (deviceId: number) => createLscPerson(deviceId),
  node: (deviceId: number) => createLibsignalNodePerson(deviceId),
};

interface Person {
  readonly name: string;
  readonly phoneNumber: string;
  readonly device: PersonDevice;
}

/** Runs the whole conversation; throws if any message does not arrive intact. */
export async function runLibsignalPeerExample(
  library: PeerLibrary,
  log: (line: string) => void = () => {},
): Promise<ExampleResult> {
  const crypto = createNodeCrypto();
  // The transport (a mailbox per device) and the key directory. The business's bundles carry a
  // Kyber prekey too; both libraries predate PQXDH, ignore it and start X3DH (v3) sessions.
  const network = new MemoryNetwork();
  const store = createMemoryStore();
  const vaultStore = createMemoryStore();
  const gateway = createGateway({
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({ kek: defaultRandom(32), crypto }),
    transport: network,
    directory: network,
    crypto,
    timer: false,
  });
  const inbox: { from: string; text: string }[] = [];
  const statuses = new Map<MessageId, OutboundStatus>();
  const errors: unknown[] = [];
  const transcript: TranscriptEntry[] = [];
  const newDevice = library === 'lsc-0-23' ? people.lsc : people.node;
  let frameCounter = 0;

  gateway.onError((error) => errors.push(error));
  try {
    await gateway.registerBusiness({ businessId: BUSINESS_ID, retentionDays: 30 });
    await gateway.addNumber(BUSINESS_ID, BUSINESS_NUMBER);
    gateway.onMessage(BUSINESS_ID, (message) => {
      inbox.push({ from: message.from, text: decoder.decode(message.content) });
    });
    gateway.onEvent(BUSINESS_ID, (event) => {
      if (event.type === 'status') statuses.set(event.messageId, event.status);
    });

    const addPerson = async (name: string, phoneNumber: string): Promise<Person> => {
      const device = await newDevice(1);
      network.publishDevice(phoneNumber, await device.createKeys(5));
      log(`${name}'s phone runs ${device.library}; it published a signed prekey and 5 one-time prekeys`);
      return { name, phoneNumber, device };
    };

    /** The person's phone encrypts texts; the network hands the frames to the gateway in `order`. */
    const personSends = async (
      person: Person,
      texts: string[],
      order: 'in-order' | 'reversed' = 'in-order',
    ) => {
      if (!(await person.device.hasSession(BUSINESS))) {
        await person.device.startSession(BUSINESS, await network.fetchBundle(BUSINESS_NUMBER, 1));
        log(`${person.name}'s phone fetched the business number's bundle and started a session`);
      }
      const frames: InboundFrame[] = [];
      for (const text of texts) {
        // The person's app puts its text in the content envelope and pads it, as the gateway does.
        const message = await person.device.encrypt(BUSINESS, encodeMessagePlaintext({ text }));
        frameCounter += 1;
        frames.push({
          frameId: `in-${frameCounter}`,
          to: BUSINESS_NUMBER,
          from: person.phoneNumber,
          deviceId: person.device.deviceId,
          type: message.type,
          body: message.body,
        });
      }
      if (order === 'reversed') frames.reverse();
      for (const frame of frames) {
        const outcome = await gateway.receiveFrame(frame);
        if (outcome.kind !== 'accepted')
          throw new Error(`the gateway did not accept a frame: ${outcome.kind}`);
        await gateway.idle();
        const received = inbox.shift();
        if (received?.from !== person.phoneNumber)
          throw new Error('the business did not receive the message');
        const type = frame.type === 3 ? 'prekey' : 'whisper';
        transcript.push({ direction: 'to-business', person: person.name, type, text: received.text });
        log(`  ${person.name} → business   ${type.padEnd(7)}  "${received.text}"`);
      }
    };

    /** The business sends texts; the person's phone decrypts them in `order` and sends receipts. */
    const businessSends = async (
      person: Person,
      texts: string[],
      order: 'in-order' | 'reversed' = 'in-order',
    ) => {
      const ids: MessageId[] = [];
      for (const text of texts)
        ids.push(await gateway.send({ from: BUSINESS_NUMBER, to: person.phoneNumber, content: text }));
      await gateway.idle();
      const frames = network.collect(person.phoneNumber, person.device.deviceId);
      if (frames.length !== texts.length)
        throw new Error(`expected ${texts.length} frames, got ${frames.length}`);
      if (order === 'reversed') frames.reverse();
      for (const frame of frames) {
        if (frame.type === 7) throw new Error('the business sent a group message to a 1:1 conversation');
        if (frame.type === 8) throw new Error('the business could not decrypt a frame (a decryption error)');
        const plaintext = await person.device.decrypt(
          { name: frame.from, deviceId: 1 },
          { ...frame, type: frame.type },
        );
        const envelope = decodeMessagePlaintext(plaintext);
        const text = envelope.text ?? decoder.decode(contentBytes(envelope));
        const type = frame.type === 3 ? 'prekey' : 'whisper';
        transcript.push({ direction: 'to-person', person: person.name, type, text });
        log(`  business → ${person.name}   ${type.padEnd(7)}  "${text}"`);
        await gateway.receiveReceipt({ frameId: frame.frameId });
      }
      await gateway.idle();
      return ids;
    };

    const sent: MessageId[] = [];
    log(`Parley gateway: business "${BUSINESS_ID}" with one number; people on ${library}`);

    // 1. The person starts the conversation: their phone builds the session (X3DH).
    const alice = await addPerson('Alice', '+15550111');
    await personSends(alice, ['Hi! Has my order shipped?']);
    sent.push(...(await businessSends(alice, ['Yes, it left our warehouse this morning.'])));
    await personSends(alice, ['Great, thanks!']);
    // 2. Out of order, both ways: the ratchets keep skipped message keys.
    log('  (the next frames arrive in reverse order)');
    sent.push(
      ...(await businessSends(
        alice,
        ['Tracking update 1/3', 'Tracking update 2/3', 'Tracking update 3/3'],
        'reversed',
      )),
    );
    await personSends(alice, ['One more question…', 'Can I change the address?'], 'reversed');
    sent.push(...(await businessSends(alice, ['Sure, reply with the new address.'])));

    // 3. The business starts the conversation: the gateway fetches the person's bundle.
    const bob = await addPerson('Bob', '+15550122');
    sent.push(...(await businessSends(bob, ['Your appointment is confirmed for Tuesday at 10:00.'])));
    await personSends(bob, ['Thanks, see you then.']);
    sent.push(...(await businessSends(bob, ['Great!'])));

    if (errors.length > 0) throw errors[0];
    const result: ExampleResult = {
      library: alice.device.library,
      transcript,
      statuses: sent.map((id) => statuses.get(id) ?? 'accepted'),
      retryRequests: network.retryRequests.length,
    };
    const delivered = result.statuses.filter((status) => status === 'delivered').length;
    log(
      `${transcript.length} messages decrypted; ${delivered}/${sent.length} business messages delivered (receipts)`,
    );
    return result;
  } finally {
    await gateway.close();
    await store.close();
    await vaultStore.close();
  }
}

/** CLI: runs the example for the given library, or for both. */
export async function main(args: readonly string[] = process.argv.slice(2)): Promise<void> {
  const unknown = args.filter((arg) => !PEER_LIBRARIES.includes(arg as PeerLibrary));
  if (unknown.length > 0)
    throw new Error(`unknown library: ${unknown.join(', ')} (use ${PEER_LIBRARIES.join(' or ')})`);
  const libraries = args.length > 0 ? (args as PeerLibrary[]) : PEER_LIBRARIES;
  for (const library of libraries) {
    await runLibsignalPeerExample(library, (line) => console.log(line));
    console.log('');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error('libsignal-peer example failed:', error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
