import { expect } from 'vitest';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { createDeterministicRandom } from '../../src/crypto/random.js';
import { type ErrorCode, isParleyError } from '../../src/errors.js';
import { GroupSessions, type GroupSessionsOptions } from '../../src/groups/group-sessions.js';
import { decodeRemoteSenderKey, type RemoteSenderKey } from '../../src/groups/remote-sender-key.js';
import { decodeRemoteSenderKeyRecord } from '../../src/groups/remote-sender-key-record.js';
import type { ProtocolAddress } from '../../src/session/address.js';
import type { Store } from '../../src/storage/contract.js';
import { createMemoryStore } from '../../src/storage/memory.js';
import { MemberList } from '../../src/testing/simulated-group.js';
import type { SenderKeyFormat } from '../../src/wire/sender-key-format.js';
import { FakeClock, snapshot, testCrypto } from './parties.js';

/** One Parley device in groups: its own store, group sessions and member list. */
export interface GroupParty {
  readonly name: string;
  readonly address: ProtocolAddress;
  readonly store: Store;
  readonly groups: GroupSessions;
  readonly members: MemberList;
  readonly clock: FakeClock;
}

export interface GroupPartyOptions {
  readonly format?: SenderKeyFormat;
  readonly seed?: string;
  readonly crypto?: CryptoProvider;
  readonly store?: Store;
  readonly members?: MemberList;
  readonly extra?: Partial<GroupSessionsOptions>;
}

export function createGroupParty(name: string, options: GroupPartyOptions = {}): GroupParty {
  const clock = new FakeClock();
  const store = options.store ?? createMemoryStore({ clock });
  const members = options.members ?? new MemberList();
  const groups = new GroupSessions({
    store,
    membership: members,
    format: options.format ?? 'signal',
    crypto: options.crypto ?? testCrypto(),
    random: options.seed ? createDeterministicRandom(options.seed) : undefined,
    clock,
    scope: name,
    ...options.extra,
  });
  return { name, address: { name, deviceId: 1 }, store, groups, members, clock };
}

/** Runs `action`, expects a ParleyError with `code`, and that no stored byte changed. */
export async function expectGroupRefusal(
  store: Store,
  action: () => Promise<unknown>,
  code: ErrorCode,
): Promise<void> {
  const before = await snapshot(store);
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeDefined();
  expect(isParleyError(error), `not a ParleyError: ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  expect(await snapshot(store)).toEqual(before);
}

/** The decoded states of a stored remote sender-key record (most recent first). */
export async function remoteStates(
  party: GroupParty,
  group: string,
  sender: ProtocolAddress,
): Promise<RemoteSenderKey[]> {
  const key = party.groups.records.remoteKey(group, sender);
  const { bytes } = await party.groups.records.read(key);
  if (!bytes) return [];
  return decodeRemoteSenderKeyRecord(bytes).states.map(decodeRemoteSenderKey);
}

/** Small seeded PRNG (mulberry32): delivery plans reproducible from a number in the test name. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface DeliveryStep {
  readonly index: number;
  /** A second copy of a message delivered earlier in the plan. */
  readonly duplicate: boolean;
}

export interface DeliveryPlan {
  readonly steps: readonly DeliveryStep[];
  /** Indices never delivered. */
  readonly dropped: ReadonlySet<number>;
}

/**
 * A delivery order for `count` messages as a lossy network produces it: each message is
 * dropped with probability `drop`, the rest arrive shuffled within a window of `window`, and
 * some arrive twice (the copy a few steps after the original).
 */
export function deliveryPlan(
  count: number,
  seed: number,
  options: { drop?: number; duplicate?: number; window?: number; keep?: readonly number[] } = {},
): DeliveryPlan {
  const random = seededRandom(seed);
  const drop = options.drop ?? 0.08;
  const duplicate = options.duplicate ?? 0.08;
  const window = options.window ?? 12;
  const dropped = new Set<number>();
  const ranked: { index: number; rank: number }[] = [];
  for (let index = 0; index < count; index++) {
    if (!options.keep?.includes(index) && random() < drop) dropped.add(index);
    else ranked.push({ index, rank: index + random() * window });
  }
  ranked.sort((a, b) => a.rank - b.rank);
  const steps: DeliveryStep[] = ranked.map(({ index }) => ({ index, duplicate: false }));
  for (let position = 0; position < steps.length; position++) {
    const step = steps[position]!;
    if (step.duplicate || random() >= duplicate) continue;
    const at = Math.min(steps.length, position + 1 + Math.floor(random() * 5));
    steps.splice(at, 0, { index: step.index, duplicate: true });
  }
  return { steps, dropped };
}
