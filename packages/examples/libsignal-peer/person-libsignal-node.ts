/**
 * A person's device on `libsignal@6.0.0` (the libsignal-node fork WhatsApp-Web tooling uses;
 * installed as `libsignal-6`), pure JavaScript, X3DH + Double Ratchet (protocol version 3).
 *
 * Its quirks (`Buffer`s everywhere, whisper messages numbered 1, trust lookups by bare name or
 * "name.device") and the typed slice of its API are in `../src/shared/libsignal-node.ts`,
 * which the demo's libsignal person uses too.
 */
import type { PreKeyBundle } from '@parley/core';
import { createMemoryDevice, decrypt, libsignal, startSession } from '../src/shared/libsignal-node.js';
import {
  type Address,
  type DeviceKeys,
  type PersonDevice,
  randomRegistrationId,
  type WireMessage,
} from './person.js';

const u8 = (bytes: Uint8Array) => Uint8Array.from(bytes);

export async function createLibsignalNodePerson(deviceId = 1): Promise<PersonDevice> {
  const identity = libsignal.keyhelper.generateIdentityKeyPair();
  const registrationId = randomRegistrationId();
  const identities = new Map<string, Buffer>();
  const { storage, newSignedPreKey, newPreKey } = createMemoryDevice({
    identity,
    registrationId,
    isTrustedIdentity(identifier, identityKey) {
      // Trust on first use, keyed by the name part (see the quirk above).
      const name = identifier.replace(/\.\d+$/, '');
      const known = identities.get(name);
      if (!known) identities.set(name, Buffer.from(identityKey));
      return !known || known.equals(identityKey);
    },
  });
  const addr = (remote: Address) => new libsignal.ProtocolAddress(remote.name, remote.deviceId);
  const cipher = (remote: Address) => new libsignal.SessionCipher(storage, addr(remote));

  return {
    library: 'libsignal (libsignal-node) 6.0.0',
    deviceId,

    async createKeys(count: number): Promise<DeviceKeys> {
      const signed = newSignedPreKey();
      const oneTimePreKeys: { id: number; publicKey: Uint8Array }[] = [];
      for (let i = 0; i < count; i++) {
        const preKey = newPreKey();
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

    startSession: (remote: Address, bundle: PreKeyBundle) => startSession(storage, addr(remote), bundle),

    hasSession: (remote: Address) => cipher(remote).hasOpenSession(),

    async encrypt(remote: Address, plaintext: Uint8Array): Promise<WireMessage> {
      const out = await cipher(remote).encrypt(Buffer.from(plaintext));
      const type = out.type === 3 ? 3 : out.type === 1 ? 2 : undefined;
      if (type === undefined) throw new Error(`unexpected message type ${out.type}`);
      return { type, body: u8(out.body) };
    },

    async decrypt(remote: Address, message: WireMessage): Promise<Uint8Array> {
      return u8(await decrypt(storage, addr(remote), message.type, Buffer.from(message.body)));
    },
  };
}
