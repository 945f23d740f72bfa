/**
 * `libsignal@6.0.0` (libsignal-node, the fork WhatsApp-Web tooling uses; installed as
 * `libsignal-6`), pure JavaScript, X3DH + Double Ratchet (protocol version 3): the slice of its
 * API the examples use, and one device's in-memory storage. Shared by the libsignal-peer
 * example's phone (libsignal-peer/person-libsignal-node.ts) and the demo's libsignal person
 * (src/libsignal-person.ts); nothing here comes from Parley.
 *
 * Its quirks: keys and messages must be `Buffer`s; `encrypt` numbers a whisper message 1
 * (libsignal says 2); storage is duck-typed, and `isTrustedIdentity` gets the bare name when
 * sending but "name.device" when a session is started by an incoming message. The package's
 * own `index.d.ts` is inaccurate, so the slice we use is typed here.
 */
import type { PreKeyBundle } from '@parley/core';
import libsignalModule from 'libsignal-6';

export interface KeyPair {
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
export interface Storage {
  loadSession(id: string): Promise<SessionRecord | undefined>;
  storeSession(id: string, record: SessionRecord): Promise<void>;
  isTrustedIdentity(identifier: string, identityKey: Buffer): Promise<boolean>;
  loadPreKey(id: number | undefined): Promise<KeyPair | undefined>;
  removePreKey(id: number): Promise<void>;
  loadSignedPreKey(id: number): Promise<KeyPair | undefined>;
  getOurRegistrationId(): Promise<number>;
  getOurIdentity(): Promise<KeyPair>;
}
export interface ProtocolAddress {
  toString(): string;
}
/** A remote device as `SessionBuilder.initOutgoing` wants it. */
interface Device {
  identityKey: Buffer;
  registrationId: number;
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  preKey?: { keyId: number; publicKey: Buffer };
}
interface SignedPreKeyPair {
  keyId: number;
  keyPair: KeyPair;
  signature: Buffer;
}
interface PreKeyPair {
  keyId: number;
  keyPair: KeyPair;
}
interface LibsignalNode {
  keyhelper: {
    generateIdentityKeyPair(): KeyPair;
    generateRegistrationId(): number;
    generateSignedPreKey(identity: KeyPair, keyId: number): SignedPreKeyPair;
    generatePreKey(keyId: number): PreKeyPair;
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

export const libsignal = libsignalModule as unknown as LibsignalNode;

export interface MemoryDeviceOptions {
  readonly identity: KeyPair;
  readonly registrationId: number;
  /** The trust decision for a remote identity key (see the quirk above for `identifier`). */
  readonly isTrustedIdentity: (identifier: string, identityKey: Buffer) => boolean;
}

/** One device's storage, and the prekeys it generates (kept in it; key ids count from 1). */
export interface MemoryDevice {
  readonly storage: Storage;
  newSignedPreKey(): SignedPreKeyPair;
  newPreKey(): PreKeyPair;
}

export function createMemoryDevice(options: MemoryDeviceOptions): MemoryDevice {
  const { identity, registrationId } = options;
  /** Session records as a real app would persist them: serialized JSON. */
  const sessions = new Map<string, string>();
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
      return options.isTrustedIdentity(identifier, identityKey);
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

  return {
    storage,
    newSignedPreKey() {
      const signed = libsignal.keyhelper.generateSignedPreKey(identity, nextKeyId++);
      signedPreKeys.set(signed.keyId, signed.keyPair);
      return signed;
    },
    newPreKey() {
      const preKey = libsignal.keyhelper.generatePreKey(nextKeyId++);
      preKeys.set(preKey.keyId, preKey.keyPair);
      return preKey;
    },
  };
}

/** Starts a session with a remote device from its bundle (X3DH: a Kyber prekey is ignored). */
export function startSession(storage: Storage, remote: ProtocolAddress, bundle: PreKeyBundle): Promise<void> {
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
  return new libsignal.SessionBuilder(storage, remote).initOutgoing(device);
}

/** Decrypts a message of libsignal type 3 (prekey) or 2 (whisper). */
export function decrypt(
  storage: Storage,
  remote: ProtocolAddress,
  type: 2 | 3,
  body: Buffer,
): Promise<Buffer> {
  const cipher = new libsignal.SessionCipher(storage, remote);
  return type === 3 ? cipher.decryptPreKeyWhisperMessage(body) : cipher.decryptWhisperMessage(body);
}
