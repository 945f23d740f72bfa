/**
 * A person whose devices run `libsignal@6.0.0` (libsignal-node, the fork WhatsApp-Web
 * tooling uses) instead of Parley: proof that a Parley-served business talks to an
 * independent implementation. X3DH (v3) only; its devices share one identity key.
 *
 * Library quirks handled here: it wants `Buffer`s everywhere, numbers a whisper message 1
 * (libsignal: 2), and its shipped typings are inaccurate, so the few calls used are typed below.
 */
import {
  DEFAULT_PADDING_BLOCK,
  type OutboundFrame,
  type PreKeyBundle,
  padContent,
  unpadContent,
} from '@parley/core';
import type { NetworkPerson, PersonLink, PersonMessage } from '@parley/core/testing';
import libsignalModule from 'libsignal-6';

interface KeyPair {
  pubKey: Buffer;
  privKey: Buffer;
}
interface Storage {
  loadSession(id: string): Promise<unknown>;
  storeSession(id: string, record: { serialize(): unknown }): Promise<void>;
  isTrustedIdentity(identifier: string, identityKey: Buffer): Promise<boolean>;
  loadPreKey(id: number | undefined): Promise<KeyPair | undefined>;
  removePreKey(id: number): Promise<void>;
  loadSignedPreKey(id: number): Promise<KeyPair | undefined>;
  getOurRegistrationId(): Promise<number>;
  getOurIdentity(): Promise<KeyPair>;
}
interface Api {
  keyhelper: {
    generateIdentityKeyPair(): KeyPair;
    generateRegistrationId(): number;
    generateSignedPreKey(
      identity: KeyPair,
      keyId: number,
    ): { keyId: number; keyPair: KeyPair; signature: Buffer };
    generatePreKey(keyId: number): { keyId: number; keyPair: KeyPair };
  };
  ProtocolAddress: new (name: string, deviceId: number) => unknown;
  SessionBuilder: new (
    storage: Storage,
    address: unknown,
  ) => { initOutgoing(device: unknown): Promise<void> };
  SessionCipher: new (
    storage: Storage,
    address: unknown,
  ) => {
    encrypt(data: Buffer): Promise<{ type: number; body: Buffer }>;
    decryptPreKeyWhisperMessage(data: Buffer): Promise<Buffer>;
    decryptWhisperMessage(data: Buffer): Promise<Buffer>;
    hasOpenSession(): Promise<boolean>;
  };
  SessionRecord: { deserialize(data: unknown): unknown };
}

const api = libsignalModule as unknown as Api;

interface Device {
  readonly deviceId: number;
  readonly storage: Storage;
  readonly preKeys: Map<number, KeyPair>;
  readonly signedPreKeys: Map<number, KeyPair>;
  nextKeyId: number;
}

export class LibsignalPerson implements NetworkPerson {
  readonly kind = 'libsignal@6.0.0';
  readonly received: PersonMessage[] = [];
  private link: PersonLink | undefined;
  private frames = 0;

  private constructor(
    readonly phoneNumber: string,
    private readonly devices: Device[],
  ) {}

  /** Devices share one identity key pair; each has its own registration id and stores. */
  static create(phoneNumber: string, deviceCount: number): LibsignalPerson {
    const identity = api.keyhelper.generateIdentityKeyPair();
    const devices = Array.from({ length: deviceCount }, (_, index) => createDevice(index + 1, identity));
    return new LibsignalPerson(phoneNumber, devices);
  }

  get deviceIds(): number[] {
    return this.devices.map((device) => device.deviceId);
  }

  attach(link: PersonLink): void {
    this.link = link;
  }

  async bundle(deviceId: number): Promise<PreKeyBundle> {
    const device = this.device(deviceId);
    const identity = await device.storage.getOurIdentity();
    const signed = api.keyhelper.generateSignedPreKey(identity, device.nextKeyId++);
    const pre = api.keyhelper.generatePreKey(device.nextKeyId++);
    device.signedPreKeys.set(signed.keyId, signed.keyPair);
    device.preKeys.set(pre.keyId, pre.keyPair);
    return {
      registrationId: await device.storage.getOurRegistrationId(),
      deviceId,
      identityKey: new Uint8Array(identity.pubKey),
      signedPreKeyId: signed.keyId,
      signedPreKey: new Uint8Array(signed.keyPair.pubKey),
      signedPreKeySignature: new Uint8Array(signed.signature),
      preKeyId: pre.keyId,
      preKey: new Uint8Array(pre.keyPair.pubKey),
    };
  }

  /** Encrypts to a business number (X3DH from the directory's bundle first if needed) and hands the frame to the network. */
  async send(to: string, text: string, options: { readonly deviceId?: number } = {}): Promise<OutboundFrame> {
    const link = this.link;
    if (!link) throw new Error('the person is not on a network');
    const device = this.device(options.deviceId ?? 1);
    const address = new api.ProtocolAddress(to, 1);
    if (!(await new api.SessionCipher(device.storage, address).hasOpenSession())) {
      // This library speaks X3DH only: ask the directory for a bundle without Kyber.
      const bundle = await link.businessBundle(to);
      await new api.SessionBuilder(device.storage, address).initOutgoing({
        identityKey: Buffer.from(bundle.identityKey),
        registrationId: bundle.registrationId,
        signedPreKey: {
          keyId: bundle.signedPreKeyId,
          publicKey: Buffer.from(bundle.signedPreKey),
          signature: Buffer.from(bundle.signedPreKeySignature),
        },
        preKey:
          bundle.preKey && bundle.preKeyId !== undefined
            ? { keyId: bundle.preKeyId, publicKey: Buffer.from(bundle.preKey) }
            : undefined,
      });
    }
    const out = await new api.SessionCipher(device.storage, address).encrypt(
      Buffer.from(padContent(new TextEncoder().encode(text), DEFAULT_PADDING_BLOCK)),
    );
    this.frames += 1;
    const frame = {
      frameId: `ls-${this.frames}`,
      to,
      from: this.phoneNumber,
      deviceId: device.deviceId,
      type: out.type === 3 ? (3 as const) : (2 as const),
      body: new Uint8Array(out.body),
    };
    await link.submitFrame(frame);
    return frame;
  }

  async receive(frame: OutboundFrame): Promise<PersonMessage> {
    const device = this.device(frame.deviceId);
    const cipher = new api.SessionCipher(device.storage, new api.ProtocolAddress(frame.from, 1));
    const body = Buffer.from(frame.body);
    const padded =
      frame.type === 3
        ? await cipher.decryptPreKeyWhisperMessage(body)
        : await cipher.decryptWhisperMessage(body);
    const content = unpadContent(new Uint8Array(padded));
    const message: PersonMessage = {
      from: frame.from,
      deviceId: device.deviceId,
      frameId: frame.frameId,
      content,
      text: new TextDecoder().decode(content),
    };
    this.received.push(message);
    await this.link?.submitReceipt({ frameId: frame.frameId });
    return message;
  }

  textsFrom(number: string): string[] {
    return this.received.filter((message) => message.from === number).map((message) => message.text);
  }

  private device(deviceId: number): Device {
    const device = this.devices.find((candidate) => candidate.deviceId === deviceId);
    if (!device) throw new Error('no such device');
    return device;
  }
}

function createDevice(deviceId: number, identity: KeyPair): Device {
  const registrationId = api.keyhelper.generateRegistrationId();
  const sessions = new Map<string, string>();
  const preKeys = new Map<number, KeyPair>();
  const signedPreKeys = new Map<number, KeyPair>();
  const storage: Storage = {
    loadSession: async (id) => {
      const json = sessions.get(id);
      return json === undefined ? undefined : api.SessionRecord.deserialize(JSON.parse(json));
    },
    storeSession: async (id, record) => {
      sessions.set(id, JSON.stringify(record.serialize()));
    },
    // The gateway is the only peer here; a real client would pin identities.
    isTrustedIdentity: async () => true,
    loadPreKey: async (id) => (id === undefined ? undefined : preKeys.get(id)),
    removePreKey: async (id) => {
      preKeys.delete(id);
    },
    loadSignedPreKey: async (id) => signedPreKeys.get(id),
    getOurRegistrationId: async () => registrationId,
    getOurIdentity: async () => identity,
  };
  return { deviceId, storage, preKeys, signedPreKeys, nextKeyId: 1 };
}
