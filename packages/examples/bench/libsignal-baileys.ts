/**
 * libsignal 6.0.0 (the WhiskeySockets fork of libsignal-node) driven as its main user drives
 * it: Baileys' signal repository over `makeCacheableSignalKeyStore`. libsignal itself ships no
 * store; Baileys keeps each session as the plain object `record.serialize()` returns (base64
 * strings, no JSON text) in an in-memory cache in front of its key files, calls
 * `SessionRecord.deserialize` on every load and `serialize()` on every save, and trusts every
 * identity. This party does the same on the cache path (the files behind the cache are not
 * written; Parley's row uses its memory store, which writes nothing to disk either).
 *
 * Messages and keys pass as the Buffers the library wants, without the test adapter's copies.
 */
import libsignal6 from 'libsignal-6';
import type { PeerAddress, PeerBundle } from '../../core/test/peers/types.js';
import type { BenchParty } from './libs.js';

type Api = LibsignalNode.Module;
type KeyPair = LibsignalNode.KeyPair;

const api = libsignal6 as unknown as Api;

interface BaileysMessage {
  readonly type: 1 | 3;
  readonly body: Buffer;
}

let nextKeyId = 1;
function freshKeyId(): number {
  const id = nextKeyId;
  nextKeyId = (nextKeyId % 0xfffff) + 1;
  return id;
}

export function createBaileysStyleParty(address: PeerAddress): BenchParty {
  const identity = api.keyhelper.generateIdentityKeyPair();
  const registrationId = api.keyhelper.generateRegistrationId();
  /** What Baileys' cache holds per session: the serialized object, decoded on every load. */
  const sessions = new Map<string, LibsignalNode.SerializedRecord>();
  const preKeys = new Map<number, KeyPair>();
  const signedPreKeys = new Map<number, KeyPair>();

  const storage: LibsignalNode.Storage = {
    async loadSession(id) {
      const stored = sessions.get(id);
      return stored === undefined ? undefined : api.SessionRecord.deserialize(stored);
    },
    async storeSession(id, record) {
      sessions.set(id, record.serialize());
    },
    // Baileys: "TOFU - Trust on First Use (same as WhatsApp Web)", implemented as always true.
    isTrustedIdentity: async () => true,
    async loadPreKey(id) {
      return id === undefined ? undefined : preKeys.get(id);
    },
    async removePreKey(id) {
      preKeys.delete(id);
    },
    async loadSignedPreKey(id) {
      return signedPreKeys.get(id);
    },
    getOurRegistrationId: async () => registrationId,
    getOurIdentity: async () => identity,
  };
  let signed: ReturnType<Api['keyhelper']['generateSignedPreKey']> | undefined;
  const addr = (remote: PeerAddress) => new api.ProtocolAddress(remote.name, remote.deviceId);

  return {
    address,
    createBundle(): PeerBundle {
      // One signed prekey per party, as a client keeps one for weeks; one-time prekeys are fresh.
      if (!signed) {
        signed = api.keyhelper.generateSignedPreKey(identity, freshKeyId());
        signedPreKeys.set(signed.keyId, signed.keyPair);
      }
      const pre = api.keyhelper.generatePreKey(freshKeyId());
      preKeys.set(pre.keyId, pre.keyPair);
      return {
        registrationId,
        deviceId: address.deviceId,
        identityKey: identity.pubKey,
        signedPreKeyId: signed.keyId,
        signedPreKey: signed.keyPair.pubKey,
        signedPreKeySignature: signed.signature,
        preKeyId: pre.keyId,
        preKey: pre.keyPair.pubKey,
      };
    },
    async processBundle(remote, value) {
      const bundle = value as PeerBundle;
      await new api.SessionBuilder(storage, addr(remote)).initOutgoing({
        identityKey: bundle.identityKey as Buffer,
        registrationId: bundle.registrationId,
        signedPreKey: {
          keyId: bundle.signedPreKeyId,
          publicKey: bundle.signedPreKey as Buffer,
          signature: bundle.signedPreKeySignature as Buffer,
        },
        preKey: { keyId: bundle.preKeyId!, publicKey: bundle.preKey as Buffer },
      });
    },
    async encrypt(remote, plaintext): Promise<BaileysMessage> {
      const out = await new api.SessionCipher(storage, addr(remote)).encrypt(
        Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength),
      );
      return { type: out.type, body: out.body };
    },
    async decrypt(remote, value) {
      const message = value as BaileysMessage;
      const cipher = new api.SessionCipher(storage, addr(remote));
      return message.type === 3
        ? cipher.decryptPreKeyWhisperMessage(message.body)
        : cipher.decryptWhisperMessage(message.body);
    },
    recordSize(remote) {
      // On disk Baileys writes the object as JSON (BufferJSON): that is the size of a record.
      const stored = sessions.get(`${remote.name}.${remote.deviceId}`);
      return stored === undefined ? undefined : Buffer.byteLength(JSON.stringify(stored));
    },
  };
}
