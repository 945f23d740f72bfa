/**
 * The libraries under test, behind one small party interface the workloads drive.
 *
 * - Parley: a direct driver over `SessionManager` and a store (thinner than the test suite's
 *   PeerClient adapter: messages pass through unchanged, no re-wrapping).
 * - Peers: the test suite's PeerClient adapters (packages/core/test/peers), loaded lazily so a
 *   process that only needs Parley does not load five native libsignal builds. Their stores
 *   hold serialized records, as a real store would, so every operation pays the library's own
 *   (de)serialization; the adapter adds a Buffer copy of the plaintext/body and a native
 *   ProtocolAddress per call, which is small next to the library's work.
 * - Floors: the same key schedule on bare primitives (see floor.ts); synchronous.
 *
 * Every method may return a value or a promise; the workloads only await real promises, so a
 * synchronous floor pays no microtask per call.
 */
import {
  type CryptoProvider,
  createMemoryStore,
  createPortableCrypto,
  type PreKeyBundle,
  SessionManager,
  type Store,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import type { PeerAddress, PeerClient } from '../../core/test/peers/types.js';
import { createNobleFloorParty, createNodeFloorParty } from './floor.js';

export type Awaitable<T> = T | Promise<T>;

export interface BenchParty {
  readonly address: PeerAddress;
  /** A fresh prekey bundle (opaque to the workloads; only the same library reads it). */
  createBundle(): Awaitable<unknown>;
  processBundle(remote: PeerAddress, bundle: unknown): Awaitable<void>;
  /** An opaque message for `decrypt` of the same library. */
  encrypt(remote: PeerAddress, plaintext: Uint8Array): Awaitable<unknown>;
  decrypt(remote: PeerAddress, message: unknown): Awaitable<Uint8Array>;
  /** Bytes of the stored session record; undefined where there is no store (floors). */
  recordSize?(remote: PeerAddress): Awaitable<number | undefined>;
}

export type LibGroup = 'parley' | 'peer' | 'floor';

export interface BenchLib {
  readonly id: string;
  readonly label: string;
  readonly group: LibGroup;
  /** Protocol spoken in these runs. */
  readonly protocol: string;
  /** Slow libraries get smaller sample counts (see config.ts). */
  readonly speed: 'fast' | 'medium' | 'slow';
  createParty(address: PeerAddress): Promise<BenchParty>;
}

// ── Parley ──────────────────────────────────────────────────────────────────────────

export interface ParleyPartyOptions {
  readonly crypto: CryptoProvider;
  readonly store?: Store;
  /** Bundles carry a one-time Kyber prekey, so sessions are PQXDH (v4). */
  readonly kyber?: boolean;
  /** SessionManager's `spqr` option (v4 sessions only). Default 'off': plain PQXDH rows stay plain. */
  readonly spqr?: 'off' | 'offer' | 'require';
}

export async function createParleyParty(
  address: PeerAddress,
  options: ParleyPartyOptions,
): Promise<BenchParty> {
  const store = options.store ?? createMemoryStore();
  const sessions = new SessionManager({
    store,
    crypto: options.crypto,
    scope: `${address.name}.${address.deviceId}`,
    spqr: options.spqr ?? 'off',
  });
  await sessions.initializeIdentity();
  let nextId = 1;
  return {
    address,
    async createBundle(): Promise<PreKeyBundle> {
      const id = nextId++;
      await sessions.generateSignedPreKey(id);
      await sessions.generateOneTimePreKeys(id, 1);
      if (options.kyber) await sessions.generateKyberPreKey(id);
      return sessions.createBundle({
        deviceId: address.deviceId,
        signedPreKeyId: id,
        preKeyId: id,
        kyberPreKeyId: options.kyber ? id : undefined,
      });
    },
    async processBundle(remote, bundle) {
      await sessions.processBundle(remote, bundle as PreKeyBundle);
    },
    encrypt: (remote, plaintext) => sessions.encrypt(remote, plaintext),
    async decrypt(remote, message) {
      return (await sessions.decrypt(remote, message as Parameters<SessionManager['decrypt']>[1])).plaintext;
    },
    async recordSize(remote) {
      return (await store.get('sessions', sessions.records.sessionKey(remote)))?.value.length;
    },
  };
}

let nodeCrypto: CryptoProvider | undefined;
let portableCrypto: CryptoProvider | undefined;
/** One provider instance per process, as an application would hold it (its key caches included). */
export function parleyCrypto(kind: 'node' | 'portable'): CryptoProvider {
  if (kind === 'node') {
    nodeCrypto ??= createNodeCrypto();
    return nodeCrypto;
  }
  portableCrypto ??= createPortableCrypto();
  return portableCrypto;
}

// ── Peers ───────────────────────────────────────────────────────────────────────────

function fromPeer(client: PeerClient): BenchParty {
  return {
    address: client.address,
    createBundle: () => client.createBundle(),
    processBundle: (remote, bundle) =>
      client.processBundle(remote, bundle as Parameters<PeerClient['processBundle']>[1]),
    encrypt: (remote, plaintext) => client.encrypt(remote, plaintext),
    decrypt: (remote, message) => client.decrypt(remote, message as Parameters<PeerClient['decrypt']>[1]),
    recordSize: (remote) => client.sessionRecordSize(remote),
  };
}

async function peerParty(kind: string, address: PeerAddress): Promise<BenchParty> {
  const peers = await import('../../core/test/peers/index.js');
  return fromPeer(await peers.makePeerFactory(kind)(address));
}

// ── Registry ────────────────────────────────────────────────────────────────────────

export const LIBS: readonly BenchLib[] = [
  {
    id: 'parley-node',
    label: 'Parley (node)',
    group: 'parley',
    protocol: 'v3',
    speed: 'fast',
    createParty: (address) => createParleyParty(address, { crypto: parleyCrypto('node') }),
  },
  {
    id: 'parley-node-v4',
    label: 'Parley v4 (node)',
    group: 'parley',
    protocol: 'v4 PQXDH',
    speed: 'fast',
    createParty: (address) => createParleyParty(address, { crypto: parleyCrypto('node'), kyber: true }),
  },
  {
    // Like for like with lsc 0.103.0: PQXDH and the sparse post-quantum ratchet on both sides.
    id: 'parley-node-v4-spqr',
    label: 'Parley v4+SPQR (node)',
    group: 'parley',
    protocol: 'v4 PQXDH+SPQR',
    speed: 'fast',
    createParty: (address) =>
      createParleyParty(address, { crypto: parleyCrypto('node'), kyber: true, spqr: 'require' }),
  },
  {
    id: 'parley-portable',
    label: 'Parley (portable)',
    group: 'parley',
    protocol: 'v3',
    speed: 'medium',
    createParty: (address) => createParleyParty(address, { crypto: parleyCrypto('portable') }),
  },
  {
    id: 'lsc-0.23.1',
    label: 'lsc 0.23.1',
    group: 'peer',
    protocol: 'v3',
    speed: 'fast',
    createParty: (address) => peerParty('lsc-0.23.1', address),
  },
  {
    id: 'lsc-0.103.0',
    label: 'lsc 0.103.0',
    group: 'peer',
    protocol: 'v4 PQXDH+SPQR',
    speed: 'fast',
    createParty: (address) => peerParty('lsc-0.103.0', address),
  },
  {
    id: 'libsignal-6.0.0',
    label: 'libsignal 6.0.0',
    group: 'peer',
    protocol: 'v3',
    speed: 'fast',
    createParty: (address) => peerParty('libsignal-6.0.0', address),
  },
  {
    id: 'privacyresearch-0.0.16',
    label: 'privacyresearch',
    group: 'peer',
    protocol: 'v3',
    speed: 'slow',
    createParty: (address) => peerParty('privacyresearch-0.0.16', address),
  },
  {
    id: 'floor-node',
    label: 'floor (node:crypto)',
    group: 'floor',
    protocol: 'v3 schedule',
    speed: 'fast',
    createParty: async (address) => createNodeFloorParty(address),
  },
  {
    id: 'floor-noble',
    label: 'floor (noble)',
    group: 'floor',
    protocol: 'v3 schedule',
    speed: 'medium',
    createParty: async (address) => createNobleFloorParty(address),
  },
];

export function libById(id: string): BenchLib {
  const lib = LIBS.find((candidate) => candidate.id === id);
  if (!lib) throw new Error(`unknown library "${id}" (known: ${LIBS.map((l) => l.id).join(', ')})`);
  return lib;
}
