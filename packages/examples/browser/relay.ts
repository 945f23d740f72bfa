/**
 * The messaging network the example stands in for: a relay that queues the gateway's frames
 * per device until the device confirms them (a receipt), and the key directory (Signal's key
 * server) where business numbers and people's devices publish prekeys; each one-time prekey
 * is served at most once. It sees routing and ciphertext only.
 */
import type {
  Directory,
  OutboundFrame,
  PreKeyBundle,
  PreKeyUpload,
  RetryRequest,
  Transport,
} from '@parley/core';

interface SignedKey {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** What the directory keeps per device: business numbers and people alike. */
export interface DirectoryUpload {
  readonly deviceId: number;
  readonly registrationId: number;
  readonly identityKey: Uint8Array;
  readonly signedPreKey: SignedKey;
  readonly oneTimePreKeys: readonly { readonly id: number; readonly publicKey: Uint8Array }[];
  readonly lastResortKyberPreKey?: SignedKey | undefined;
  readonly oneTimeKyberPreKeys?: readonly SignedKey[] | undefined;
}

interface Published {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: SignedKey;
  pool: { id: number; publicKey: Uint8Array }[];
  lastResortKyber: SignedKey | undefined;
  kyberPool: SignedKey[];
}

/** What the relay saw: routing and message types, never content. */
export interface RelayLogEntry {
  readonly direction: 'to-business' | 'to-person';
  readonly frameId: string;
  readonly type: 2 | 3;
}

type Listener = (frame: OutboundFrame) => void;

const deviceKey = (owner: string, deviceId: number) => `${owner}.${deviceId}`;

export class Relay implements Transport, Directory {
  private readonly keys = new Map<string, Published>();
  private readonly devices = new Map<string, number[]>();
  private readonly mailboxes = new Map<string, OutboundFrame[]>();
  private readonly listeners = new Map<string, Set<Listener>>();
  readonly log: RelayLogEntry[] = [];
  readonly retryRequests: RetryRequest[] = [];
  /** Bundles served per owner (business number or person). */
  readonly bundlesServed = new Map<string, number>();

  // ── Transport: the gateway hands frames to the relay ──
  async send(frame: OutboundFrame): Promise<void> {
    const key = deviceKey(frame.to, frame.deviceId);
    this.mailboxes.set(key, [...(this.mailboxes.get(key) ?? []), frame]);
    this.log.push({ direction: 'to-person', frameId: frame.frameId, type: frame.type });
    for (const listener of this.listeners.get(key) ?? []) listener(frame);
  }

  async requestRetry(request: RetryRequest): Promise<void> {
    this.retryRequests.push(request);
  }

  async acknowledge(_frameId: string): Promise<void> {
    // Inbound frames are handed to the gateway synchronously here; nothing to forget.
  }

  // ── Directory ──
  async publish(upload: PreKeyUpload): Promise<void> {
    this.store(upload.number, upload);
  }

  async availableOneTimePreKeys(number: string): Promise<number> {
    return this.keys.get(deviceKey(number, 1))?.pool.length ?? 0;
  }

  async availableOneTimeKyberPreKeys(number: string): Promise<number> {
    return this.keys.get(deviceKey(number, 1))?.kyberPool.length ?? 0;
  }

  async fetchDevices(phoneNumber: string): Promise<readonly number[]> {
    return this.devices.get(phoneNumber) ?? [];
  }

  async fetchBundle(owner: string, deviceId: number): Promise<PreKeyBundle> {
    const entry = this.keys.get(deviceKey(owner, deviceId));
    if (!entry) throw new Error('no keys published for this device');
    this.bundlesServed.set(owner, (this.bundlesServed.get(owner) ?? 0) + 1);
    const oneTime = entry.pool.shift();
    const kyber = entry.kyberPool.shift() ?? entry.lastResortKyber;
    return {
      registrationId: entry.registrationId,
      deviceId,
      identityKey: entry.identityKey,
      signedPreKeyId: entry.signedPreKey.id,
      signedPreKey: entry.signedPreKey.publicKey,
      signedPreKeySignature: entry.signedPreKey.signature,
      preKeyId: oneTime?.id,
      preKey: oneTime?.publicKey,
      kyberPreKeyId: kyber?.id,
      kyberPreKey: kyber?.publicKey,
      kyberPreKeySignature: kyber?.signature,
    };
  }

  // ── The people's side ──
  /** A person's device publishes its keys and becomes one of the person's devices. */
  publishDevice(phoneNumber: string, upload: DirectoryUpload): void {
    this.store(phoneNumber, upload);
    const devices = this.devices.get(phoneNumber) ?? [];
    if (!devices.includes(upload.deviceId)) this.devices.set(phoneNumber, [...devices, upload.deviceId]);
  }

  /** A frame from a person's device, on its way to the gateway. */
  noteInbound(frameId: string, type: 2 | 3): void {
    this.log.push({ direction: 'to-business', frameId, type });
  }

  /** Frames waiting for a device's receipt. */
  pending(phoneNumber: string, deviceId: number): readonly OutboundFrame[] {
    return this.mailboxes.get(deviceKey(phoneNumber, deviceId)) ?? [];
  }

  /** The device confirmed a frame: it is removed from the mailbox; false if it was not there. */
  confirm(phoneNumber: string, deviceId: number, frameId: string): boolean {
    const key = deviceKey(phoneNumber, deviceId);
    const frames = this.mailboxes.get(key) ?? [];
    const remaining = frames.filter((frame) => frame.frameId !== frameId);
    this.mailboxes.set(key, remaining);
    return remaining.length < frames.length;
  }

  /** Calls `listener` for every new frame to a device; returns the unsubscribe function. */
  subscribe(phoneNumber: string, deviceId: number, listener: Listener): () => void {
    const key = deviceKey(phoneNumber, deviceId);
    const set = this.listeners.get(key) ?? new Set<Listener>();
    this.listeners.set(key, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  private store(owner: string, upload: DirectoryUpload): void {
    const key = deviceKey(owner, upload.deviceId);
    const entry: Published = this.keys.get(key) ?? {
      registrationId: upload.registrationId,
      identityKey: upload.identityKey,
      signedPreKey: upload.signedPreKey,
      pool: [],
      lastResortKyber: undefined,
      kyberPool: [],
    };
    entry.signedPreKey = upload.signedPreKey;
    entry.pool.push(...upload.oneTimePreKeys);
    entry.lastResortKyber = upload.lastResortKyberPreKey ?? entry.lastResortKyber;
    entry.kyberPool.push(...(upload.oneTimeKyberPreKeys ?? []));
    this.keys.set(key, entry);
  }
}
