/**
 * A person's device on Signal's own Rust library, `@signalapp/libsignal-client@0.23.1`
 * (installed as `lsc-0-23`). In-memory stores built on the library's abstract store classes.
 * 0.23 predates Kyber: sessions are X3DH (protocol version 3).
 */
import type { PreKeyBundle } from '@parley/core';
import * as lsc from 'lsc-0-23';
import {
  type Address,
  type DeviceKeys,
  type PersonDevice,
  randomRegistrationId,
  type WireMessage,
} from './person.js';

const key = (address: lsc.ProtocolAddress) => `${address.name()}.${address.deviceId()}`;
const u8 = (bytes: Uint8Array) => Uint8Array.from(bytes);

export async function createLscPerson(deviceId = 1): Promise<PersonDevice> {
  const identity = lsc.IdentityKeyPair.generate();
  const registrationId = randomRegistrationId();
  const sessions = new Map<string, Buffer>();
  const identities = new Map<string, Buffer>();
  const preKeys = new Map<number, lsc.PreKeyRecord>();
  const signedPreKeys = new Map<number, lsc.SignedPreKeyRecord>();
  let nextKeyId = 1;

  class SessionStore extends lsc.SessionStore {
    async saveSession(address: lsc.ProtocolAddress, record: lsc.SessionRecord): Promise<void> {
      sessions.set(key(address), record.serialize());
    }
    async getSession(address: lsc.ProtocolAddress): Promise<lsc.SessionRecord | null> {
      const bytes = sessions.get(key(address));
      return bytes ? lsc.SessionRecord.deserialize(bytes) : null;
    }
    async getExistingSessions(addresses: lsc.ProtocolAddress[]): Promise<lsc.SessionRecord[]> {
      return Promise.all(
        addresses.map(async (address) => {
          const record = await this.getSession(address);
          if (!record) throw new Error(`no session for ${key(address)}`);
          return record;
        }),
      );
    }
  }

  class IdentityKeyStore extends lsc.IdentityKeyStore {
    async getIdentityKey(): Promise<lsc.PrivateKey> {
      return identity.privateKey;
    }
    async getLocalRegistrationId(): Promise<number> {
      return registrationId;
    }
    async saveIdentity(address: lsc.ProtocolAddress, publicKey: lsc.PublicKey): Promise<boolean> {
      const previous = identities.get(key(address));
      identities.set(key(address), publicKey.serialize());
      return previous !== undefined && !previous.equals(publicKey.serialize());
    }
    async isTrustedIdentity(address: lsc.ProtocolAddress, publicKey: lsc.PublicKey): Promise<boolean> {
      // Trust on first use: a changed identity key is refused.
      const known = identities.get(key(address));
      return known === undefined || known.equals(publicKey.serialize());
    }
    async getIdentity(address: lsc.ProtocolAddress): Promise<lsc.PublicKey | null> {
      const bytes = identities.get(key(address));
      return bytes ? lsc.PublicKey.deserialize(bytes) : null;
    }
  }

  class PreKeyStore extends lsc.PreKeyStore {
    async savePreKey(id: number, record: lsc.PreKeyRecord): Promise<void> {
      preKeys.set(id, record);
    }
    async getPreKey(id: number): Promise<lsc.PreKeyRecord> {
      const record = preKeys.get(id);
      if (!record) throw new Error(`no prekey ${id}`);
      return record;
    }
    async removePreKey(id: number): Promise<void> {
      preKeys.delete(id);
    }
  }

  class SignedPreKeyStore extends lsc.SignedPreKeyStore {
    async saveSignedPreKey(id: number, record: lsc.SignedPreKeyRecord): Promise<void> {
      signedPreKeys.set(id, record);
    }
    async getSignedPreKey(id: number): Promise<lsc.SignedPreKeyRecord> {
      const record = signedPreKeys.get(id);
      if (!record) throw new Error(`no signed prekey ${id}`);
      return record;
    }
  }

  const sessionStore = new SessionStore();
  const identityStore = new IdentityKeyStore();
  const preKeyStore = new PreKeyStore();
  const signedPreKeyStore = new SignedPreKeyStore();
  const addr = (remote: Address) => lsc.ProtocolAddress.new(remote.name, remote.deviceId);
  const pub = (bytes: Uint8Array) => lsc.PublicKey.deserialize(Buffer.from(bytes));

  return {
    library: '@signalapp/libsignal-client 0.23.1',
    deviceId,

    async createKeys(count: number): Promise<DeviceKeys> {
      const signedId = nextKeyId++;
      const signedPrivate = lsc.PrivateKey.generate();
      const signedPublic = signedPrivate.getPublicKey();
      const signature = identity.privateKey.sign(signedPublic.serialize());
      await signedPreKeyStore.saveSignedPreKey(
        signedId,
        lsc.SignedPreKeyRecord.new(signedId, Date.now(), signedPublic, signedPrivate, signature),
      );
      const oneTimePreKeys: { id: number; publicKey: Uint8Array }[] = [];
      for (let i = 0; i < count; i++) {
        const id = nextKeyId++;
        const privateKey = lsc.PrivateKey.generate();
        await preKeyStore.savePreKey(id, lsc.PreKeyRecord.new(id, privateKey.getPublicKey(), privateKey));
        oneTimePreKeys.push({ id, publicKey: u8(privateKey.getPublicKey().serialize()) });
      }
      return {
        deviceId,
        registrationId,
        identityKey: u8(identity.publicKey.serialize()),
        signedPreKey: { id: signedId, publicKey: u8(signedPublic.serialize()), signature: u8(signature) },
        oneTimePreKeys,
      };
    },

    async startSession(remote: Address, bundle: PreKeyBundle): Promise<void> {
      const withOneTime = bundle.preKeyId !== undefined && bundle.preKey !== undefined;
      const preKeyBundle = lsc.PreKeyBundle.new(
        bundle.registrationId,
        bundle.deviceId,
        withOneTime ? bundle.preKeyId! : null,
        withOneTime ? pub(bundle.preKey!) : null,
        bundle.signedPreKeyId,
        pub(bundle.signedPreKey),
        Buffer.from(bundle.signedPreKeySignature),
        pub(bundle.identityKey),
      );
      await lsc.processPreKeyBundle(preKeyBundle, addr(remote), sessionStore, identityStore);
    },

    async hasSession(remote: Address): Promise<boolean> {
      return (await sessionStore.getSession(addr(remote)))?.hasCurrentState() ?? false;
    },

    async encrypt(remote: Address, plaintext: Uint8Array): Promise<WireMessage> {
      const message = await lsc.signalEncrypt(
        Buffer.from(plaintext),
        addr(remote),
        sessionStore,
        identityStore,
      );
      const type = message.type();
      if (type !== 2 && type !== 3) throw new Error(`unexpected message type ${type}`);
      return { type, body: u8(message.serialize()) };
    },

    async decrypt(remote: Address, message: WireMessage): Promise<Uint8Array> {
      const body = Buffer.from(message.body);
      const plaintext =
        message.type === 3
          ? await lsc.signalDecryptPreKey(
              lsc.PreKeySignalMessage.deserialize(body),
              addr(remote),
              sessionStore,
              identityStore,
              preKeyStore,
              signedPreKeyStore,
            )
          : await lsc.signalDecrypt(
              lsc.SignalMessage.deserialize(body),
              addr(remote),
              sessionStore,
              identityStore,
            );
      return u8(plaintext);
    },
  };
}
