/**
 * Peers over @signalapp/libsignal-client (native), one implementation for every installed
 * version. The versions differ in:
 * - argument lists: 0.103 adds a `localAddress` after the remote address to processPreKeyBundle /
 *   signalEncrypt / signalDecrypt / signalDecryptPreKey; 0.75.x adds a trailing `UsePQRatchet`
 *   switch to processPreKeyBundle and signalDecryptPreKey (0.76+ dropped it again: SPQR is always
 *   offered, with fallback up to 0.91, required from 0.92);
 * - PreKeyBundle.new: 8 arguments in 0.23 (no Kyber), Kyber optional in 0.72, required from 0.75;
 * - stores: no KyberPreKeyStore in 0.23; `saveIdentity` returns a boolean in 0.23 and an
 *   `IdentityChange` enum from 0.72; `markKyberPreKeyUsed` gains (signedPreKeyId, baseKey) later;
 * - byte types: Buffer in 0.23/0.72, Uint8Array from 0.75 (we always pass Buffers, which are both).
 */
import * as lsc023 from 'lsc-0-23';
import * as lsc072 from 'lsc-0-72';
import * as lsc075 from 'lsc-0-75';
import * as lsc090 from 'lsc-0-90';
import * as lsc0103 from 'lsc-0-103';
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

// ---- a minimal structural view of the libsignal-client API we use (all versions) ----

interface Serializable {
  serialize(): Uint8Array;
}
interface PublicKeyLike extends Serializable {
  readonly __publicKey?: never;
}
interface PrivateKeyLike extends Serializable {
  sign(message: Uint8Array): Uint8Array;
  getPublicKey(): PublicKeyLike;
}
interface IdentityKeyPairLike {
  readonly publicKey: PublicKeyLike;
  readonly privateKey: PrivateKeyLike;
  serialize(): Uint8Array;
}
interface KemKeyPairLike {
  getPublicKey(): Serializable;
}
interface ProtocolAddressLike {
  name(): string;
  deviceId(): number;
}
interface SessionRecordLike extends Serializable {
  hasCurrentState(now?: Date): boolean;
}
interface CiphertextMessageLike extends Serializable {
  type(): number;
}
type Opaque = object;
type AbstractCtor = abstract new () => object;
type AsyncFn = (...args: unknown[]) => Promise<unknown>;

interface LscApi {
  PrivateKey: { generate(): PrivateKeyLike };
  PublicKey: { deserialize(bytes: Uint8Array): PublicKeyLike };
  IdentityKeyPair: { generate(): IdentityKeyPairLike; deserialize(bytes: Uint8Array): IdentityKeyPairLike };
  ProtocolAddress: { new: (name: string, deviceId: number) => ProtocolAddressLike };
  PreKeyRecord: {
    new: (id: number, pub: PublicKeyLike, priv: PrivateKeyLike) => Opaque;
    deserialize(bytes: Uint8Array): Opaque;
  };
  SignedPreKeyRecord: {
    new: (id: number, ts: number, pub: PublicKeyLike, priv: PrivateKeyLike, sig: Uint8Array) => Opaque;
    deserialize(bytes: Uint8Array): Opaque;
  };
  KyberPreKeyRecord?: {
    new: (id: number, ts: number, kp: KemKeyPairLike, sig: Uint8Array) => Opaque;
    deserialize(bytes: Uint8Array): Opaque;
  };
  KEMKeyPair?: { generate(): KemKeyPairLike };
  KEMPublicKey?: { deserialize(bytes: Uint8Array): Opaque };
  PreKeyBundle: { new: (...args: unknown[]) => Opaque };
  SessionRecord: { deserialize(bytes: Uint8Array): SessionRecordLike };
  SignalMessage: { deserialize(bytes: Uint8Array): Opaque };
  PreKeySignalMessage: { deserialize(bytes: Uint8Array): Opaque };
  SessionStore: AbstractCtor;
  IdentityKeyStore: AbstractCtor;
  PreKeyStore: AbstractCtor;
  SignedPreKeyStore: AbstractCtor;
  KyberPreKeyStore?: AbstractCtor;
  IdentityChange?: { NewOrUnchanged: number; ReplacedExisting: number };
  UsePQRatchet?: { Yes: number; No: number };
  processPreKeyBundle: AsyncFn;
  signalEncrypt: AsyncFn;
  signalDecrypt: AsyncFn;
  signalDecryptPreKey: AsyncFn;
}

/** How a given libsignal-client version's API is shaped. */
interface LscShape {
  readonly kind: string;
  readonly api: LscApi;
  /** Kyber prekeys exist (0.72+). */
  readonly kyber: boolean;
  /** Bundles must carry a Kyber prekey (0.75+). */
  readonly kyberRequired: boolean;
  /** processPreKeyBundle / signalDecryptPreKey take a trailing UsePQRatchet (0.75.x only). */
  readonly pqSwitch: boolean;
  /** The session functions take a localAddress after the remote address (0.103). */
  readonly localAddress: boolean;
}

const shapes = {
  'lsc-0.23.1': {
    kind: 'lsc-0.23.1',
    api: lsc023 as unknown as LscApi,
    kyber: false,
    kyberRequired: false,
    pqSwitch: false,
    localAddress: false,
  },
  'lsc-0.72.1': {
    kind: 'lsc-0.72.1',
    api: lsc072 as unknown as LscApi,
    kyber: true,
    kyberRequired: false,
    pqSwitch: false,
    localAddress: false,
  },
  'lsc-0.75.1': {
    kind: 'lsc-0.75.1',
    api: lsc075 as unknown as LscApi,
    kyber: true,
    kyberRequired: true,
    pqSwitch: true,
    localAddress: false,
  },
  'lsc-0.90.0': {
    kind: 'lsc-0.90.0',
    api: lsc090 as unknown as LscApi,
    kyber: true,
    kyberRequired: true,
    pqSwitch: false,
    localAddress: false,
  },
  'lsc-0.103.0': {
    kind: 'lsc-0.103.0',
    api: lsc0103 as unknown as LscApi,
    kyber: true,
    kyberRequired: true,
    pqSwitch: false,
    localAddress: true,
  },
} as const satisfies Record<string, LscShape>;

export type LscKind = keyof typeof shapes;

export interface LscPeerOptions {
  /**
   * Offer the SPQR (sparse post-quantum) ratchet. Only 0.75.x has a switch (default false here,
   * the plain-PQXDH peer of interop-v4; interop-spqr switches it on too). 0.90 always offers it and falls back when the peer does not
   * answer with it; 0.103 requires it. Setting it on a version without a switch throws.
   */
  pqRatchet?: boolean;
  /** Identity trust: 'tofu' (default) rejects a changed identity; 'always' trusts everything. */
  trust?: TrustMode;
  /**
   * Start from another peer's saved state (its identity, registration id and every stored
   * record, serialized), as an app does when it upgrades libsignal-client and loads what the
   * older version wrote.
   */
  restore?: LscPeerState;
}

/** Everything a libsignal-client peer stores, serialized — what survives an app upgrade. */
export interface LscPeerState {
  readonly identityKeyPair: Uint8Array;
  readonly registrationId: number;
  readonly sessions: ReadonlyMap<string, Uint8Array>;
  readonly identities: ReadonlyMap<string, Uint8Array>;
  readonly preKeys: ReadonlyMap<number, Uint8Array>;
  readonly signedPreKeys: ReadonlyMap<number, Uint8Array>;
  readonly kyberPreKeys: ReadonlyMap<number, Uint8Array>;
}

/** A libsignal-client peer whose stored state can be carried to another version. */
export interface LscPeer extends PeerClient {
  saveState(): LscPeerState;
}

// ---- in-memory stores, built on the version's own abstract base classes ----

function makeStores(
  shape: LscShape,
  identity: IdentityKeyPairLike,
  registrationId: number,
  trust: TrustMode,
) {
  const api = shape.api;

  const sessions = new Map<string, Uint8Array>();
  const identities = new Map<string, Uint8Array>();
  const preKeys = new Map<number, Opaque>();
  const signedPreKeys = new Map<number, Opaque>();
  const kyberPreKeys = new Map<number, Opaque>();
  const key = (a: ProtocolAddressLike) => `${a.name()}.${a.deviceId()}`;
  const missing = (what: string, id: number) => new Error(`${shape.kind}: no ${what} with id ${id}`);

  class SessionStore extends api.SessionStore {
    async saveSession(address: ProtocolAddressLike, record: SessionRecordLike): Promise<void> {
      // Store the serialized bytes, as a real store would: sizes are real and every load
      // round-trips through deserialization.
      sessions.set(key(address), toU8(record.serialize()));
    }
    async getSession(address: ProtocolAddressLike): Promise<SessionRecordLike | null> {
      const bytes = sessions.get(key(address));
      return bytes ? api.SessionRecord.deserialize(toBuffer(bytes)) : null;
    }
    async getExistingSessions(addresses: ProtocolAddressLike[]): Promise<SessionRecordLike[]> {
      return Promise.all(
        addresses.map(async (a) => {
          const record = await this.getSession(a);
          if (!record) throw new Error(`${shape.kind}: no session for ${key(a)}`);
          return record;
        }),
      );
    }
  }

  const changed = (replaced: boolean): boolean | number =>
    api.IdentityChange
      ? replaced
        ? api.IdentityChange.ReplacedExisting
        : api.IdentityChange.NewOrUnchanged
      : replaced;

  class IdentityKeyStore extends api.IdentityKeyStore {
    async getIdentityKey(): Promise<PrivateKeyLike> {
      return identity.privateKey;
    }
    async getLocalRegistrationId(): Promise<number> {
      return registrationId;
    }
    async saveIdentity(address: ProtocolAddressLike, pub: PublicKeyLike): Promise<boolean | number> {
      const k = key(address);
      const bytes = toU8(pub.serialize());
      const old = identities.get(k);
      identities.set(k, bytes);
      return changed(old !== undefined && Buffer.compare(old, bytes) !== 0);
    }
    async isTrustedIdentity(address: ProtocolAddressLike, pub: PublicKeyLike): Promise<boolean> {
      if (trust === 'always') return true;
      const old = identities.get(key(address));
      return old === undefined || Buffer.compare(old, toU8(pub.serialize())) === 0;
    }
    async getIdentity(address: ProtocolAddressLike): Promise<PublicKeyLike | null> {
      const bytes = identities.get(key(address));
      return bytes ? api.PublicKey.deserialize(toBuffer(bytes)) : null;
    }
  }

  class PreKeyStore extends api.PreKeyStore {
    async savePreKey(id: number, record: Opaque): Promise<void> {
      preKeys.set(id, record);
    }
    async getPreKey(id: number): Promise<Opaque> {
      const record = preKeys.get(id);
      if (!record) throw missing('prekey', id);
      return record;
    }
    async removePreKey(id: number): Promise<void> {
      preKeys.delete(id);
    }
  }

  class SignedPreKeyStore extends api.SignedPreKeyStore {
    async saveSignedPreKey(id: number, record: Opaque): Promise<void> {
      signedPreKeys.set(id, record);
    }
    async getSignedPreKey(id: number): Promise<Opaque> {
      const record = signedPreKeys.get(id);
      if (!record) throw missing('signed prekey', id);
      return record;
    }
  }

  let kyberStore: object | undefined;
  if (api.KyberPreKeyStore) {
    class KyberPreKeyStore extends api.KyberPreKeyStore {
      async saveKyberPreKey(id: number, record: Opaque): Promise<void> {
        kyberPreKeys.set(id, record);
      }
      async getKyberPreKey(id: number): Promise<Opaque> {
        const record = kyberPreKeys.get(id);
        if (!record) throw missing('kyber prekey', id);
        return record;
      }
      async markKyberPreKeyUsed(_id: number): Promise<void> {
        // Kyber prekeys here are last-resort keys: kept after use.
      }
    }
    kyberStore = new KyberPreKeyStore();
  }

  return {
    sessions,
    identitiesMap: identities,
    preKeys,
    signedPreKeys,
    kyberPreKeys,
    sessionStore: new SessionStore(),
    identityStore: new IdentityKeyStore(),
    preKeyStore: new PreKeyStore(),
    signedPreKeyStore: new SignedPreKeyStore(),
    kyberStore,
  };
}

let nextKeyId = 1;
/** Unique prekey ids across all peers of this process (ids are 24-bit in practice; stay small). */
function freshKeyId(): number {
  const id = nextKeyId;
  nextKeyId = (nextKeyId % 0xfffff) + 1;
  return id;
}

export async function createLscPeer(
  kind: LscKind,
  address: PeerAddress,
  options: LscPeerOptions = {},
): Promise<LscPeer> {
  const shape: LscShape = shapes[kind];
  const api = shape.api;
  if (options.pqRatchet !== undefined && !shape.pqSwitch) {
    throw new Error(`${kind} has no SPQR switch (pqRatchet option): only lsc-0.75.1 does`);
  }
  const pqRatchet = options.pqRatchet ?? false;
  const restore = options.restore;
  const identity = restore
    ? api.IdentityKeyPair.deserialize(toBuffer(restore.identityKeyPair))
    : api.IdentityKeyPair.generate();
  const registrationId = restore?.registrationId ?? randomRegistrationId();
  const stores = makeStores(shape, identity, registrationId, options.trust ?? 'tofu');
  if (restore) {
    for (const [key, bytes] of restore.sessions) stores.sessions.set(key, bytes.slice());
    for (const [key, bytes] of restore.identities) stores.identitiesMap.set(key, bytes.slice());
    for (const [id, bytes] of restore.preKeys)
      stores.preKeys.set(id, api.PreKeyRecord.deserialize(toBuffer(bytes)));
    for (const [id, bytes] of restore.signedPreKeys)
      stores.signedPreKeys.set(id, api.SignedPreKeyRecord.deserialize(toBuffer(bytes)));
    for (const [id, bytes] of restore.kyberPreKeys) {
      if (!api.KyberPreKeyRecord) throw new Error(`${kind} cannot load Kyber prekeys`);
      stores.kyberPreKeys.set(id, api.KyberPreKeyRecord.deserialize(toBuffer(bytes)));
    }
  }
  const local = api.ProtocolAddress.new(address.name, address.deviceId);
  const addr = (remote: PeerAddress) => api.ProtocolAddress.new(remote.name, remote.deviceId);
  /** remote address, [local address], session store, identity store */
  const sessionArgs = (remote: PeerAddress): unknown[] =>
    shape.localAddress
      ? [addr(remote), local, stores.sessionStore, stores.identityStore]
      : [addr(remote), stores.sessionStore, stores.identityStore];
  const usePq = () => (pqRatchet ? api.UsePQRatchet!.Yes : api.UsePQRatchet!.No);

  const serialized = <K>(records: Map<K, Opaque>): Map<K, Uint8Array> =>
    new Map([...records].map(([id, record]) => [id, toU8((record as Serializable).serialize())]));
  const client: LscPeer = {
    kind,
    address,
    identityKey: toU8(identity.publicKey.serialize()),
    registrationId,

    async createBundle(opts: CreateBundleOptions = {}): Promise<PeerBundle> {
      const wantKyber = opts.kyber ?? shape.kyber;
      if (wantKyber && !shape.kyber) throw new Error(`${kind} has no Kyber prekeys`);
      // kyber: false on a Kyber-requiring version is allowed: it makes a bundle other peers may
      // reject, which a test may want to observe.
      const now = Date.now();
      const signedPreKeyId = freshKeyId();
      const spkPriv = api.PrivateKey.generate();
      const spkPub = spkPriv.getPublicKey();
      const spkSig = identity.privateKey.sign(spkPub.serialize());
      await stores.signedPreKeyStore.saveSignedPreKey(
        signedPreKeyId,
        api.SignedPreKeyRecord.new(signedPreKeyId, now, spkPub, spkPriv, spkSig),
      );
      const bundle: PeerBundle = {
        registrationId,
        deviceId: address.deviceId,
        identityKey: toU8(identity.publicKey.serialize()),
        signedPreKeyId,
        signedPreKey: toU8(spkPub.serialize()),
        signedPreKeySignature: toU8(spkSig),
      };
      if (opts.oneTimePreKey ?? true) {
        const preKeyId = freshKeyId();
        const priv = api.PrivateKey.generate();
        const pub = priv.getPublicKey();
        await stores.preKeyStore.savePreKey(preKeyId, api.PreKeyRecord.new(preKeyId, pub, priv));
        bundle.preKeyId = preKeyId;
        bundle.preKey = toU8(pub.serialize());
      }
      if (wantKyber) {
        const kyberPreKeyId = freshKeyId();
        const kp = api.KEMKeyPair!.generate();
        const pub = toU8(kp.getPublicKey().serialize());
        const sig = identity.privateKey.sign(toBuffer(pub));
        stores.kyberPreKeys.set(kyberPreKeyId, api.KyberPreKeyRecord!.new(kyberPreKeyId, now, kp, sig));
        bundle.kyberPreKeyId = kyberPreKeyId;
        bundle.kyberPreKey = pub;
        bundle.kyberPreKeySignature = toU8(sig);
      }
      return bundle;
    },

    async processBundle(remote: PeerAddress, b: PeerBundle): Promise<void> {
      const pk = (bytes: Uint8Array) => api.PublicKey.deserialize(toBuffer(bytes));
      const args: unknown[] = [
        b.registrationId,
        b.deviceId,
        b.preKey ? (b.preKeyId ?? null) : null,
        b.preKey ? pk(b.preKey) : null,
        b.signedPreKeyId,
        pk(b.signedPreKey),
        toBuffer(b.signedPreKeySignature),
        pk(b.identityKey),
      ];
      const hasKyber = b.kyberPreKey !== undefined;
      if (shape.kyberRequired && !hasKyber) {
        throw new Error(`${kind} requires a Kyber prekey in the bundle (PQXDH only)`);
      }
      if (shape.kyber) {
        if (hasKyber) {
          args.push(
            b.kyberPreKeyId,
            api.KEMPublicKey!.deserialize(toBuffer(b.kyberPreKey!)),
            toBuffer(b.kyberPreKeySignature ?? new Uint8Array(0)),
          );
        } else {
          args.push(null, null, null);
        }
      }
      // 0.23 silently ignores Kyber fields it cannot express: it does X3DH.
      const bundle = api.PreKeyBundle.new(...args);
      const tail: unknown[] = shape.pqSwitch ? [usePq()] : [];
      await api.processPreKeyBundle(bundle, ...sessionArgs(remote), ...tail);
    },

    async encrypt(remote: PeerAddress, plaintext: Uint8Array): Promise<PeerMessage> {
      const msg = (await api.signalEncrypt(
        toBuffer(plaintext),
        ...sessionArgs(remote),
      )) as CiphertextMessageLike;
      const type = msg.type();
      if (type !== 2 && type !== 3) throw new Error(`${kind}: unexpected ciphertext type ${type}`);
      return { type, body: toU8(msg.serialize()) };
    },

    async decrypt(remote: PeerAddress, message: PeerMessage): Promise<Uint8Array> {
      let out: unknown;
      if (message.type === 2) {
        const m = api.SignalMessage.deserialize(toBuffer(message.body));
        out = await api.signalDecrypt(m, ...sessionArgs(remote));
      } else if (message.type === 3) {
        const m = api.PreKeySignalMessage.deserialize(toBuffer(message.body));
        const prekeyStores: unknown[] = [stores.preKeyStore, stores.signedPreKeyStore];
        if (stores.kyberStore) prekeyStores.push(stores.kyberStore);
        if (shape.pqSwitch) prekeyStores.push(usePq());
        out = await api.signalDecryptPreKey(m, ...sessionArgs(remote), ...prekeyStores);
      } else {
        throw new Error(`${kind}: unknown message type ${String((message as { type: unknown }).type)}`);
      }
      return toU8(out as Uint8Array);
    },

    async hasSession(remote: PeerAddress): Promise<boolean> {
      const record = await stores.sessionStore.getSession(addr(remote));
      return record?.hasCurrentState() ?? false;
    },

    async sessionRecordSize(remote: PeerAddress): Promise<number | undefined> {
      return stores.sessions.get(addressKey(remote))?.length;
    },

    saveState(): LscPeerState {
      return {
        identityKeyPair: toU8(identity.serialize()),
        registrationId,
        sessions: new Map(stores.sessions),
        identities: new Map(stores.identitiesMap),
        preKeys: serialized(stores.preKeys),
        signedPreKeys: serialized(stores.signedPreKeys),
        kyberPreKeys: serialized(stores.kyberPreKeys),
      };
    },
  };
  return client;
}

/** A factory for one libsignal-client version with non-default options (e.g. SPQR on for 0.75.1). */
export function lscPeerFactory(kind: LscKind, options: LscPeerOptions = {}): PeerFactory {
  return (address) => createLscPeer(kind, address, options);
}

export const lscKinds = Object.keys(shapes) as LscKind[];

export const lscFactories: Record<string, PeerFactory> = Object.fromEntries(
  lscKinds.map((kind) => [kind, lscPeerFactory(kind)]),
);
