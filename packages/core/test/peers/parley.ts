/** Parley behind the same {@link PeerClient} interface as the real peers. */
import type { CryptoProvider, RandomSource } from '../../src/crypto/provider.js';
import { decodeSessionRecord } from '../../src/ratchet/session-record.js';
import { SessionManager } from '../../src/session/session-manager.js';
import { acceptIdentityChanges, strictTrustOnFirstUse } from '../../src/session/trust.js';
import { type SpqrMode, spqrEpoch } from '../../src/spqr/pq-ratchet.js';
import type { Store } from '../../src/storage/contract.js';
import { createMemoryStore } from '../../src/storage/memory.js';
import { FakeClock, testCrypto } from '../support/parties.js';
import type {
  CreateBundleOptions,
  PeerAddress,
  PeerBundle,
  PeerClient,
  PeerMessage,
  TrustMode,
} from './types.js';

export interface ParleyPeerOptions {
  readonly trust?: TrustMode;
  readonly crypto?: CryptoProvider;
  readonly store?: Store;
  /** Kyber prekeys in bundles are last-resort keys (default: one-time). */
  readonly kyberLastResort?: boolean;
  readonly minimumVersion?: 3 | 4;
  /** SessionManager's `spqr` option (its default, 'offer', when absent). */
  readonly spqr?: SpqrMode;
  readonly random?: RandomSource;
}

/** What Parley's own stored state says about SPQR in the current session with a device. */
export interface SpqrView {
  /** The current session runs the sparse post-quantum ratchet. */
  readonly on: boolean;
  /** Epoch secrets its SPQR chain has mixed in (0 while none). */
  readonly epoch: number;
  /** Still waiting for the peer's first message to settle the version. */
  readonly negotiating: boolean;
}

export interface ParleyPeer extends PeerClient {
  readonly sessions: SessionManager;
  readonly store: Store;
  /** Reads the stored record (not a cache): undefined when there is no current session. */
  spqr(remote: PeerAddress): Promise<SpqrView | undefined>;
}

export async function createParleyPeer(
  address: PeerAddress,
  options: ParleyPeerOptions = {},
): Promise<ParleyPeer> {
  const clock = new FakeClock();
  const store = options.store ?? createMemoryStore({ clock });
  const sessions = new SessionManager({
    store,
    crypto: options.crypto ?? testCrypto(),
    clock,
    scope: `${address.name}.${address.deviceId}`,
    trust: options.trust === 'always' ? acceptIdentityChanges : strictTrustOnFirstUse,
    minimumVersion: options.minimumVersion,
    spqr: options.spqr,
    random: options.random,
  });
  const identity = await sessions.initializeIdentity();
  let nextId = 1;
  return {
    kind: 'parley',
    address,
    identityKey: identity.identityKeyPair.publicKey,
    registrationId: identity.registrationId,
    sessions,
    store,
    async createBundle(bundleOptions: CreateBundleOptions = {}): Promise<PeerBundle> {
      const id = nextId++;
      await sessions.generateSignedPreKey(id);
      const withOneTime = bundleOptions.oneTimePreKey ?? true;
      if (withOneTime) await sessions.generateOneTimePreKeys(id, 1);
      const withKyber = bundleOptions.kyber ?? false;
      if (withKyber) await sessions.generateKyberPreKey(id, { lastResort: options.kyberLastResort ?? false });
      const bundle = await sessions.createBundle({
        deviceId: address.deviceId,
        signedPreKeyId: id,
        preKeyId: withOneTime ? id : undefined,
        kyberPreKeyId: withKyber ? id : undefined,
      });
      const out: PeerBundle = {
        registrationId: bundle.registrationId,
        deviceId: bundle.deviceId,
        identityKey: bundle.identityKey,
        signedPreKeyId: bundle.signedPreKeyId,
        signedPreKey: bundle.signedPreKey,
        signedPreKeySignature: bundle.signedPreKeySignature,
      };
      if (bundle.preKeyId !== undefined && bundle.preKey) {
        out.preKeyId = bundle.preKeyId;
        out.preKey = bundle.preKey;
      }
      if (bundle.kyberPreKeyId !== undefined && bundle.kyberPreKey && bundle.kyberPreKeySignature) {
        out.kyberPreKeyId = bundle.kyberPreKeyId;
        out.kyberPreKey = bundle.kyberPreKey;
        out.kyberPreKeySignature = bundle.kyberPreKeySignature;
      }
      return out;
    },
    async processBundle(remote: PeerAddress, bundle: PeerBundle): Promise<void> {
      await sessions.processBundle(remote, bundle);
    },
    async encrypt(remote: PeerAddress, plaintext: Uint8Array): Promise<PeerMessage> {
      const message = await sessions.encrypt(remote, plaintext);
      return { type: message.type, body: message.body };
    },
    async decrypt(remote: PeerAddress, message: PeerMessage): Promise<Uint8Array> {
      return (await sessions.decrypt(remote, message)).plaintext;
    },
    hasSession: (remote: PeerAddress) => sessions.hasSession(remote),
    async sessionRecordSize(remote: PeerAddress): Promise<number | undefined> {
      return (await store.get('sessions', sessions.records.sessionKey(remote)))?.value.length;
    },
    async spqr(remote: PeerAddress): Promise<SpqrView | undefined> {
      const stored = await store.get('sessions', sessions.records.sessionKey(remote));
      const current = stored && decodeSessionRecord(stored.value).current;
      if (!current) return undefined;
      const pq = current.spqr;
      return {
        on: pq !== undefined,
        epoch: pq ? spqrEpoch(pq) : 0,
        negotiating: pq?.negotiation !== undefined,
      };
    },
  };
}
