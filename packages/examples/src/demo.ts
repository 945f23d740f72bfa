/**
 * `pnpm demo`: the whole story on an embedded default — a SQLite message database and key
 * vault (and a filesystem blob store) in a temporary folder, no server to start. A business with
 * a phone number, a person with two devices, a handshake, messages both ways, delivery receipts,
 * a photo each way, a failed delivery retried, an integrity signal (a burst to every contact),
 * retention after 30 days, a group (one sender-key encryption for every member device, rotation
 * on removal) and the non-personal statistics and billing export. Prints what happened — never keys, content on the wire
 * or full phone numbers.
 *
 *   pnpm demo [--transport inproc|http|ws] [--peer parley|libsignal] [--store sqlite|postgres] [--help]
 *
 * `--store postgres` reads PARLEY_PG_URL (and PARLEY_PG_VAULT_URL; see openDemoStores).
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  type CryptoProvider,
  createGateway,
  createLocalKeyProvider,
  createMediaPointer,
  DEFAULT_BACKOFF,
  DEFAULT_INTEGRITY_CONFIG,
  decryptMedia,
  defaultRandom,
  encryptMedia,
  type Gateway,
  type IntegrityLevel,
  isParleyError,
  type MediaPointer,
  type MessageId,
  type OutboundStatus,
} from '@parley/core';
import { encryptedLength } from '@parley/core/media';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock, type SimulatedPerson, TestNetwork } from '@parley/core/testing';
import { commandLineOrExit, type FlagSpecs, parseCommandLine } from './cli.js';
import { makePhoto } from './demo-photo.js';
import {
  addDemoPerson,
  type DemoMedia,
  openDemoStores,
  PEER_DESCRIPTIONS,
  PEER_KINDS,
  type PeerKind,
  type StoreKind,
  type TransportKind,
  wireNetwork,
} from './demo-wiring.js';
import { maskNumber, shortId } from './format.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const BUSINESS_ID = 'acme-bikes';
const BUSINESS_NUMBER = '+15550100';
const PERSON_NUMBER = '+15550123';
/** Two more customers in section 8's group. */
const DANA_NUMBER = '+15550131';
const ELI_NUMBER = '+15550132';
/** Customers who wrote in earlier (section 6): enough for the contact-share rule (≥ 50 known contacts). */
const CUSTOMERS = 60;

export interface DemoOptions {
  readonly transport: TransportKind;
  readonly peer: PeerKind;
  /** Default sqlite. */
  readonly store?: StoreKind;
}

export const DEMO_FLAGS = {
  transport: {
    type: 'string',
    choices: ['inproc', 'http', 'ws'],
    default: 'inproc',
    help: 'how frames travel between the network and the gateway',
  },
  peer: {
    type: 'string',
    choices: PEER_KINDS,
    default: 'parley',
    help: "what the person's devices run: Parley, libsignal@6.0.0, or libsignal-client 0.103.0 (libsignal-current)",
  },
  store: {
    type: 'string',
    choices: ['sqlite', 'postgres'],
    help: 'where state rests: SQLite files (the default) or PostgreSQL (reads PARLEY_PG_URL)',
  },
} as const satisfies FlagSpecs;

const DEMO_SUMMARY =
  'Runs the whole story on SQLite in a temporary folder (or on PostgreSQL: --store postgres) and prints\n' +
  'a transcript: a business number, a person with two devices, messages both ways, receipts, a photo\n' +
  'each way, a retried delivery, an integrity signal, retention 31 days later, a group, statistics and billing.';

/** Strict: an unknown flag or value throws a `UsageError`; `--help` gives `undefined`. */
export function parseDemoArgs(argv: readonly string[]): DemoOptions | undefined {
  const parsed = parseCommandLine(argv, DEMO_FLAGS);
  if (parsed.help) return undefined;
  return {
    transport: parsed.flags.transport as TransportKind,
    peer: parsed.flags.peer as DemoOptions['peer'],
    store: parsed.flags.store as StoreKind | undefined,
  };
}

export interface DemoSummary {
  readonly businessReceived: number;
  readonly personReceived: number;
  readonly statuses: Record<string, OutboundStatus | undefined>;
  readonly sweptRecords: number;
  readonly retransmitAfterRetention: string;
  /** Integrity levels the burst went through, in order (section 6). */
  readonly integrityLevels: readonly IntegrityLevel[];
  /** Messages the business sent, from the statistics export (section 9). */
  readonly messagesOut: number;
  /** Section 8: what the group's member devices read, and what the removed member could read after. */
  readonly group: {
    readonly memberDevices: number;
    readonly read: number;
    readonly distributions: readonly number[];
    readonly businessReceived: readonly string[];
    readonly removedMemberReads: string;
  };
  /** Section 4: each device decrypted the business's photo, and the business the person's, byte for byte. */
  readonly photos: { readonly toPerson: boolean; readonly toBusiness: boolean };
  /** Media blobs the retention sweep deleted (section 7). */
  readonly sweptBlobs: number;
}

export async function runDemo(
  options: DemoOptions,
  print: (line: string) => void = console.log,
): Promise<DemoSummary> {
  const started = performance.now();
  const clock = new ManualClock();
  const crypto = createNodeCrypto();
  const stores = await openDemoStores(options.store ?? 'sqlite', clock);
  const { store, vaultStore } = stores;
  const network = new TestNetwork();
  const wiring = await wireNetwork(options.transport, network, clock);
  const gateway = createGateway({
    store,
    vaultStore,
    // Development key provider: in production the key-encryption key lives in a KMS.
    keyProvider: createLocalKeyProvider({ kek: defaultRandom(32), crypto }),
    transport: wiring.transport,
    directory: wiring.directory,
    crypto,
    clock,
    timer: false,
    // Files travel through the network's media host; blobs rest (ciphertext only) in the blob store.
    media: { blobStore: stores.blobStore, transport: network.media },
  });
  await wiring.attach(gateway);

  const day = () => `day ${Math.floor((clock.now() - started0) / DAY_MS)}`;
  const started0 = clock.now();
  let stepStart = performance.now();
  const step = (what: string, detail = '') => {
    const now = performance.now();
    const took = `${(now - stepStart).toFixed(0)} ms`.padStart(7);
    stepStart = now;
    print(`  ${day().padEnd(6)} ${took}  ${what}${detail ? `\n                        ${detail}` : ''}`);
  };
  const section = (title: string) => print(`\n${title}`);

  const statuses = new Map<MessageId, OutboundStatus>();
  const history = new Map<MessageId, OutboundStatus[]>();
  const received: string[] = [];
  const groupReceived: string[] = [];
  const photosIn: DemoMedia[] = [];
  try {
    print('Parley demo');
    print(`  transport: ${wiring.description}`);
    print(`  person's client: ${PEER_DESCRIPTIONS[options.peer].client}`);
    print(`  storage: ${stores.description}`);
    print('  clock: manual (the demo fast-forwards it); columns: simulated day, real time of the step');

    section('1. A business and its number');
    await gateway.registerBusiness({ businessId: BUSINESS_ID, retentionDays: 30 });
    await gateway.addNumber(BUSINESS_ID, BUSINESS_NUMBER);
    // The business's side: its scoped handle, or over HTTP the cloud API and its webhooks.
    const business = await wiring.business(gateway, BUSINESS_ID);
    await business.onMessage((message) => {
      // The demo's person; the customers of section 6 are counted by the statistics export.
      // Section 8: a group member's message.
      if (message.from === DANA_NUMBER) groupReceived.push(message.text);
      if (message.from !== PERSON_NUMBER) return;
      if (message.media) photosIn.push(message.media);
      else received.push(message.text);
    });
    await business.onStatus((event) => {
      statuses.set(event.messageId, event.status);
      history.set(event.messageId, [...(history.get(event.messageId) ?? []), event.status]);
    });
    step(
      `business "${BUSINESS_ID}" registered with number ${maskNumber(BUSINESS_NUMBER)} (retention 30 days)`,
      `identity key, signed prekey and ${await network.availableOneTimePreKeys(BUSINESS_NUMBER)} one-time prekeys published to the directory; private keys sealed in ${store.kind === 'postgres' ? 'PostgreSQL' : 'SQLite'}`,
    );

    section('2. A person with two devices; the handshake');
    const person = await addDemoPerson(options.peer, network, { phoneNumber: PERSON_NUMBER, crypto, clock });
    step(
      `person ${maskNumber(PERSON_NUMBER)} joins with devices ${person.deviceIds.join(' and ')} (one identity key)`,
    );
    for (const deviceId of person.deviceIds) {
      const frame = await person.send(
        BUSINESS_NUMBER,
        `Hi, do you repair e-bikes? (from device ${deviceId})`,
        { deviceId },
      );
      const [delivery] = (await network.flush()).deliveries;
      const outcome = delivery?.result === 'accepted' ? delivery.outcome.kind : delivery?.result;
      step(
        `device ${deviceId} fetched the business's bundle, ran ${PEER_DESCRIPTIONS[options.peer].handshake} and sent a ${frame.type === 3 ? 'prekey message' : 'message'} (${frame.body.length} bytes on the wire)`,
        `gateway: ${outcome}; business handler received "${received.at(-1)}"`,
      );
    }

    section('3. The business replies; delivery receipts');
    const reply = await business.send({
      from: BUSINESS_NUMBER,
      to: PERSON_NUMBER,
      content: 'Yes! Bring it in any weekday.',
    });
    const replyFlush = await network.flush();
    const copies = replyFlush.deliveries.filter((delivery) => delivery.result === 'received').length;
    step(
      `message ${shortId(reply)} encrypted once per device and handed to the network`,
      `${copies} device(s) decrypted it and sent receipts; status ${history.get(reply)?.join(' → ')}`,
    );
    await person.send(BUSINESS_NUMBER, 'Great, see you Monday.', { deviceId: 1 });
    await network.flush();
    step(
      'person answered from device 1',
      `business handler received "${received.at(-1)}" (existing session: a whisper message)`,
    );

    section('4. A photo each way');
    const photo = makePhoto(160, 120, 0);
    const sentPhoto = await business.sendPhoto({
      from: BUSINESS_NUMBER,
      to: PERSON_NUMBER,
      photo,
      caption: 'Your bike, ready for pick-up',
    });
    step(
      `business uploaded a photo (PNG, ${kilobytes(photo.length)}) as media ${shortId(sentPhoto.mediaId)}`,
      `encrypted as it was read (fresh media key, WhatsApp media format); the blob store and the network's media host hold only ciphertext (${kilobytes(encryptedLength(photo.length))})`,
    );
    const photoFlush = await network.flush();
    const photoCopies = photoFlush.deliveries.filter((delivery) => delivery.result === 'received').length;
    const opened = await Promise.all(
      person.received
        .filter((message) => message.media !== undefined)
        .map(async (message) => digest(await personOpensMedia(network, message.media!, crypto))),
    );
    const toPerson =
      opened.length === person.deviceIds.length && opened.every((hash) => hash === digest(photo));
    step(
      `message ${shortId(sentPhoto.messageId)} carried the pointer (key, hashes, location) inside the Signal encryption`,
      `${photoCopies} device(s) fetched the blob from the media host, checked and decrypted it: SHA-256 ${toPerson ? 'matches' : 'DIFFERS'}; status ${history.get(sentPhoto.messageId)?.join(' → ')}`,
    );
    const selfie = makePhoto(120, 160, 80);
    await personSendsPhoto(person, network, selfie, crypto);
    await network.flush();
    const arrived = photosIn.at(-1);
    const downloaded = arrived ? await business.downloadMedia(arrived.id) : new Uint8Array(0);
    const toBusiness = digest(downloaded) === digest(selfie);
    step(
      `person sent a photo from device 1 (encrypted on the phone, blob uploaded to the media host)`,
      `business handler got ${arrived?.mimetype}, ${kilobytes(arrived?.size ?? 0)}, media ${shortId(arrived?.id ?? '')}; downloaded: fetched, checked (MAC, both hashes), decrypted: SHA-256 ${toBusiness ? 'matches' : 'DIFFERS'}`,
    );

    section('5. A failed delivery, retried');
    network.refuseNextSends(person.deviceIds.length);
    const retried = await business.send({
      from: BUSINESS_NUMBER,
      to: PERSON_NUMBER,
      content: 'Reminder: your appointment is Monday 10:00.',
    });
    await network.flush();
    step(
      `message ${shortId(retried)}: the network refused the first attempt`,
      `status "${statuses.get(retried)}"; next attempt due in ${DEFAULT_BACKOFF.initialMs / 1000} s (backoff on the injected clock)`,
    );
    clock.advance(DEFAULT_BACKOFF.initialMs);
    await gateway.runDue();
    await network.flush();
    step('clock +5 s: the gateway retried', `status ${history.get(retried)?.join(' → ')}`);

    section('6. Integrity signal: a burst to every contact');
    const signals = gateway.integritySignals(); // the transport side's view, read-only
    const customers: SimulatedPerson[] = [];
    for (let i = 0; i < CUSTOMERS; i++) {
      const customer = network.addPerson(
        await createSimulatedPerson({ phoneNumber: `+1555${String(2000 + i)}`, crypto, clock }),
      );
      await customer.send(BUSINESS_NUMBER, 'Do you have a 54 cm frame?');
      await network.flush();
      customers.push(customer);
      clock.advance(Math.floor((14 * DAY_MS) / CUSTOMERS));
    }
    clock.advance(DAY_MS);
    step(
      `${CUSTOMERS} customers wrote in over two weeks; a day later none of them is in a reply window`,
      `signal ${signals.signal(BUSINESS_ID).level}; known contacts ≈ ${signals.signal(BUSINESS_ID).snapshot.knownContacts}`,
    );
    const levels: IntegrityLevel[] = [];
    const ranges: string[] = [];
    let accepted = 0;
    let refusal = '';
    for (const customer of customers) {
      try {
        await business.send({
          from: BUSINESS_NUMBER,
          to: customer.phoneNumber,
          content: 'Spring sale: 20 % off!',
        });
      } catch (error) {
        refusal = isParleyError(error) ? `${error.code}: ${error.message}` : 'refused';
        break;
      }
      accepted += 1;
      const level = signals.signal(BUSINESS_ID).level;
      if (levels.at(-1) !== level) {
        levels.push(level);
        ranges.push(`${level} after send ${accepted}`);
      }
    }
    await network.flush();
    const burst = signals.signal(BUSINESS_ID);
    const interval = 60 / DEFAULT_INTEGRITY_CONFIG.thresholds.throttleRatePerMinute;
    step(
      `the business sent a sale to every customer at once: ${accepted} accepted, then refused`,
      `${ranges.join(', ')}; throttled sends were queued ${interval} s apart on the clock\n` +
        `                        send ${accepted + 1}: ${refusal}`,
    );
    step(
      `transport-side signal: ${burst.level}`,
      burst.reasons
        .map((reason) => `${reason.rule} (${reason.level}): ${reason.message}`)
        .join('\n                        '),
    );
    clock.advance(60_000);
    await gateway.runDue();
    await network.flush();
    const blockedFailures = [...statuses.values()].filter((status) => status === 'failed').length;
    step(
      'clock +1 min: the queued (throttled) sends came due while blocked',
      `${blockedFailures} failed with ERR_INTEGRITY_BLOCKED; none reached the network`,
    );
    clock.advance(60 * 60_000);
    step(
      'clock +1 h: the activity window slid past the burst',
      `signal ${signals.signal(BUSINESS_ID).level}`,
    );

    section('7. Retention: 31 days later');
    const before = received.length;
    clock.advance(31 * DAY_MS);
    const swept = await gateway.sweep();
    step(
      'clock +31 days; retention sweep',
      `${swept.records} expired records and ${swept.blobs} media blobs deleted, ${swept.periodKeys} period keys destroyed (content and media in backups are unreadable), ${swept.inactive} inactive people removed`,
    );
    const retransmit = await business.retransmit(reply).then(
      () => 'allowed (unexpected)',
      (error: unknown) => (isParleyError(error) ? error.code : 'failed'),
    );
    step(`retransmitting message ${shortId(reply)} is refused`, retransmit);

    section('8. A group: one encryption for every member device');
    const group = await runGroupSection({ gateway, network, person, crypto, clock, step, groupReceived });

    section('9. Statistics and billing (all the rest of the platform gets: counts per business and day)');
    const { statistics, billing } = gateway.statisticsExport();
    let messagesOut = 0;
    const quiet = { days: 0, messagesIn: 0, sessions: 0, opened: 0 };
    for (const day of statistics.days()) {
      const row = statistics.snapshot(day).businesses.find((entry) => entry.businessId === BUSINESS_ID);
      const bill = billing.snapshot(day).businesses.find((entry) => entry.businessId === BUSINESS_ID);
      if (!row || !bill) continue;
      messagesOut += row.messagesOut;
      if (row.messagesOut === 0) {
        // Days when only customers wrote in: summed into one line.
        quiet.days += 1;
        quiet.messagesIn += row.messagesIn;
        quiet.sessions += row.sessionsEstablished;
        quiet.opened += bill.conversationsOpened;
        continue;
      }
      print(
        `  ${day}  ${row.messagesIn} in, ${row.messagesOut} out, ${row.delivered} delivered, ${row.failed} failed, ${row.expired} expired, ${row.sessionsEstablished} sessions established` +
          (row.groupMessagesOut + row.groupMessagesIn > 0
            ? ` (group messages: ${row.groupMessagesOut} out, ${row.groupMessagesIn} in, each counted once)`
            : '') +
          `\n              billing: ${bill.businessInitiatedDelivered} business-initiated delivered, ${bill.conversationsOpened} conversations opened (${bill.conversationsOpenedBy.business} by the business, ${bill.conversationsOpenedBy.person} by people)` +
          (bill.groupMessagesDelivered > 0
            ? `, ${bill.groupMessagesDelivered} group messages delivered`
            : ''),
      );
    }
    print(
      `  + ${quiet.days} days with customers writing in only: ${quiet.messagesIn} in, ${quiet.sessions} sessions established, ${quiet.opened} conversations opened by people`,
    );
    print(`\nDone in ${(performance.now() - started).toFixed(0)} ms.`);
    return {
      businessReceived: before,
      // 1:1 messages (section 8's group messages are counted there).
      personReceived: person.received.filter((message) => message.group === undefined).length,
      statuses: Object.fromEntries([reply, retried].map((id) => [id, statuses.get(id)])),
      sweptRecords: swept.records,
      retransmitAfterRetention: retransmit,
      integrityLevels: levels,
      messagesOut,
      group,
      photos: { toPerson, toBusiness },
      sweptBlobs: swept.blobs,
    };
  } finally {
    await gateway.close();
    await wiring.close();
    await stores.close();
  }
}

/**
 * Section 8: the business in a group with the demo's person (when their client takes part in
 * groups: Parley's or libsignal-client's; libsignal@6.0.0 has no group code) and two more
 * customers. The business acts through its scoped handle (groups are not in the cloud API).
 */
async function runGroupSection(context: {
  readonly gateway: Gateway;
  readonly network: TestNetwork;
  readonly person: Awaited<ReturnType<typeof addDemoPerson>>;
  readonly crypto: CryptoProvider;
  readonly clock: ManualClock;
  readonly step: (what: string, detail?: string) => void;
  /** Filled by the business's message listener (section 1). */
  readonly groupReceived: readonly string[];
}): Promise<DemoSummary['group']> {
  const { gateway, network, person, crypto, clock, step } = context;
  const club = gateway.forBusiness(BUSINESS_ID, { principal: 'demo-groups' });
  const dana = network.addPerson(await createSimulatedPerson({ phoneNumber: DANA_NUMBER, crypto, clock }));
  const eli = network.addPerson(await createSimulatedPerson({ phoneNumber: ELI_NUMBER, crypto, clock }));
  const members: GroupMemberClient[] = 'sendToGroup' in person ? [person, dana, eli] : [dana, eli];
  const businessReceived = context.groupReceived;
  const groupId = await club.createGroup({
    from: BUSINESS_NUMBER,
    members: members.map((member) => member.phoneNumber),
  });
  const devices = members.reduce((sum, member) => sum + member.deviceIds.length, 0);
  const distributions: number[] = [];
  const send = async (content: string) => {
    const mark = network.sent.length;
    const id = await club.sendToGroup({ groupId, content });
    await network.flush();
    const wire = network.sent.slice(mark);
    const groupFrames = wire.filter((frame) => frame.type === 7);
    distributions.push(wire.length - groupFrames.length);
    const states = (await club.status(id)).devices.map((device) => device.state);
    return { groupFrames, states };
  };
  const first = await send('Group ride on Sunday, 9:00 at the bridge!');
  step(
    `group of ${members.length} customers (${devices} devices) created; the business sent to it`,
    `one sender-key encryption: ${first.groupFrames.length} type-7 frames with the same ${first.groupFrames[0]?.body.length ?? 0} bytes, ` +
      `${distributions[0]} distribution messages over 1:1 sessions; devices: ${first.states.join(', ')}`,
  );
  const second = await send('Bring lights, it gets dark early.');
  step(
    'a second message: the devices hold the chain',
    `${second.groupFrames.length} type-7 frames, ${distributions[1]} distribution messages`,
  );
  await dana.sendToGroup(BUSINESS_NUMBER, groupId, 'Count me in!');
  await network.flush();
  step(
    'a member wrote to the group (her distribution message first, over 1:1)',
    `business handler received "${businessReceived.at(-1)}"`,
  );
  await club.removeGroupMembers(groupId, [ELI_NUMBER]);
  const third = await send('Route: along the river.');
  let removedMemberReads = 'read it';
  try {
    await eli.decrypt({ ...third.groupFrames[0]!, to: ELI_NUMBER, deviceId: 1 });
  } catch (error) {
    removedMemberReads = isParleyError(error) ? error.code : 'refused';
  }
  step(
    'a member removed: the business rotated its chain and sent the next message',
    `${third.groupFrames.length} type-7 frames, ${distributions[2]} distribution messages (the new chain); the removed member's device: ${removedMemberReads}`,
  );
  const read = members.reduce(
    (sum, member) => sum + member.received.filter((message) => message.group === groupId).length,
    0,
  );
  return {
    memberDevices: devices,
    read,
    distributions,
    businessReceived: [...businessReceived],
    removedMemberReads,
  };
}

/** What section 8 needs of a person's client. */
type GroupMemberClient = Pick<SimulatedPerson, 'phoneNumber' | 'deviceIds' | 'received'>;

function kilobytes(bytes: number): string {
  return `${(bytes / 1000).toFixed(1)} kB`;
}

function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The person's client sends a photo as WhatsApp-family clients do: encrypt, upload the blob, send the pointer. */
async function personSendsPhoto(
  person: Awaited<ReturnType<typeof addDemoPerson>>,
  network: TestNetwork,
  photo: Uint8Array,
  crypto: CryptoProvider,
): Promise<void> {
  const { blob, media } = encryptMedia(photo, { type: 'image', crypto });
  const location = await network.media.upload(
    new ReadableStream({
      start(controller) {
        controller.enqueue(blob);
        controller.close();
      },
    }),
    { type: 'image', length: blob.length, fileEncSha256: media.fileEncSha256 },
  );
  const pointer = createMediaPointer({ ...media, ...location, mimetype: 'image/png', caption: 'My bike' });
  await person.send(BUSINESS_NUMBER, { media: pointer }, { deviceId: 1 });
}

/** The person's client fetches a photo it was sent from the media host and decrypts it (checked first). */
async function personOpensMedia(
  network: TestNetwork,
  pointer: MediaPointer,
  crypto: CryptoProvider,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const source = await network.media.download({ directPath: pointer.directPath, url: pointer.url });
  for await (const part of source as AsyncIterable<Uint8Array>) parts.push(part);
  return decryptMedia(new Uint8Array(Buffer.concat(parts)), pointer, { crypto });
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('src/demo.ts');
if (isMain) {
  const flags = commandLineOrExit('pnpm demo', DEMO_SUMMARY, DEMO_FLAGS);
  const options: DemoOptions = {
    transport: flags.transport as TransportKind,
    peer: flags.peer as DemoOptions['peer'],
    store: flags.store as StoreKind | undefined,
  };
  runDemo(options).catch((error: unknown) => {
    console.error(
      'demo failed:',
      error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error',
    );
    process.exit(1);
  });
}
