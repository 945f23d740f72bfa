/**
 * The libraries under test, behind one small party interface the workloads drive. Each runs as
 * a user runs it: its public API, with the store it ships or recommends, records kept in the
 * form that store keeps them (`store` of each entry says which; the bench prints it).
 *
 * - Parley: `SessionManager` over its memory store (serialized records, one atomic commit per
 *   operation, the decoded-record cache as configured by default).
 * - libsignal-client: the test suite's PeerClient adapters (packages/core/test/peers, loaded
 *   lazily), whose session store is the one of libsignal-client's own tests: serialized bytes,
 *   deserialized on every load. The adapter adds a Buffer copy of the plaintext/body and a
 *   native ProtocolAddress per call, which is small next to the library's work.
 * - libsignal 6.0.0: as Baileys drives it (libsignal-baileys.ts).
 * - privacyresearch: its StorageType keeps the record string the library itself serializes.
 * - Floors: the same key schedule on bare primitives (see floor.ts); synchronous, no store.
 *
 * Like for like: v3 peers are compared with Parley v3, the v4 peers (which run PQXDH and SPQR
 * with themselves) with Parley v4 + SPQR (`parleyCounterpart`).
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
import { createBaileysStyleParty } from './libsignal-baileys.js';

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
  /**
   * The Parley library a peer is compared with (same protocol, like for like): `parley-node`
   * for the v3 peers, `parley-node-v4-spqr` for the v4 peers (which run SPQR with themselves).
   */
  readonly parleyCounterpart?: string;
  /** How this library's records are kept in the run (printed in the header). */
  readonly store: string;
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

/**
 * libsignal-client ships no store; its own tests' InMemorySessionStore (and the test suite's
 * adapter, built the same way) keeps `record.serialize()` bytes and deserializes on every load.
 */
const LSC_STORE =
  "the store of libsignal-client's own tests (serialized bytes; SessionRecord.deserialize on every load)";

async function peerParty(kind: string, address: PeerAddress): Promise<BenchParty> {
  const peers = await import('../../core/test/peers/index.js');
  return fromPeer(await peers.makePeerFactory(kind)(address));
}

// ── Registry ────────────────────────────────────────────────────────────────────────

const PARLEY_STORE =
  'its memory store (records kept serialized; SessionManager decoded-record cache as configured by default), one atomic commit per operation';

export const LIBS: readonly BenchLib[] = [
  {
    id: 'parley-node',
    label: 'Parley (node)',
    group: 'parley',
    protocol: 'v3',
    speed: 'fast',
    store: PARLEY_STORE,
    createParty: (address) => createParleyParty(address, { crypto: parleyCrypto('node') }),
  },
  {
    // Like for like with lsc 0.90.0 and 0.103.0, which run PQXDH and SPQR with themselves.
    id: 'parley-node-v4-spqr',
    label: 'Parley v4+SPQR (node)',
    group: 'parley',
    protocol: 'v4 PQXDH+SPQR',
    speed: 'fast',
    store: PARLEY_STORE,
    createParty: (address) =>
      createParleyParty(address, { crypto: parleyCrypto('node'), kyber: true, spqr: 'require' }),
  },
  {
    id: 'parley-node-v4',
    label: 'Parley v4 (node)',
    group: 'parley',
    protocol: 'v4 PQXDH',
    speed: 'fast',
    store: PARLEY_STORE,
    createParty: (address) => createParleyParty(address, { crypto: parleyCrypto('node'), kyber: true }),
  },
  {
    id: 'parley-portable',
    label: 'Parley (portable)',
    group: 'parley',
    protocol: 'v3',
    speed: 'medium',
    store: PARLEY_STORE,
    createParty: (address) => createParleyParty(address, { crypto: parleyCrypto('portable') }),
  },
  {
    id: 'lsc-0.23.1',
    label: 'lsc 0.23.1',
    group: 'peer',
    protocol: 'v3',
    parleyCounterpart: 'parley-node',
    speed: 'fast',
    store: LSC_STORE,
    createParty: (address) => peerParty('lsc-0.23.1', address),
  },
  {
    id: 'libsignal-6.0.0',
    label: 'libsignal 6.0.0',
    group: 'peer',
    protocol: 'v3',
    parleyCounterpart: 'parley-node',
    speed: 'fast',
    store:
      "Baileys' cacheable key store (the record.serialize() object in memory; SessionRecord.deserialize on every load, serialize() on every save)",
    createParty: async (address) => createBaileysStyleParty(address),
  },
  {
    id: 'privacyresearch-0.0.16',
    label: 'privacyresearch',
    group: 'peer',
    protocol: 'v3',
    parleyCounterpart: 'parley-node',
    speed: 'slow',
    store: 'its StorageType in memory (the record string the library serializes; it parses it on every load)',
    createParty: (address) => peerParty('privacyresearch-0.0.16', address),
  },
  {
    id: 'lsc-0.90.0',
    label: 'lsc 0.90.0',
    group: 'peer',
    protocol: 'v4 PQXDH+SPQR',
    parleyCounterpart: 'parley-node-v4-spqr',
    speed: 'fast',
    store: LSC_STORE,
    createParty: (address) => peerParty('lsc-0.90.0', address),
  },
  {
    id: 'lsc-0.103.0',
    label: 'lsc 0.103.0',
    group: 'peer',
    protocol: 'v4 PQXDH+SPQR',
    parleyCounterpart: 'parley-node-v4-spqr',
    speed: 'fast',
    store: LSC_STORE,
    createParty: (address) => peerParty('lsc-0.103.0', address),
  },
  {
    id: 'floor-node',
    label: 'floor (node:crypto)',
    group: 'floor',
    protocol: 'v3 schedule',
    parleyCounterpart: 'parley-node',
    speed: 'fast',
    store: 'no store: state in a Map of plain objects, mutated in place',
    createParty: async (address) => createNodeFloorParty(address),
  },
  {
    id: 'floor-noble',
    label: 'floor (noble)',
    group: 'floor',
    protocol: 'v3 schedule',
    parleyCounterpart: 'parley-portable',
    speed: 'medium',
    store: 'no store: state in a Map of plain objects, mutated in place',
    createParty: async (address) => createNobleFloorParty(address),
  },
];

export function libById(id: string): BenchLib {
  const lib = LIBS.find((candidate) => candidate.id === id);
  if (!lib) throw new Error(`unknown library "${id}" (known: ${LIBS.map((l) => l.id).join(', ')})`);
  return lib;
}
