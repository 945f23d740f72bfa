/**
 * A fake messaging network for gateway tests: the transport (frames, retry requests,
 * acknowledgements, failure injection), the key directory (one-time prekeys served at most
 * once) and the people's devices (Parley or real Signal-protocol peers).
 */

import {
  contentBytes,
  decodeMessagePlaintext,
  encodeMessagePlaintext,
} from '../../src/content/message-plaintext.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/gateway.js';
import { createLocalKeyProvider, type KeyProvider } from '../../src/gateway/key-provider.js';
import type { GatewayLogger, LogFields, LogLevel } from '../../src/gateway/logger.js';
import type {
  Directory,
  InboundFrame,
  OutboundFrame,
  PreKeyUpload,
  RetryRequest,
  SignedPublicPreKey,
  Transport,
} from '../../src/gateway/types.js';
import type { PreKeyBundle } from '../../src/keys/prekeys.js';
import type { Namespace, Store } from '../../src/storage/contract.js';
import { createMemoryStore } from '../../src/storage/memory.js';
import { supportsKyber } from '../peers/index.js';
import { createParleyPeer } from '../peers/parley.js';
import type { PeerBundle, PeerClient } from '../peers/types.js';
import { FakeClock, testCrypto } from './parties.js';

interface Published {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: PreKeyUpload['signedPreKey'];
  pool: { id: number; publicKey: Uint8Array }[];
  lastResortKyber: SignedPublicPreKey;
  kyberPool: SignedPublicPreKey[];
}

/** A Kyber prekey the directory put in a bundle. */
export interface ServedKyberPreKey {
  readonly id: number;
  readonly lastResort: boolean;
}

/** Parley and libsignal-client 0.72+ make and accept bundles with Kyber prekeys (PQXDH). */
export function speaksKyber(device: PeerClient): boolean {
  return device.kind === 'parley' || supportsKyber(device.kind);
}

export interface DeliveredFrame {
  readonly frame: OutboundFrame;
  readonly text: string;
}

export class FakeNetwork implements Transport, Directory {
  readonly published = new Map<string, Published>();
  /** Every one-time prekey id the directory handed out, per business number. */
  readonly served = new Map<string, number[]>();
  /** Every Kyber prekey the directory put in a bundle, per business number. */
  readonly servedKyber = new Map<string, ServedKyberPreKey[]>();
  /** Bundles the directory handed out for people's devices, per phone number: Kyber or not. */
  readonly fetchedBundles: { phoneNumber: string; deviceId: number; kyber: boolean }[] = [];
  readonly people = new Map<string, Map<number, PeerClient>>();
  /** Frames the transport accepted, in order. */
  readonly sent: OutboundFrame[] = [];
  readonly retryRequests: RetryRequest[] = [];
  /** Type-8 frames (decryption-error messages) `deliverAll` set aside instead of decrypting. */
  readonly decryptionErrors: OutboundFrame[] = [];
  readonly acknowledged: string[] = [];
  sendAttempts = 0;
  /** The next this-many `send` calls fail. */
  failNextSends = 0;
  /** Every `send` fails while true. */
  down = false;
  private undelivered: OutboundFrame[] = [];
  private frameCounter = 0;

  // ── Transport ──
  async send(frame: OutboundFrame): Promise<void> {
    this.sendAttempts += 1;
    if (this.down || this.failNextSends > 0) {
      this.failNextSends = Math.max(0, this.failNextSends - 1);
      throw new Error('network unavailable');
    }
    this.sent.push(frame);
    this.undelivered.push(frame);
  }

  async requestRetry(request: RetryRequest): Promise<void> {
    this.retryRequests.push(request);
  }

  async acknowledge(frameId: string): Promise<void> {
    this.acknowledged.push(frameId);
  }

  // ── Directory ──
  async publish(upload: PreKeyUpload): Promise<void> {
    const entry = this.published.get(upload.number) ?? {
      registrationId: upload.registrationId,
      identityKey: upload.identityKey,
      signedPreKey: upload.signedPreKey,
      pool: [],
      lastResortKyber: upload.lastResortKyberPreKey,
      kyberPool: [],
    };
    entry.signedPreKey = upload.signedPreKey;
    entry.pool.push(...upload.oneTimePreKeys);
    entry.lastResortKyber = upload.lastResortKyberPreKey;
    entry.kyberPool.push(...upload.oneTimeKyberPreKeys);
    this.published.set(upload.number, entry);
  }

  async availableOneTimePreKeys(number: string): Promise<number> {
    return this.published.get(number)?.pool.length ?? 0;
  }

  async availableOneTimeKyberPreKeys(number: string): Promise<number> {
    return this.published.get(number)?.kyberPool.length ?? 0;
  }

  async fetchDevices(phoneNumber: string): Promise<readonly number[]> {
    return [...(this.people.get(phoneNumber)?.keys() ?? [])];
  }

  async fetchBundle(phoneNumber: string, deviceId: number): Promise<PreKeyBundle> {
    const device = this.people.get(phoneNumber)?.get(deviceId);
    if (!device) throw new Error('no such device');
    const kyber = speaksKyber(device);
    this.fetchedBundles.push({ phoneNumber, deviceId, kyber });
    return device.createBundle({ kyber });
  }

  /**
   * A business number's bundle, as a person's client fetches it: consumes a one-time prekey,
   * and (for a client that speaks PQXDH) a one-time Kyber prekey while any is left, else it
   * carries the last-resort Kyber prekey.
   */
  businessBundle(number: string, options: { kyber?: boolean } = {}): PeerBundle {
    const entry = this.published.get(number);
    if (!entry) throw new Error('number not published');
    let kyber: SignedPublicPreKey | undefined;
    if (options.kyber ?? true) {
      const oneTimeKyber = entry.kyberPool.shift();
      kyber = oneTimeKyber ?? entry.lastResortKyber;
      this.servedKyber.set(number, [
        ...(this.servedKyber.get(number) ?? []),
        { id: kyber.id, lastResort: oneTimeKyber === undefined },
      ]);
    }
    const oneTime = entry.pool.shift();
    if (oneTime) this.served.set(number, [...(this.served.get(number) ?? []), oneTime.id]);
    const bundle: PeerBundle = {
      registrationId: entry.registrationId,
      deviceId: 1,
      identityKey: entry.identityKey,
      signedPreKeyId: entry.signedPreKey.id,
      signedPreKey: entry.signedPreKey.publicKey,
      signedPreKeySignature: entry.signedPreKey.signature,
    };
    if (oneTime) {
      bundle.preKeyId = oneTime.id;
      bundle.preKey = oneTime.publicKey;
    }
    if (kyber) {
      bundle.kyberPreKeyId = kyber.id;
      bundle.kyberPreKey = kyber.publicKey;
      bundle.kyberPreKeySignature = kyber.signature;
    }
    return bundle;
  }

  // ── People ──
  addDevice(phoneNumber: string, device: PeerClient): void {
    const devices = this.people.get(phoneNumber) ?? new Map<number, PeerClient>();
    devices.set(device.address.deviceId, device);
    this.people.set(phoneNumber, devices);
  }

  /** A person (Parley-based client) with the given device ids. */
  async addPerson(phoneNumber: string, deviceIds: readonly number[] = [1]): Promise<PeerClient[]> {
    const out: PeerClient[] = [];
    for (const deviceId of deviceIds) {
      const device = await createParleyPeer({ name: phoneNumber, deviceId }, { trust: 'always' });
      this.addDevice(phoneNumber, device);
      out.push(device);
    }
    return out;
  }

  device(phoneNumber: string, deviceId = 1): PeerClient {
    const device = this.people.get(phoneNumber)?.get(deviceId);
    if (!device) throw new Error('no such device');
    return device;
  }

  /**
   * A person's device encrypts a (padded) text to a business number, starting a session from
   * the directory's bundle if it has none; returns the frame the transport would deliver.
   */
  async personFrame(
    phoneNumber: string,
    to: string,
    text: string,
    options: {
      deviceId?: number;
      pad?: boolean;
      freshBundle?: boolean;
      kyber?: boolean;
      timestamp?: number;
    } = {},
  ): Promise<InboundFrame & { readonly type: 2 | 3 }> {
    const deviceId = options.deviceId ?? 1;
    const device = this.device(phoneNumber, deviceId);
    const business = { name: to, deviceId: 1 };
    if (options.freshBundle || !(await device.hasSession(business))) {
      await device.processBundle(
        business,
        this.businessBundle(to, { kyber: options.kyber ?? speaksKyber(device) }),
      );
    }
    const message = await device.encrypt(
      business,
      encodeMessagePlaintext({ text }, options.pad === false ? false : undefined),
    );
    this.frameCounter += 1;
    return {
      frameId: `in-${this.frameCounter}`,
      to,
      from: phoneNumber,
      deviceId,
      type: message.type,
      body: message.body,
      timestamp: options.timestamp ?? 1_700_000_000_000 + this.frameCounter,
    };
  }

  /** Hands every undelivered frame to its device; returns what each device decrypted. */
  async deliverAll(): Promise<DeliveredFrame[]> {
    const frames = this.undelivered;
    this.undelivered = [];
    const out: DeliveredFrame[] = [];
    for (const frame of frames) {
      // These devices are 1:1 peers; group scenarios run on the testing kit's network.
      if (frame.type === 7) throw new Error('a group message reached a 1:1 test peer');
      if (frame.type === 8) {
        // A decryption-error message: the peers here have no retry logic; tests read them.
        this.decryptionErrors.push(frame);
        continue;
      }
      const device = this.device(frame.to, frame.deviceId);
      const plaintext = await device.decrypt(
        { name: frame.from, deviceId: 1 },
        { type: frame.type, body: frame.body },
      );
      const envelope = decodeMessagePlaintext(plaintext);
      out.push({ frame, text: envelope.text ?? new TextDecoder().decode(contentBytes(envelope)) });
    }
    return out;
  }

  /** Drops undelivered frames (lost in the network). */
  loseAll(): void {
    this.undelivered = [];
  }
}

export interface GatewayStores {
  readonly store: Store;
  readonly vaultStore: Store;
}

/** Makes the message store and the vault store of one gateway (memory, SQLite, …). */
export interface GatewayStoreFactory {
  readonly kind: string;
  create(clock: FakeClock, region?: string): Promise<GatewayStores>;
  /**
   * A copy of a store as a backup would have it, opened with a clock frozen at copy time
   * (an attacker reading the bytes does not honour expiry).
   */
  copy(source: Store, clock: FakeClock): Promise<Store>;
  cleanup?(): Promise<void>;
}

export const TEST_KEK = new Uint8Array(32).fill(7);

export interface TestGateway extends GatewayStores {
  readonly gateway: Gateway;
  readonly network: FakeNetwork;
  readonly clock: FakeClock;
  readonly keyProvider: KeyProvider;
  readonly events: import('../../src/gateway/types.js').GatewayEvent[];
  readonly errors: unknown[];
}

export async function createTestGateway(
  factory: GatewayStoreFactory,
  options: Partial<GatewayOptions> & { region?: string; clock?: FakeClock; network?: FakeNetwork } = {},
): Promise<TestGateway> {
  const clock = options.clock ?? new FakeClock();
  const stores = await factory.create(clock, options.region);
  const network = options.network ?? new FakeNetwork();
  const keyProvider =
    options.keyProvider ??
    createLocalKeyProvider({ kek: TEST_KEK, region: options.region, crypto: testCrypto() });
  const gateway = createGateway({
    crypto: testCrypto(),
    clock,
    transport: network,
    directory: network,
    timer: false,
    ...stores,
    ...options,
    // Kyber-1024 key generation costs ~3 ms a key: small pools keep the suite fast.
    preKeys: { kyberBatchSize: 4, kyberLowWaterMark: 2, ...options.preKeys },
    keyProvider,
  });
  const errors: unknown[] = [];
  gateway.onError((error) => errors.push(error));
  return {
    gateway,
    network,
    clock,
    keyProvider,
    events: [],
    errors,
    store: options.store ?? stores.store,
    vaultStore: options.vaultStore ?? stores.vaultStore,
  };
}

/** Registers a business with numbers and records its events into `tg.events`. */
export async function setUpBusiness(
  tg: TestGateway,
  businessId: string,
  numbers: readonly string[],
  settings: { retentionDays?: number; region?: string } = {},
): Promise<void> {
  await tg.gateway.registerBusiness({ businessId, ...settings });
  for (const number of numbers) await tg.gateway.addNumber(businessId, number);
  tg.gateway.onEvent(businessId, (event) => {
    tg.events.push(event);
  });
}

/** Copies every live record of a memory store into a new one (a "backup"). */
export async function copyIntoMemory(source: Store, clock: FakeClock, region?: string): Promise<Store> {
  const frozen = new FakeClock(clock.now());
  const copy = createMemoryStore({ clock: frozen, region });
  for (const namespace of [
    'identities',
    'prekeys',
    'sessions',
    'messages',
    'outbox',
    'counters',
    'vault',
    'meta',
  ] as const) {
    const records = await source.list(namespace);
    if (records.length === 0) continue;
    await copy.commit(
      records.map((record) => ({
        type: 'put',
        namespace,
        key: record.key,
        value: record.value,
        expiresAt: record.expiresAt,
      })),
    );
  }
  return copy;
}

export const memoryStores: GatewayStoreFactory = {
  kind: 'memory',
  async create(clock, region) {
    return { store: createMemoryStore({ clock, region }), vaultStore: createMemoryStore({ clock, region }) };
  },
  copy: (source, clock) => copyIntoMemory(source, clock, source.region),
};

/** A commit the test holds back: `reached` when the gateway got there, `release()` lets it go on. */
export interface HeldCommit {
  readonly reached: Promise<void>;
  release(): void;
}

/**
 * A store that records reads and can hold back the next commit touching a namespace (a slow
 * database, deterministically: the test decides when it goes on).
 */
export class GatedStore implements Store {
  readonly kind: string;
  readonly region: string | undefined;
  /** `namespace:key` of every `get`, in order. */
  readonly reads: string[] = [];
  private hold: { namespace: Namespace; reached: () => void; released: Promise<void> } | undefined;

  constructor(private readonly inner: Store) {
    this.kind = inner.kind;
    this.region = inner.region;
  }

  holdNextCommit(namespace: Namespace): HeldCommit {
    let reached: () => void = () => undefined;
    let release: () => void = () => undefined;
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.hold = { namespace, reached, released };
    return { reached: reachedPromise, release };
  }

  get(namespace: Namespace, key: string) {
    this.reads.push(`${namespace}:${key}`);
    return this.inner.get(namespace, key);
  }
  getMany(namespace: Namespace, keys: readonly string[]) {
    for (const key of keys) this.reads.push(`${namespace}:${key}`);
    return this.inner.getMany(namespace, keys);
  }
  /** Every `list`: namespace, options and how many records it returned. */
  readonly lists: { namespace: Namespace; prefix?: string; limit?: number; returned: number }[] = [];
  async list(...args: Parameters<Store['list']>) {
    const records = await this.inner.list(...args);
    this.lists.push({ namespace: args[0], ...args[1], returned: records.length });
    return records;
  }
  async commit(...args: Parameters<Store['commit']>) {
    const hold = this.hold;
    if (hold && args[0].some((write) => write.namespace === hold.namespace)) {
      this.hold = undefined;
      hold.reached();
      await hold.released;
    }
    return this.inner.commit(...args);
  }
  sweepExpired(now: number) {
    return this.inner.sweepExpired(now);
  }
  close() {
    return this.inner.close();
  }
}

export interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields | undefined;
}

/** A gateway logger that keeps every line, for tests that check what was (not) logged. */
export function recordingLogger(): GatewayLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, fields });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
