/**
 * Peers over the `libsignal` npm package (libsignal-node): 6.0.0 (the WhiskeySockets fork that
 * WhatsApp-Web tooling uses) and 2.0.1 (ForstaLabs). v3 only (X3DH + Double Ratchet).
 *
 * Quirks handled here:
 * - every key and message must be a `Buffer` instance (the libraries check `instanceof Buffer`);
 *   public keys are 33-byte 0x05-prefixed, private keys 32 bytes;
 * - `encrypt` returns type 1 for a whisper message (libsignal's 2) and a Buffer body;
 * - both reject a version byte whose low nibble is above 3 (libsignal-client ≥ 0.24 writes 0x34);
 * - storage is duck-typed; `isTrustedIdentity` receives the bare name from initOutgoing/encrypt
 *   but "name.device" from initIncoming, so trust is keyed by the name part;
 * - there is no saveIdentity: with trust-on-first-use the first key seen is pinned by
 *   isTrustedIdentity itself;
 * - 6.0.0 never verifies the signed-prekey signature; 2.0.1 does (throws "Invalid signature").
 */
import libsignal2 from 'libsignal-2';
import libsignal6 from 'libsignal-6';
import {
  addressKey,
  type CreateBundleOptions,
  type PeerAddress,
  type PeerBundle,
  type PeerClient,
  type PeerFactory,
  type PeerMessage,
  randomRegistrationId,
  type TrustMode,
  toBuffer,
  toU8,
} from './types.js';

type Api = LibsignalNode.Module;
type KeyPair = LibsignalNode.KeyPair;

const modules = {
  'libsignal-6.0.0': libsignal6 as unknown as Api,
  'libsignal-2.0.1': libsignal2,
} as const;

export type LibsignalNodeKind = keyof typeof modules;

export interface LibsignalNodePeerOptions {
  trust?: TrustMode;
}

let nextKeyId = 1;
function freshKeyId(): number {
  const id = nextKeyId;
  nextKeyId = (nextKeyId % 0xfffff) + 1;
  return id;
}

export async function createLibsignalNodePeer(
  kind: LibsignalNodeKind,
  address: PeerAddress,
  options: LibsignalNodePeerOptions = {},
): Promise<PeerClient> {
  const api = modules[kind];
  const trust = options.trust ?? 'tofu';
  const identity = api.keyhelper.generateIdentityKeyPair();
  const registrationId = randomRegistrationId();

  /** Serialized (JSON) session records, keyed "name.device" as the library does. */
  const sessions = new Map<string, string>();
  const identities = new Map<string, Buffer>();
  const preKeys = new Map<number, KeyPair>();
  const signedPreKeys = new Map<number, KeyPair>();

  const storage: LibsignalNode.Storage = {
    async loadSession(id) {
      const json = sessions.get(id);
      return json === undefined ? undefined : api.SessionRecord.deserialize(JSON.parse(json));
    },
    async storeSession(id, record) {
      sessions.set(id, JSON.stringify(record.serialize()));
    },
    async isTrustedIdentity(identifier, identityKey) {
      if (trust === 'always') return true;
      const name = identifier.replace(/\.\d+$/, '');
      const known = identities.get(name);
      if (!known) {
        identities.set(name, Buffer.from(identityKey));
        return true;
      }
      return known.equals(identityKey);
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

  const addr = (remote: PeerAddress) => new api.ProtocolAddress(remote.name, remote.deviceId);
  const cipher = (remote: PeerAddress) => new api.SessionCipher(storage, addr(remote));

  return {
    kind,
    address,
    identityKey: toU8(identity.pubKey),
    registrationId,

    async createBundle(opts: CreateBundleOptions = {}): Promise<PeerBundle> {
      if (opts.kyber) throw new Error(`${kind} has no Kyber support`);
      const signed = api.keyhelper.generateSignedPreKey(identity, freshKeyId());
      signedPreKeys.set(signed.keyId, signed.keyPair);
      const bundle: PeerBundle = {
        registrationId,
        deviceId: address.deviceId,
        identityKey: toU8(identity.pubKey),
        signedPreKeyId: signed.keyId,
        signedPreKey: toU8(signed.keyPair.pubKey),
        signedPreKeySignature: toU8(signed.signature),
      };
      if (opts.oneTimePreKey ?? true) {
        const pre = api.keyhelper.generatePreKey(freshKeyId());
        preKeys.set(pre.keyId, pre.keyPair);
        bundle.preKeyId = pre.keyId;
        bundle.preKey = toU8(pre.keyPair.pubKey);
      }
      return bundle;
    },

    async processBundle(remote: PeerAddress, b: PeerBundle): Promise<void> {
      // Kyber fields, if any, are ignored: this library only does X3DH.
      const device: LibsignalNode.Device = {
        identityKey: toBuffer(b.identityKey),
        registrationId: b.registrationId,
        signedPreKey: {
          keyId: b.signedPreKeyId,
          publicKey: toBuffer(b.signedPreKey),
          signature: toBuffer(b.signedPreKeySignature),
        },
      };
      if (b.preKey && b.preKeyId !== undefined) {
        device.preKey = { keyId: b.preKeyId, publicKey: toBuffer(b.preKey) };
      }
      await new api.SessionBuilder(storage, addr(remote)).initOutgoing(device);
    },

    async encrypt(remote: PeerAddress, plaintext: Uint8Array): Promise<PeerMessage> {
      const out = await cipher(remote).encrypt(toBuffer(plaintext));
      // libsignal-node numbers a whisper message 1; libsignal uses 2.
      const type = out.type === 3 ? 3 : out.type === 1 ? 2 : undefined;
      if (type === undefined) throw new Error(`${kind}: unexpected message type ${out.type}`);
      return { type, body: toU8(out.body) };
    },

    async decrypt(remote: PeerAddress, message: PeerMessage): Promise<Uint8Array> {
      const c = cipher(remote);
      const body = toBuffer(message.body);
      const out =
        message.type === 3 ? await c.decryptPreKeyWhisperMessage(body) : await c.decryptWhisperMessage(body);
      return toU8(out);
    },

    async hasSession(remote: PeerAddress): Promise<boolean> {
      return cipher(remote).hasOpenSession();
    },

    async sessionRecordSize(remote: PeerAddress): Promise<number | undefined> {
      const json = sessions.get(addressKey(remote));
      return json === undefined ? undefined : Buffer.byteLength(json);
    },
  };
}

export function libsignalNodePeerFactory(
  kind: LibsignalNodeKind,
  options: LibsignalNodePeerOptions = {},
): PeerFactory {
  return (address) => createLibsignalNodePeer(kind, address, options);
}

export const libsignalNodeFactories: Record<string, PeerFactory> = {
  'libsignal-6.0.0': libsignalNodePeerFactory('libsignal-6.0.0'),
  'libsignal-2.0.1': libsignalNodePeerFactory('libsignal-2.0.1'),
};
