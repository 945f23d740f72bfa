/**
 * An in-memory messaging network for the examples whose people publish their own prekeys: the
 * gateway's transport (a mailbox per device) and the key directory (Signal's key server) where
 * business numbers and people's devices publish prekeys; each one-time prekey is served at
 * most once. It sees routing and ciphertext only.
 *
 * Used as is by libsignal-peer/main.ts, and extended by browser/relay.ts (a transcript, and
 * pushes to subscribed devices). The testing kit's `TestNetwork` asks simulated people for
 * their bundles instead, so it does not fit these examples.
 */
import type {
  Directory,
  OutboundFrame,
  PreKeyBundle,
  PreKeyUpload,
  RetryRequest,
  SignedPublicPreKey,
  Transport,
} from '@parley/core';

/** What the directory keeps per device: business numbers and people alike. */
export interface DirectoryUpload {
  readonly deviceId: number;
  readonly registrationId: number;
  readonly identityKey: Uint8Array;
  readonly signedPreKey: SignedPublicPreKey;
  readonly oneTimePreKeys: readonly { readonly id: number; readonly publicKey: Uint8Array }[];
  readonly lastResortKyberPreKey?: SignedPublicPreKey | undefined;
  readonly oneTimeKyberPreKeys?: readonly SignedPublicPreKey[] | undefined;
}

interface Published {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: SignedPublicPreKey;
  pool: { id: number; publicKey: Uint8Array }[];
  lastResortKyber: SignedPublicPreKey | undefined;
  kyberPool: SignedPublicPreKey[];
}

/** The key of one device's mailbox and directory entry. */
export const deviceKey = (owner: string, deviceId: number): string => `${owner}.${deviceId}`;

export class MemoryNetwork implements Transport, Directory {
  private readonly keys = new Map<string, Published>();
  private readonly devices = new Map<string, number[]>();
  private readonly mailboxes = new Map<string, OutboundFrame[]>();
  readonly retryRequests: RetryRequest[] = [];
  /** Inbound frame ids the gateway acknowledged. */
  readonly acknowledged: string[] = [];
  /** Bundles served per owner (business number or person). */
  readonly bundlesServed = new Map<string, number>();

  // ── Transport (called by the gateway) ──
  async send(frame: OutboundFrame): Promise<void> {
    this.deliver(frame);
  }

  async requestRetry(request: RetryRequest): Promise<void> {
    this.retryRequests.push(request);
  }

  async acknowledge(frameId: string): Promise<void> {
    this.acknowledged.push(frameId);
  }

  // ── Directory (called by the gateway) ──
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

  /** Frames waiting in a device's mailbox. */
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

  /** Takes every frame waiting for a device. */
  collect(phoneNumber: string, deviceId: number): OutboundFrame[] {
    const key = deviceKey(phoneNumber, deviceId);
    const frames = this.mailboxes.get(key) ?? [];
    this.mailboxes.delete(key);
    return frames;
  }

  /** Puts a frame from the gateway in its device's mailbox (synchronously, within `send`). */
  protected deliver(frame: OutboundFrame): void {
    const key = deviceKey(frame.to, frame.deviceId);
    this.mailboxes.set(key, [...(this.mailboxes.get(key) ?? []), frame]);
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
