/**
 * Real sender-key (group) peers behind one {@link GroupPeer} interface: libsignal-client's
 * group API (`signal` format, with distribution ids) at pinned versions, and Baileys' group code
 * (`whatsapp` format; `baileys@7.0.0-rc14`, `lib/Signal/Group`). Bytes cross the interface in
 * the peers' own serialized forms, so they reach Parley (and back) unchanged.
 *
 * Each peer keeps its records serialized, as a real store would: the libsignal-client records as
 * `SenderKeyRecord.serialize()` bytes, Baileys' as the JSON its own auth store writes.
 */
import {
  SenderKeyDistributionMessage as BaileysDistributionMessage,
  GroupCipher as BaileysGroupCipher,
  GroupSessionBuilder as BaileysGroupSessionBuilder,
  SenderKeyName as BaileysSenderKeyName,
  SenderKeyRecord as BaileysSenderKeyRecord,
} from 'baileys/lib/Signal/Group/index.js';
import { BufferJSON } from 'baileys/lib/Utils/generics.js';
import * as lsc023 from 'lsc-0-23';
import * as lsc072 from 'lsc-0-72';
import * as lsc090 from 'lsc-0-90';
import * as lsc0103 from 'lsc-0-103';
import type { SenderKeyFormat } from '../../src/wire/sender-key-format.js';
import { type PeerAddress, toBuffer, toU8 } from './types.js';

/** Why a peer refused a group message, in words every peer's errors map onto. */
export type GroupRefusal = 'duplicate' | 'no-sender-key' | 'other';

export interface GroupPeer {
  /** e.g. 'lsc-0.23.1', 'baileys-7.0.0-rc14'. */
  readonly kind: string;
  readonly format: SenderKeyFormat;
  readonly address: PeerAddress;
  /** This device's distribution message for `group` (its chain is created on first use). */
  createDistribution(group: string): Promise<Uint8Array>;
  /** A new chain for `group` (the old one is deleted), and its distribution message. */
  rotate(group: string): Promise<Uint8Array>;
  processDistribution(group: string, sender: PeerAddress, message: Uint8Array): Promise<void>;
  encrypt(group: string, plaintext: Uint8Array): Promise<Uint8Array>;
  decrypt(group: string, sender: PeerAddress, message: Uint8Array): Promise<Uint8Array>;
  /** Maps an error thrown by `decrypt` onto a {@link GroupRefusal}. */
  classify(error: unknown): GroupRefusal;
}

export type GroupPeerFactory = (address: PeerAddress) => GroupPeer;

// ---- libsignal-client -------------------------------------------------------------------

interface LscAddress {
  name(): string;
  deviceId(): number;
}
interface LscSerializable {
  serialize(): Uint8Array;
}
interface LscGroupApi {
  ProtocolAddress: { new: (name: string, deviceId: number) => LscAddress };
  SenderKeyRecord: { deserialize(bytes: Uint8Array): LscSerializable };
  SenderKeyDistributionMessage: {
    create(sender: LscAddress, distributionId: string, store: object): Promise<LscSerializable>;
    deserialize(bytes: Uint8Array): object;
  };
  SenderKeyStore: abstract new () => object;
  ErrorCode: { DuplicatedMessage: number };
  processSenderKeyDistributionMessage(sender: LscAddress, message: object, store: object): Promise<void>;
  groupEncrypt(
    sender: LscAddress,
    distributionId: string,
    store: object,
    message: Uint8Array,
  ): Promise<LscSerializable>;
  groupDecrypt(sender: LscAddress, store: object, message: Uint8Array): Promise<Uint8Array>;
}

const lscApis = {
  'lsc-0.23.1': lsc023 as unknown as LscGroupApi,
  'lsc-0.72.1': lsc072 as unknown as LscGroupApi,
  'lsc-0.90.0': lsc090 as unknown as LscGroupApi,
  'lsc-0.103.0': lsc0103 as unknown as LscGroupApi,
} as const;

export type LscGroupKind = keyof typeof lscApis;
export const lscGroupKinds = Object.keys(lscApis) as LscGroupKind[];

export function createLscGroupPeer(kind: LscGroupKind, address: PeerAddress): GroupPeer {
  const api = lscApis[kind];
  const records = new Map<string, Uint8Array>();
  const keyOf = (sender: LscAddress, distributionId: string) =>
    `${sender.name()}.${sender.deviceId()}::${distributionId}`;

  class SenderKeyStore extends api.SenderKeyStore {
    async saveSenderKey(sender: LscAddress, distributionId: string, record: LscSerializable): Promise<void> {
      records.set(keyOf(sender, distributionId), toU8(record.serialize()));
    }
    async getSenderKey(sender: LscAddress, distributionId: string): Promise<LscSerializable | null> {
      const bytes = records.get(keyOf(sender, distributionId));
      return bytes ? api.SenderKeyRecord.deserialize(toBuffer(bytes)) : null;
    }
  }
  const store = new SenderKeyStore();
  const local = api.ProtocolAddress.new(address.name, address.deviceId);
  const addr = (peer: PeerAddress) => api.ProtocolAddress.new(peer.name, peer.deviceId);
  /** Distribution id per group, as a Signal client keeps one per group conversation. */
  const distributionIds = new Map<string, string>();
  const distributionIdOf = (group: string) => {
    let id = distributionIds.get(group);
    if (!id) {
      id = globalThis.crypto.randomUUID();
      distributionIds.set(group, id);
    }
    return id;
  };

  return {
    kind,
    format: 'signal',
    address,
    async createDistribution(group) {
      const message = await api.SenderKeyDistributionMessage.create(local, distributionIdOf(group), store);
      return toU8(message.serialize());
    },
    async rotate(group) {
      // As Signal-Desktop resets a sender key: a new distribution id, so a new record and chain.
      records.delete(keyOf(local, distributionIdOf(group)));
      distributionIds.delete(group);
      return this.createDistribution(group);
    },
    async processDistribution(_group, sender, message) {
      const decoded = api.SenderKeyDistributionMessage.deserialize(toBuffer(message));
      await api.processSenderKeyDistributionMessage(addr(sender), decoded, store);
    },
    async encrypt(group, plaintext) {
      const message = await api.groupEncrypt(local, distributionIdOf(group), store, toBuffer(plaintext));
      return toU8(message.serialize());
    },
    async decrypt(_group, sender, message) {
      return toU8(await api.groupDecrypt(addr(sender), store, toBuffer(message)));
    },
    classify(error) {
      const e = error as { code?: unknown; message?: unknown };
      if (e?.code === api.ErrorCode.DuplicatedMessage) return 'duplicate';
      if (/no sender key state|missing sender key state/i.test(String(e?.message))) return 'no-sender-key';
      return 'other';
    },
  };
}

// ---- Baileys -----------------------------------------------------------------------------

export const BAILEYS_KIND = 'baileys-7.0.0-rc14';

/** Baileys' `jidToSignalProtocolAddress` result: what its SenderKeyName serializes. */
function baileysAddress(peer: PeerAddress) {
  return { id: peer.name, deviceId: peer.deviceId, toString: () => `${peer.name}.${peer.deviceId}` };
}

export interface BaileysGroupPeerOptions {
  /** Serialize records exactly as Baileys' own signalStorage does (plain JSON.stringify). */
  readonly baileysOwnStorage?: boolean;
}

export interface BaileysGroupPeer extends GroupPeer {
  /**
   * Walks this device's own chain in `group` forward by `steps` iterations with Baileys' own
   * SenderChainKey, as its encrypt does per message minus the (8 ms, pure-JS) signature: it
   * stands for messages sent to other members that a receiver under test never saw.
   */
  skipAhead(group: string, steps: number): Promise<void>;
}

export function createBaileysGroupPeer(
  address: PeerAddress,
  options: BaileysGroupPeerOptions = {},
): BaileysGroupPeer {
  // As Baileys' signalStorage: a missing record loads as an empty one, records are JSON read
  // back by `SenderKeyRecord.deserialize` (with Baileys' BufferJSON reviver). Unlike
  // signalStorage, buffers are written with BufferJSON's replacer: signalStorage's plain
  // `JSON.stringify` turns every skipped-key seed into an object its reviver does not restore,
  // so Baileys cannot use a skipped key after a reload (measured in group-peer-bugs.test.ts);
  // the replacer lets the scenarios exercise Baileys' cipher past that bug.
  const records = new Map<string, Uint8Array>();
  const store = {
    async loadSenderKey(name: BaileysSenderKeyName) {
      const bytes = records.get(name.toString());
      return bytes ? BaileysSenderKeyRecord.deserialize(bytes) : new BaileysSenderKeyRecord();
    },
    async storeSenderKey(name: BaileysSenderKeyName, record: BaileysSenderKeyRecord) {
      const json = JSON.stringify(
        record.serialize(),
        options.baileysOwnStorage ? undefined : BufferJSON.replacer,
      );
      records.set(name.toString(), toU8(Buffer.from(json, 'utf-8')));
    },
  };
  const nameOf = (group: string, peer: PeerAddress) => new BaileysSenderKeyName(group, baileysAddress(peer));

  return {
    kind: BAILEYS_KIND,
    format: 'whatsapp',
    address,
    async createDistribution(group) {
      const message = await new BaileysGroupSessionBuilder(store).create(nameOf(group, address));
      return toU8(message.serialize());
    },
    async rotate(group) {
      // As Baileys (and WhatsApp) rotate: drop our sender key, so `create` starts a new chain.
      records.delete(nameOf(group, address).toString());
      return this.createDistribution(group);
    },
    async processDistribution(group, sender, message) {
      const decoded = new BaileysDistributionMessage(null, null, null, null, toBuffer(message));
      await new BaileysGroupSessionBuilder(store).process(nameOf(group, sender), decoded);
    },
    async encrypt(group, plaintext) {
      return toU8(await new BaileysGroupCipher(store, nameOf(group, address)).encrypt(toBuffer(plaintext)));
    },
    async decrypt(group, sender, message) {
      return toU8(await new BaileysGroupCipher(store, nameOf(group, sender)).decrypt(toBuffer(message)));
    },
    async skipAhead(group, steps) {
      const name = nameOf(group, address);
      const record = await store.loadSenderKey(name);
      const state = record.getSenderKeyState();
      if (!state) throw new Error('no sending chain to walk');
      let chain = state.getSenderChainKey();
      for (let i = 0; i < steps; i++) chain = chain.getNext();
      state.setSenderChainKey(chain);
      await store.storeSenderKey(name, record);
    },
    classify(error) {
      const message = String((error as { message?: unknown })?.message);
      if (/old counter/.test(message)) return 'duplicate';
      if (/No session found to decrypt|No SenderKeyRecord/.test(message)) return 'no-sender-key';
      return 'other';
    },
  };
}

export const groupPeerFactories: Record<string, GroupPeerFactory> = {
  ...Object.fromEntries(
    lscGroupKinds.map((kind) => [kind, (address: PeerAddress) => createLscGroupPeer(kind, address)]),
  ),
  [BAILEYS_KIND]: (address: PeerAddress) => createBaileysGroupPeer(address),
};
