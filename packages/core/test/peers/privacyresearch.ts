/**
 * Peer over @privacyresearch/libsignal-protocol-typescript 0.0.16 (a TypeScript port of
 * libsignal-protocol-javascript). v3 only (X3DH + Double Ratchet).
 *
 * Quirks handled here:
 * - keys and plaintexts are `ArrayBuffer`s (exact-length copies: it checks `instanceof ArrayBuffer`
 *   and reads whole buffers, so a view into a larger buffer would leak bytes);
 * - `encrypt` returns the body as a *binary string* (one char per byte), type 1 for whisper
 *   (libsignal's 2) and 3 for prekey; decrypt accepts an ArrayBuffer;
 * - it rejects a version byte whose low nibble is above 3;
 * - crypto comes from WebCrypto (`globalThis.crypto`, present in Node ≥ 20);
 * - its identity check on incoming prekey messages is not awaited (a changed identity is
 *   silently accepted), so 'tofu' only really protects the sending side.
 */
import {
  type Direction,
  KeyHelper,
  type KeyPairType,
  SessionBuilder,
  SessionCipher,
  SignalProtocolAddress,
  type StorageType,
} from '@privacyresearch/libsignal-protocol-typescript';
import {
  addressKey,
  bytesEqual,
  type CreateBundleOptions,
  type PeerAddress,
  type PeerBundle,
  type PeerClient,
  type PeerFactory,
  type PeerMessage,
  randomRegistrationId,
  type TrustMode,
  toArrayBuffer,
  toU8,
} from './types.js';

export const PRIVACYRESEARCH_KIND = 'privacyresearch-0.0.16';

export interface PrivacyResearchPeerOptions {
  trust?: TrustMode;
}

let nextKeyId = 1;
function freshKeyId(): number {
  const id = nextKeyId;
  nextKeyId = (nextKeyId % 0xfffff) + 1;
  return id;
}

function binaryStringToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff)
      throw new Error(`privacyresearch: non-binary character 0x${c.toString(16)} in message body`);
    out[i] = c;
  }
  return out;
}

export async function createPrivacyResearchPeer(
  address: PeerAddress,
  options: PrivacyResearchPeerOptions = {},
): Promise<PeerClient> {
  const trust = options.trust ?? 'tofu';
  const identity = await KeyHelper.generateIdentityKeyPair();
  const registrationId = randomRegistrationId();

  const sessions = new Map<string, string>();
  const identities = new Map<string, Uint8Array>();
  const preKeys = new Map<string, KeyPairType>();
  const signedPreKeys = new Map<string, KeyPairType>();
  /** Identity keys are addressed both as "name" and "name.device": key by name. */
  const nameOf = (identifier: string) => identifier.replace(/\.\d+$/, '');

  const storage: StorageType = {
    async getIdentityKeyPair() {
      return identity;
    },
    async getLocalRegistrationId() {
      return registrationId;
    },
    async isTrustedIdentity(identifier, identityKey, _direction: Direction) {
      if (trust === 'always') return true;
      const known = identities.get(nameOf(identifier));
      return known === undefined || bytesEqual(known, new Uint8Array(identityKey));
    },
    async saveIdentity(encodedAddress, publicKey) {
      const name = nameOf(encodedAddress);
      const bytes = toU8(publicKey);
      const known = identities.get(name);
      identities.set(name, bytes);
      return known !== undefined && !bytesEqual(known, bytes);
    },
    async loadPreKey(keyId) {
      return preKeys.get(String(keyId));
    },
    async storePreKey(keyId, keyPair) {
      preKeys.set(String(keyId), keyPair);
    },
    async removePreKey(keyId) {
      preKeys.delete(String(keyId));
    },
    async storeSession(encodedAddress, record) {
      sessions.set(encodedAddress, record);
    },
    async loadSession(encodedAddress) {
      return sessions.get(encodedAddress);
    },
    async loadSignedPreKey(keyId) {
      return signedPreKeys.get(String(keyId));
    },
    async storeSignedPreKey(keyId, keyPair) {
      signedPreKeys.set(String(keyId), keyPair);
    },
    async removeSignedPreKey(keyId) {
      signedPreKeys.delete(String(keyId));
    },
  };

  const addr = (remote: PeerAddress) => new SignalProtocolAddress(remote.name, remote.deviceId);
  const cipher = (remote: PeerAddress) => new SessionCipher(storage, addr(remote));

  return {
    kind: PRIVACYRESEARCH_KIND,
    address,
    identityKey: toU8(identity.pubKey),
    registrationId,

    async createBundle(opts: CreateBundleOptions = {}): Promise<PeerBundle> {
      if (opts.kyber) throw new Error(`${PRIVACYRESEARCH_KIND} has no Kyber support`);
      const signed = await KeyHelper.generateSignedPreKey(identity, freshKeyId());
      await storage.storeSignedPreKey(signed.keyId, signed.keyPair);
      const bundle: PeerBundle = {
        registrationId,
        deviceId: address.deviceId,
        identityKey: toU8(identity.pubKey),
        signedPreKeyId: signed.keyId,
        signedPreKey: toU8(signed.keyPair.pubKey),
        signedPreKeySignature: toU8(signed.signature),
      };
      if (opts.oneTimePreKey ?? true) {
        const pre = await KeyHelper.generatePreKey(freshKeyId());
        await storage.storePreKey(pre.keyId, pre.keyPair);
        bundle.preKeyId = pre.keyId;
        bundle.preKey = toU8(pre.keyPair.pubKey);
      }
      return bundle;
    },

    async processBundle(remote: PeerAddress, b: PeerBundle): Promise<void> {
      // Kyber fields, if any, are ignored: this library only does X3DH.
      await new SessionBuilder(storage, addr(remote)).processPreKey({
        identityKey: toArrayBuffer(b.identityKey),
        registrationId: b.registrationId,
        signedPreKey: {
          keyId: b.signedPreKeyId,
          publicKey: toArrayBuffer(b.signedPreKey),
          signature: toArrayBuffer(b.signedPreKeySignature),
        },
        ...(b.preKey && b.preKeyId !== undefined
          ? { preKey: { keyId: b.preKeyId, publicKey: toArrayBuffer(b.preKey) } }
          : {}),
      });
    },

    async encrypt(remote: PeerAddress, plaintext: Uint8Array): Promise<PeerMessage> {
      const out = await cipher(remote).encrypt(toArrayBuffer(plaintext));
      if (out.body === undefined) throw new Error(`${PRIVACYRESEARCH_KIND}: encrypt returned no body`);
      // type 1 = whisper (libsignal's 2), 3 = prekey; the body is a binary string.
      const type = out.type === 3 ? 3 : out.type === 1 ? 2 : undefined;
      if (type === undefined) throw new Error(`${PRIVACYRESEARCH_KIND}: unexpected message type ${out.type}`);
      return { type, body: binaryStringToBytes(out.body) };
    },

    async decrypt(remote: PeerAddress, message: PeerMessage): Promise<Uint8Array> {
      const c = cipher(remote);
      const body = toArrayBuffer(message.body);
      const out =
        message.type === 3 ? await c.decryptPreKeyWhisperMessage(body) : await c.decryptWhisperMessage(body);
      return toU8(out);
    },

    async hasSession(remote: PeerAddress): Promise<boolean> {
      return cipher(remote).hasOpenSession();
    },

    async sessionRecordSize(remote: PeerAddress): Promise<number | undefined> {
      const record = sessions.get(addressKey(remote));
      return record === undefined ? undefined : Buffer.byteLength(record);
    },
  };
}

export const privacyResearchFactory: PeerFactory = (address) => createPrivacyResearchPeer(address);

export function privacyResearchPeerFactory(options: PrivacyResearchPeerOptions = {}): PeerFactory {
  return (address) => createPrivacyResearchPeer(address, options);
}
