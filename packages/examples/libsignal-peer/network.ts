/**
 * The messaging network, in process: the transport the gateway hands frames to (one mailbox
 * per device), and the key directory (Signal's key server) where the business's numbers and
 * the people's devices publish prekeys; each one-time prekey is served at most once.
 *
 * The business's bundles carry a Kyber prekey too (the gateway publishes them, for PQXDH);
 * libsignal-client 0.23 and libsignal-node 6 predate PQXDH, ignore it and start X3DH (v3)
 * sessions, which the gateway accepts.
 */
import type {
  Directory,
  OutboundFrame,
  PreKeyBundle,
  PreKeyUpload,
  RetryRequest,
  Transport,
} from '@parley/core';
import type { DeviceKeys } from './person.js';

interface SignedKey {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

interface Published {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: SignedKey;
  pool: { id: number; publicKey: Uint8Array }[];
  lastResortKyber: SignedKey | undefined;
  kyberPool: SignedKey[];
}

type Upload = DeviceKeys & {
  readonly lastResortKyberPreKey?: SignedKey | undefined;
  readonly oneTimeKyberPreKeys?: readonly SignedKey[] | undefined;
};

const deviceKey = (phoneNumber: string, deviceId: number) => `${phoneNumber}.${deviceId}`;

export class InProcessNetwork implements Transport, Directory {
  private readonly keys = new Map<string, Published>();
  private readonly devices = new Map<string, number[]>();
  private readonly mailboxes = new Map<string, OutboundFrame[]>();
  readonly retryRequests: RetryRequest[] = [];
  readonly acknowledged: string[] = [];

  // ── Transport (called by the gateway) ──
  async send(frame: OutboundFrame): Promise<void> {
    const key = deviceKey(frame.to, frame.deviceId);
    this.mailboxes.set(key, [...(this.mailboxes.get(key) ?? []), frame]);
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

  async fetchBundle(phoneNumber: string, deviceId: number): Promise<PreKeyBundle> {
    const entry = this.keys.get(deviceKey(phoneNumber, deviceId));
    if (!entry) throw new Error('no keys published for this device');
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
  /** A person's device uploads its keys (and becomes one of the person's devices). */
  publishDevice(phoneNumber: string, keys: DeviceKeys): void {
    this.store(phoneNumber, keys);
    const devices = this.devices.get(phoneNumber) ?? [];
    if (!devices.includes(keys.deviceId)) this.devices.set(phoneNumber, [...devices, keys.deviceId]);
  }

  /** Takes every frame waiting for a device. */
  collect(phoneNumber: string, deviceId: number): OutboundFrame[] {
    const key = deviceKey(phoneNumber, deviceId);
    const frames = this.mailboxes.get(key) ?? [];
    this.mailboxes.delete(key);
    return frames;
  }

  private store(owner: string, keys: Upload): void {
    const key = deviceKey(owner, keys.deviceId);
    const entry: Published = this.keys.get(key) ?? {
      registrationId: keys.registrationId,
      identityKey: keys.identityKey,
      signedPreKey: keys.signedPreKey,
      pool: [],
      lastResortKyber: undefined,
      kyberPool: [],
    };
    entry.signedPreKey = keys.signedPreKey;
    entry.pool.push(...keys.oneTimePreKeys);
    entry.lastResortKyber = keys.lastResortKyberPreKey ?? entry.lastResortKyber;
    entry.kyberPool.push(...(keys.oneTimeKyberPreKeys ?? []));
    this.keys.set(key, entry);
  }
}
