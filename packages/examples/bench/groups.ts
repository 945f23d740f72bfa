/**
 * Group (sender-key) throughput: one sender encrypts a stream of group messages, one member
 * device decrypts them in order. Parley's GroupSessions (node:crypto, memory store, one commit
 * per message) next to libsignal-client's GroupCipher (`groupEncrypt`/`groupDecrypt`, old and
 * current) in the `signal` format, and next to Baileys' GroupCipher in the `whatsapp` format.
 * The peers run through the test suite's group adapters (packages/core/test/peers/groups.ts),
 * whose stores hold serialized records as a real store would.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createMemoryStore, GroupSessions, type MembershipPolicy, type SenderKeyFormat } from '@parley/core';
import type { PeerAddress } from '../../core/test/peers/types.js';
import { parleyCrypto } from './libs.js';

export interface GroupBenchParty {
  readonly address: PeerAddress;
  createDistribution(group: string): Promise<Uint8Array>;
  processDistribution(group: string, sender: PeerAddress, message: Uint8Array): Promise<void>;
  encrypt(group: string, plaintext: Uint8Array): Promise<Uint8Array>;
  decrypt(group: string, sender: PeerAddress, message: Uint8Array): Promise<Uint8Array>;
}

export interface GroupBenchLib {
  readonly id: string;
  readonly label: string;
  readonly format: SenderKeyFormat;
  /** Baileys signs with pure-JS curve25519 (~100 messages/s): it gets smaller counts. */
  readonly speed: 'fast' | 'slow';
  createParty(address: PeerAddress): Promise<GroupBenchParty>;
}

/** The bench's member devices are all members: membership is the caller's, not measured here. */
const everyone: MembershipPolicy = { name: 'bench', isMember: () => true };

function parleyGroupParty(address: PeerAddress, format: SenderKeyFormat): GroupBenchParty {
  const groups = new GroupSessions({
    store: createMemoryStore(),
    membership: everyone,
    format,
    crypto: parleyCrypto('node'),
    scope: `${address.name}.${address.deviceId}`,
  });
  return {
    address,
    createDistribution: async (group) => (await groups.createDistribution(group)).body,
    processDistribution: async (group, sender, message) => {
      await groups.processDistribution(group, sender, message);
    },
    encrypt: async (group, plaintext) => (await groups.encrypt(group, plaintext)).body,
    decrypt: async (group, sender, message) => (await groups.decrypt(group, sender, message)).plaintext,
  };
}

async function peerGroupParty(kind: string, address: PeerAddress): Promise<GroupBenchParty> {
  const { groupPeerFactories } = await import('../../core/test/peers/groups.js');
  const factory = groupPeerFactories[kind];
  if (!factory) throw new Error(`unknown group peer ${kind}`);
  return factory(address);
}

export const GROUP_LIBS: readonly GroupBenchLib[] = [
  {
    id: 'parley-node',
    label: 'Parley (signal)',
    format: 'signal',
    speed: 'fast',
    createParty: async (address) => parleyGroupParty(address, 'signal'),
  },
  {
    id: 'parley-node-whatsapp',
    label: 'Parley (whatsapp)',
    format: 'whatsapp',
    speed: 'fast',
    createParty: async (address) => parleyGroupParty(address, 'whatsapp'),
  },
  {
    id: 'lsc-0.23.1',
    label: 'lsc 0.23.1',
    format: 'signal',
    speed: 'fast',
    createParty: (address) => peerGroupParty('lsc-0.23.1', address),
  },
  {
    id: 'lsc-0.103.0',
    label: 'lsc 0.103.0',
    format: 'signal',
    speed: 'fast',
    createParty: (address) => peerGroupParty('lsc-0.103.0', address),
  },
  {
    id: 'baileys-7.0.0-rc14',
    label: 'Baileys rc14',
    format: 'whatsapp',
    speed: 'slow',
    createParty: (address) => peerGroupParty('baileys-7.0.0-rc14', address),
  },
];

let groupCounter = 0;

/**
 * Encrypts `count` 100-byte group messages, then decrypts them in order at one member device;
 * timed separately, setup (parties, distribution) untimed. Every plaintext is compared.
 */
export async function groupRates(
  lib: GroupBenchLib,
  count: number,
  messageBytes: number,
): Promise<{ encrypt: number; decrypt: number }> {
  groupCounter += 1;
  const group = `bench-group-${groupCounter}`;
  const sender = await lib.createParty({ name: `gs-${groupCounter}`, deviceId: 1 });
  const receiver = await lib.createParty({ name: `gr-${groupCounter}`, deviceId: 1 });
  await receiver.processDistribution(group, sender.address, await sender.createDistribution(group));
  const pool = randomBytes(messageBytes * 64);
  const plaintexts = Array.from(
    { length: count },
    (_, i) => new Uint8Array(pool.subarray((i % 64) * messageBytes, ((i % 64) + 1) * messageBytes)),
  );
  const messages: Uint8Array[] = [];
  let start = performance.now();
  for (const plaintext of plaintexts) messages.push(await sender.encrypt(group, plaintext));
  const encrypt = count / ((performance.now() - start) / 1000);
  start = performance.now();
  for (let i = 0; i < count; i++) {
    const plaintext = await receiver.decrypt(group, sender.address, messages[i]!);
    if (Buffer.compare(plaintext, plaintexts[i]!) !== 0) {
      throw new Error('group stream: decrypted plaintext differs from the one sent');
    }
  }
  const decrypt = count / ((performance.now() - start) / 1000);
  return { encrypt, decrypt };
}
