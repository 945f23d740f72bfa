import { createNodeCrypto } from '../../src/crypto/node.js';
import { createPortableCrypto } from '../../src/crypto/portable.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { createDeterministicRandom } from '../../src/crypto/random.js';
import type { ProtocolAddress } from '../../src/session/address.js';
import { SessionManager, type SessionManagerOptions } from '../../src/session/session-manager.js';
import type { TrustPolicy } from '../../src/session/trust.js';
import type { Clock, Store } from '../../src/storage/contract.js';
import { createMemoryStore } from '../../src/storage/memory.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

export class FakeClock implements Clock {
  constructor(public time = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface Party {
  readonly name: string;
  readonly address: ProtocolAddress;
  readonly store: Store;
  readonly sessions: SessionManager;
  readonly clock: FakeClock;
}

let nodeCrypto: CryptoProvider | undefined;
export function testCrypto(kind: 'node' | 'portable' = 'node'): CryptoProvider {
  if (kind === 'portable') return createPortableCrypto();
  nodeCrypto ??= createNodeCrypto();
  return nodeCrypto;
}

export interface PartyOptions {
  readonly deviceId?: number;
  readonly store?: Store;
  readonly clock?: FakeClock;
  readonly trust?: TrustPolicy;
  readonly crypto?: CryptoProvider;
  readonly seed?: string;
  readonly extra?: Partial<SessionManagerOptions>;
}

/** A party with an identity, signed prekey 1 and one-time prekeys 1..10. */
export async function createParty(name: string, options: PartyOptions = {}): Promise<Party> {
  const clock = options.clock ?? new FakeClock();
  const store = options.store ?? createMemoryStore({ clock });
  const sessions = new SessionManager({
    store,
    crypto: options.crypto ?? testCrypto(),
    random: options.seed ? createDeterministicRandom(options.seed) : undefined,
    clock,
    scope: name,
    trust: options.trust,
    ...options.extra,
  });
  await sessions.initializeIdentity();
  await sessions.generateSignedPreKey(1);
  await sessions.generateOneTimePreKeys(1, 10);
  return { name, address: { name, deviceId: options.deviceId ?? 1 }, store, sessions, clock };
}

/** Alice starts a session from Bob's bundle (with one-time prekey 1 unless told otherwise). */
export async function connect(alice: Party, bob: Party, preKeyId: number | undefined = 1): Promise<void> {
  const bundle = await bob.sessions.createBundle({
    deviceId: bob.address.deviceId,
    signedPreKeyId: 1,
    preKeyId,
  });
  await alice.sessions.processBundle(bob.address, bundle);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const text = (value: string): Uint8Array => encoder.encode(value);
export const str = (value: Uint8Array): string => decoder.decode(value);

/** Every stored record of a store, for byte-identical comparisons after a failure. */
export async function snapshot(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const namespace of [
    'identities',
    'prekeys',
    'sessions',
    'messages',
    'outbox',
    'counters',
    'vault',
    'meta',
  ] as const) {
    for (const record of await store.list(namespace)) {
      out.set(`${namespace}:${record.key}`, `${record.version}:${Buffer.from(record.value).toString('hex')}`);
    }
  }
  return out;
}
