/**
 * A person's device on `libsignal@6.0.0` (the libsignal-node fork WhatsApp-Web tooling uses;
 * installed as `libsignal-6`), pure JavaScript, X3DH + Double Ratchet (protocol version 3).
 *
 * Its quirks, handled here: keys and messages must be `Buffer`s; `encrypt` numbers a whisper
 * message 1 (libsignal says 2); storage is duck-typed, and `isTrustedIdentity` gets the bare
 * name when sending but "name.device" when a session is started by an incoming message.
 * The package's own `index.d.ts` is inaccurate, so the slice we use is typed here.
 */
import type { PreKeyBundle } from '@parley/core';
import libsignalModule from 'libsignal-6';
import {
  type Address,
  type DeviceKeys,
  type PersonDevice,
  randomRegistrationId,
  type WireMessage,
} from './person.js';

interface KeyPair {
  pubKey: Buffer;
  privKey: Buffer;
}
interface SerializedRecord {
  readonly _sessions: Record<string, unknown>;
  readonly version: string;
}
interface SessionRecord {
  serialize(): SerializedRecord;
}
interface Storage {
  loadSession(id: string): Promise<SessionRecord | undefined>;
  storeSession(id: string, record: SessionRecord): Promise<void>;
  isTrustedIdentity(identifier: string, identityKey: Buffer): Promise<boolean>;
  loadPreKey(id: number | undefined): Promise<KeyPair | undefined>;
  removePreKey(id: number): Promise<void>;
  loadSignedPreKey(id: number): Promise<KeyPair | undefined>;
  getOurRegistrationId(): Promise<number>;
  getOurIdentity(): Promise<KeyPair>;
}
interface ProtocolAddress {
  toString(): string;
}
interface Device {
  identityKey: Buffer;
  registrationId: number;
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  preKey?: { keyId: number; publicKey: Buffer };
}
interface LibsignalNode {
  keyhelper: {
    generateIdentityKeyPair(): KeyPair;
    generateSignedPreKey(
      identity: KeyPair,
      keyId: number,
    ): { keyId: number; keyPair: KeyPair; signature: Buffer };
    generatePreKey(keyId: number): { keyId: number; keyPair: KeyPair };
  };
  ProtocolAddress: new (name: string, deviceId: number) => ProtocolAddress;
  SessionBuilder: new (
    storage: Storage,
    address: ProtocolAddress,
  ) => { initOutgoing(device: Device): Promise<void> };
  SessionCipher: new (
    storage: Storage,
    address: ProtocolAddress,
  ) => {
    encrypt(data: Buffer): Promise<{ type: number; body: Buffer }>;
    decryptPreKeyWhisperMessage(data: Buffer): Promise<Buffer>;
    decryptWhisperMessage(data: Buffer): Promise<Buffer>;
    hasOpenSession(): Promise<boolean>;
  };
  SessionRecord: { deserialize(data: SerializedRecord): SessionRecord };
}

const libsignal = libsignalModule as unknown as LibsignalNode;
const u8 = (bytes: Uint8Array) => Uint8Array.from(bytes);

export async function createLibsignalNodePerson(deviceId = 1): Promise<PersonDevice> {
  const identity = libsignal.keyhelper.generateIdentityKeyPair();
  const registrationId = randomRegistrationId();
  /** Session records as a real app would persist them: serialized JSON. */
  const sessions = new Map<string, string>();
  const identities = new Map<string, Buffer>();
  const preKeys = new Map<number, KeyPair>();
  const signedPreKeys = new Map<number, KeyPair>();
  let nextKeyId = 1;

  const storage: Storage = {
    async loadSession(id) {
      const json = sessions.get(id);
      return json === undefined ? undefined : libsignal.SessionRecord.deserialize(JSON.parse(json));
    },
    async storeSession(id, record) {
      sessions.set(id, JSON.stringify(record.serialize()));
    },
    async isTrustedIdentity(identifier, identityKey) {
      // Trust on first use, keyed by the name part (see the quirk above).
      const name = identifier.replace(/\.\d+$/, '');
      const known = identities.get(name);
      if (!known) identities.set(name, Buffer.from(identityKey));
      return !known || known.equals(identityKey);
    },
    async loadPreKey(id) {
      return id === undefined ? undefined : preKeys.get(id);
    },
    async removePreKey(id) {
      preKeys.delete(id);
    },
    async loadSignedPreKey(id) {
      return signedPreKeys.get(id);
    },
    async getOurRegistrationId() {
      return registrationId;
    },
    async getOurIdentity() {
      return identity;
    },
  };
  const addr = (remote: Address) => new libsignal.ProtocolAddress(remote.name, remote.deviceId);
  const cipher = (remote: Address) => new libsignal.SessionCipher(storage, addr(remote));

  return {
    library: 'libsignal (libsignal-node) 6.0.0',
    deviceId,

    async createKeys(count: number): Promise<DeviceKeys> {
      const signed = libsignal.keyhelper.generateSignedPreKey(identity, nextKeyId++);
      signedPreKeys.set(signed.keyId, signed.keyPair);
      const oneTimePreKeys: { id: number; publicKey: Uint8Array }[] = [];
      for (let i = 0; i < count; i++) {
        const preKey = libsignal.keyhelper.generatePreKey(nextKeyId++);
        preKeys.set(preKey.keyId, preKey.keyPair);
        oneTimePreKeys.push({ id: preKey.keyId, publicKey: u8(preKey.keyPair.pubKey) });
      }
      return {
        deviceId,
        registrationId,
        identityKey: u8(identity.pubKey),
        signedPreKey: {
          id: signed.keyId,
          publicKey: u8(signed.keyPair.pubKey),
          signature: u8(signed.signature),
        },
        oneTimePreKeys,
      };
    },

    async startSession(remote: Address, bundle: PreKeyBundle): Promise<void> {
      const device: Device = {
        identityKey: Buffer.from(bundle.identityKey),
        registrationId: bundle.registrationId,
        signedPreKey: {
          keyId: bundle.signedPreKeyId,
          publicKey: Buffer.from(bundle.signedPreKey),
          signature: Buffer.from(bundle.signedPreKeySignature),
        },
      };
      if (bundle.preKeyId !== undefined && bundle.preKey) {
        device.preKey = { keyId: bundle.preKeyId, publicKey: Buffer.from(bundle.preKey) };
      }
      await new libsignal.SessionBuilder(storage, addr(remote)).initOutgoing(device);
    },

    hasSession: (remote: Address) => cipher(remote).hasOpenSession(),

    async encrypt(remote: Address, plaintext: Uint8Array): Promise<WireMessage> {
      const out = await cipher(remote).encrypt(Buffer.from(plaintext));
      const type = out.type === 3 ? 3 : out.type === 1 ? 2 : undefined;
      if (type === undefined) throw new Error(`unexpected message type ${out.type}`);
      return { type, body: u8(out.body) };
    },

    async decrypt(remote: Address, message: WireMessage): Promise<Uint8Array> {
      const body = Buffer.from(message.body);
      const c = cipher(remote);
      return u8(
        message.type === 3 ? await c.decryptPreKeyWhisperMessage(body) : await c.decryptWhisperMessage(body),
      );
    },
  };
}
