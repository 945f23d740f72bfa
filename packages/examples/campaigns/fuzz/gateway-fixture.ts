import {
  type CryptoProvider,
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  type Directory,
  type Gateway,
  type GatewayEvent,
  type GatewayOptions,
  type InboundFrame,
  type KeyProvider,
  type MessageId,
  type OutboundFrame,
  type PreKeyBundle,
  type RandomSource,
  type Transport,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import {
  createDeterministicRandom,
  createSimulatedPerson,
  ManualClock,
  type SimulatedPerson,
  TestNetwork,
} from '@parley/core/testing';
import { businessKey } from '../../../core/src/gateway/durable/layout.js';
import { createAesGcmSealer } from '../../../core/src/gateway/durable/record-sealer.js';
import { decodeBusinessConfig } from '../../../core/src/gateway/durable/records.js';
import type { RecordSealer } from '../../../core/src/session/record-sealer.js';
import {
  memoryStoreFrom,
  type StoreSnapshot,
  snapshotStore,
  type TrackedStore,
  trackWrites,
} from '../store-snapshot.js';

export const N1 = '+15550100';
export const N2 = '+15550101';
export const N3 = '+15550200';
export const P1 = '+15550123';
export const P2 = '+15550124';
export const P3 = '+15550125';
export const P4 = '+15550126';
export const P5 = '+15550127';
export const P6 = '+15550128';
export const UNKNOWN_PERSON = '+15550999';
export const UNREGISTERED_NUMBER = '+15559999';

export interface FrameSeed {
  readonly label: string;
  readonly frame: InboundFrame;
}

/**
 * A gateway that has lived a little, to fuzz against: two businesses (acme: numbers N1 and
 * N2, 30 days; beta: N3, 7 days), people with one or two devices, messages delivered both
 * ways, one sent and not yet receipted, one waiting in the outbox for a retry, integrity and
 * statistics persisted — and real frames the gateway has not read yet (v4 and v3 prekey
 * messages, whisper messages, a frame it already took). Every kind of record the gateway and
 * its SessionManagers keep exists in the stores.
 */
export interface GatewayFixture {
  readonly crypto: CryptoProvider;
  readonly time: number;
  readonly kek: Uint8Array;
  readonly store: StoreSnapshot;
  readonly vault: StoreSnapshot;
  readonly frames: readonly FrameSeed[];
  /** Frame ids the gateway issued (valid receipts). */
  readonly outboundFrameIds: readonly string[];
  readonly outboundIds: readonly MessageId[];
  readonly inboundIds: readonly MessageId[];
  readonly businesses: readonly { readonly id: string; readonly numbers: readonly string[] }[];
  readonly people: ReadonlyMap<string, readonly number[]>;
  /** The record sealer of a business (its record key unwrapped with the fixture's KEK). */
  sealer(businessId: string): Promise<RecordSealer>;
  /** A gateway over restored copies of the stores. */
  open(
    random: RandomSource,
    stores?: { store: StoreSnapshot; vault: StoreSnapshot },
    options?: { readonly warm?: boolean },
  ): Promise<GatewayWorld>;
}

export interface GatewayWorld {
  readonly gateway: Gateway;
  readonly store: TrackedStore;
  readonly vault: TrackedStore;
  readonly clock: ManualClock;
  readonly network: ReplayNetwork;
  readonly keyProvider: KeyProvider;
  /** Errors the gateway reported to `onError` since the last `takeErrors()`. */
  takeErrors(): unknown[];
  readonly events: GatewayEvent[];
  readonly handled: MessageId[];
}

/** Fixture options the gateway is created with (small prekey batches keep the stores small). */
export function gatewayOptions(base: Omit<GatewayOptions, 'preKeys' | 'timer'>): GatewayOptions {
  return {
    ...base,
    timer: false,
    preKeys: { batchSize: 3, lowWaterMark: 1, kyberBatchSize: 1, kyberLowWaterMark: 0 },
  };
}

export async function buildGatewayFixture(seed: string): Promise<GatewayFixture> {
  const crypto = createNodeCrypto();
  const clock = new ManualClock();
  const network = new TestNetwork({ random: createDeterministicRandom(`${seed}/network`) });
  const store = createMemoryStore({ clock });
  const vaultStore = createMemoryStore({ clock });
  const kek = createDeterministicRandom(`${seed}/kek`)(32);
  const keyProvider = createLocalKeyProvider({ kek, crypto });
  const gateway = createGateway(
    gatewayOptions({
      store,
      vaultStore,
      keyProvider,
      transport: network,
      directory: network,
      crypto,
      clock,
      random: createDeterministicRandom(`${seed}/gateway`),
    }),
  );
  const errors: unknown[] = [];
  gateway.onError((error) => errors.push(error));
  network.connect(gateway);
  const inboundIds: MessageId[] = [];
  for (const id of ['acme', 'beta']) gateway.onMessage(id, (message) => void inboundIds.push(message.id));
  await gateway.registerBusiness({ businessId: 'acme' });
  await gateway.registerBusiness({ businessId: 'beta', retentionDays: 7 });
  await gateway.addNumber('acme', N1);
  await gateway.addNumber('acme', N2);
  await gateway.addNumber('beta', N3);

  const person = async (phoneNumber: string, devices: number) =>
    network.addPerson(
      await createSimulatedPerson({
        phoneNumber,
        devices,
        crypto,
        clock,
        random: createDeterministicRandom(`${seed}/person/${phoneNumber}`),
      }),
    );
  const p1 = await person(P1, 2);
  const p2 = await person(P2, 1);
  const p3 = await person(P3, 1);
  const p4 = await person(P4, 1);
  const p5 = await person(P5, 1);
  const p6 = await person(P6, 1);

  const outboundIds: MessageId[] = [];
  await p1.send(N1, 'hello from p1');
  await network.flush();
  outboundIds.push(await gateway.send({ from: N1, to: P1, content: 'reply to p1' }));
  await network.flush();
  // Sent, never receipted.
  p2.autoReceipts = false;
  outboundIds.push(await gateway.send({ from: N1, to: P2, content: 'unsolicited to p2' }));
  await network.flush();
  // Waiting in the outbox for its retry: the network was down at the first attempt.
  network.down = true;
  outboundIds.push(await gateway.send({ from: N1, to: P3, content: 'pending for p3' }));
  await gateway.idle();
  network.down = false;
  outboundIds.push(await gateway.send({ from: N3, to: P1, content: 'beta says hello' }));
  await network.flush();
  await p2.send(N1, 'p2 answers');
  await network.flush();
  // N2's one-time Kyber prekey goes to p5; p6 gets the last-resort one (a base-key marker).
  await p5.send(N2, 'p5 to N2');
  await p6.send(N2, 'p6 to N2');
  await network.flush();
  // An undecryptable frame leaves a retry-request marker (rate limit).
  await gateway.receiveFrame({
    frameId: 'garbage-1',
    to: N1,
    from: P2,
    deviceId: 1,
    type: 2,
    body: new Uint8Array(40),
  });

  // Real frames the gateway has not read.
  const frames: FrameSeed[] = [];
  const unread = async (label: string, who: SimulatedPerson, to: string, text: string, deviceId = 1) =>
    frames.push({ label, frame: await who.encrypt(to, text, { deviceId }) });
  await p3.startSession(N1, network.businessBundle(N1));
  await unread('prekey-v4 p3→N1', p3, N1, 'first words of p3');
  await p4.startSession(N2, network.businessBundle(N2, { kyber: false }));
  await unread('prekey-v3 p4→N2', p4, N2, 'first words of p4');
  await unread('whisper p1→N1 a', p1, N1, 'p1 again');
  await unread('whisper p1→N1 b', p1, N1, 'p1 once more, a longer message '.repeat(4));
  await p1.startSession(N1, network.businessBundle(N1), 2);
  await unread('prekey-v4 p1/2→N1', p1, N1, 'from the second device', 2);
  await unread('whisper p2→N1', p2, N1, 'p2 again');
  await p1.startSession(N3, network.businessBundle(N3));
  await unread('prekey-v4 p1→N3', p1, N3, 'p1 to beta');
  const taken = network.log.find((d) => d.packet.kind === 'frame' && d.packet.direction === 'to-gateway');
  if (taken?.packet.kind === 'frame' && taken.packet.direction === 'to-gateway')
    frames.push({ label: 'already taken', frame: taken.packet.frame });

  // Integrity and statistics records are written by tick().
  await gateway.tick();
  await gateway.idle();
  if (errors.length > 0) throw new Error(`the gateway fixture reported errors: ${String(errors[0])}`);
  const people = new Map<string, number[]>([
    [P1, [1, 2]],
    [P2, [1]],
    [P3, [1]],
    [P4, [1]],
    [P5, [1]],
    [P6, [1]],
  ]);
  const bundles = new Map<string, PreKeyBundle>();
  for (const [who, devices] of [
    [p1, [1, 2]],
    [p2, [1]],
    [p3, [1]],
    [p4, [1]],
    [p5, [1]],
    [p6, [1]],
  ] as const) {
    for (const deviceId of devices) bundles.set(`${who.phoneNumber}/${deviceId}`, await who.bundle(deviceId));
  }
  const snapshot = { store: await snapshotStore(store), vault: await snapshotStore(vaultStore) };
  const outboundFrameIds = network.sent.map((frame: OutboundFrame) => frame.frameId);
  await gateway.close();

  const sealers = new Map<string, Promise<RecordSealer>>();
  return {
    crypto,
    time: clock.now(),
    kek,
    store: snapshot.store,
    vault: snapshot.vault,
    frames,
    outboundFrameIds,
    outboundIds,
    inboundIds,
    businesses: [
      { id: 'acme', numbers: [N1, N2] },
      { id: 'beta', numbers: [N3] },
    ],
    people,
    sealer(businessId) {
      let pending = sealers.get(businessId);
      if (!pending) {
        pending = (async () => {
          const record = snapshot.store.get('meta')?.find((r) => r.key === businessKey(businessId));
          if (!record) throw new Error(`no business ${businessId} in the fixture`);
          const config = decodeBusinessConfig(record.value);
          const key = await keyProvider.unwrapKey(config.wrappedRecordKey, `parley/records/${businessId}`);
          return createAesGcmSealer(crypto, createDeterministicRandom(`${seed}/sealer`), key);
        })();
        sealers.set(businessId, pending);
      }
      return pending;
    },
    async open(random, stores = snapshot, options = {}) {
      const worldClock = new ManualClock(clock.now());
      const worldStore = trackWrites(await memoryStoreFrom(stores.store, worldClock));
      const worldVault = trackWrites(await memoryStoreFrom(stores.vault, worldClock));
      const replay = new ReplayNetwork(people, bundles);
      const worldKeys = createLocalKeyProvider({ kek, crypto });
      const worldGateway = createGateway(
        gatewayOptions({
          store: worldStore,
          vaultStore: worldVault,
          keyProvider: worldKeys,
          transport: replay,
          directory: replay,
          crypto,
          clock: worldClock,
          random,
        }),
      );
      let reported: unknown[] = [];
      const events: GatewayEvent[] = [];
      const handled: MessageId[] = [];
      worldGateway.onError((error) => reported.push(error));
      for (const id of ['acme', 'beta']) {
        worldGateway.onMessage(id, (message) => void handled.push(message.id));
        worldGateway.onEvent(id, (event) => void events.push(event));
      }
      // A running gateway has its businesses loaded: so does every fuzzed one, so that an
      // input behaves the same in a fresh world as in one that served earlier inputs.
      if (options.warm !== false) for (const id of ['acme', 'beta']) await worldGateway.numbers(id);
      await worldGateway.idle();
      return {
        gateway: worldGateway,
        store: worldStore,
        vault: worldVault,
        clock: worldClock,
        network: replay,
        keyProvider: worldKeys,
        events,
        handled,
        takeErrors() {
          const out = reported;
          reported = [];
          return out;
        },
      };
    },
  };
}

/**
 * The network a fuzzed gateway talks to: it answers like the fixture's network did (device
 * lists, one bundle per device, a full prekey pool) and delivers nothing, so every input
 * starts from the same state.
 */
export class ReplayNetwork implements Transport, Directory {
  frames = 0;
  constructor(
    private readonly people: ReadonlyMap<string, readonly number[]>,
    private readonly bundles: ReadonlyMap<string, PreKeyBundle>,
  ) {}
  async send(): Promise<void> {
    this.frames += 1;
  }
  async requestRetry(): Promise<void> {}
  async acknowledge(): Promise<void> {}
  async publish(): Promise<void> {}
  async availableOneTimePreKeys(): Promise<number> {
    return 1_000;
  }
  async availableOneTimeKyberPreKeys(): Promise<number> {
    return 1_000;
  }
  async fetchDevices(phoneNumber: string): Promise<readonly number[]> {
    return this.people.get(phoneNumber) ?? [];
  }
  async fetchBundle(phoneNumber: string, deviceId: number): Promise<PreKeyBundle> {
    const bundle = this.bundles.get(`${phoneNumber}/${deviceId}`);
    if (!bundle) throw new Error('no such device on the replay network');
    return bundle;
  }
}
