/**
 * What a business's send to a group costs the gateway, for groups of 2, 32 and 256 member
 * devices (each member a person with two devices): the whole `sendToGroup` until the transport
 * took every frame — the message stored, one sender-key encryption, the type-7 frame handed
 * over per device, and for devices that lack the chain its distribution message over 1:1.
 *
 * - first send: no 1:1 session yet (each device's bundle fetched from the directory — bundles
 *   made beforehand, X3DH — and a session started), a distribution message to every device;
 * - new chain: the first send after a member was removed (the chain rotated): every remaining
 *   device gets the new chain over its existing session;
 * - steady state: every device holds the chain: type-7 frames only;
 * - as 1:1 messages: the same content sent to each member as a 1:1 message (existing sessions),
 *   one encryption per device — what a business without groups would do.
 *
 * Memory store, node:crypto, integrity (thresholds out of reach) and statistics on (they are part of a send); the
 * transport and directory are in-memory stand-ins that do nothing else. Wall time, medians of
 * the rounds (a fresh gateway per round and size). Measures only.
 *
 *   run from `pnpm bench`, or alone: tsx --conditions=parley-source bench/group-sends.ts [--quick]
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  type Directory,
  defaultRandom,
  type Gateway,
  type OutboundFrame,
  type PreKeyBundle,
  type PreKeyUpload,
  type Transport,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock } from '@parley/core/testing';
import { median, table } from './output.js';

export interface GroupSendConfig {
  /** Member devices per group (two per member). */
  readonly sizes: readonly number[];
  readonly rounds: number;
  /** Steady-state sends timed per round. */
  readonly steadySends: number;
}

export const GROUP_SEND_FULL: GroupSendConfig = { sizes: [2, 32, 256], rounds: 5, steadySends: 20 };
export const GROUP_SEND_QUICK: GroupSendConfig = { sizes: [2, 32, 256], rounds: 1, steadySends: 3 };

export interface GroupSendRow {
  readonly devices: number;
  /** Milliseconds per send (medians). */
  readonly firstSendMs: number;
  readonly newChainMs: number;
  readonly steadyMs: number;
  readonly oneToOneMs: number;
}

const NUMBER = '+15550100';
const DEVICES_PER_MEMBER = 2;
const CONTENT = 'The ride starts at 9:00 at the bridge; bring lights.';

/** The network stand-in: bundles made beforehand, frames counted and dropped. */
class BenchNetwork implements Transport, Directory {
  readonly bundles = new Map<string, PreKeyBundle>();
  frames: OutboundFrame[] = [];

  async send(frame: OutboundFrame): Promise<void> {
    this.frames.push(frame);
  }
  async requestRetry(): Promise<void> {}
  async acknowledge(): Promise<void> {}
  async publish(_upload: PreKeyUpload): Promise<void> {}
  async availableOneTimePreKeys(): Promise<number> {
    return 1_000;
  }
  async availableOneTimeKyberPreKeys(): Promise<number> {
    return 1_000;
  }
  async fetchDevices(): Promise<readonly number[]> {
    return Array.from({ length: DEVICES_PER_MEMBER }, (_, i) => i + 1);
  }
  async fetchBundle(phoneNumber: string, deviceId: number): Promise<PreKeyBundle> {
    const bundle = this.bundles.get(`${phoneNumber}.${deviceId}`);
    if (!bundle) throw new Error('no bundle');
    return bundle;
  }

  /** The frames since the last call: sender-key (type 7) and 1:1 ones. */
  take(): { readonly group: number; readonly oneToOne: number } {
    const frames = this.frames;
    this.frames = [];
    const group = frames.filter((frame) => frame.type === 7).length;
    return { group, oneToOne: frames.length - group };
  }
}

async function timed(gateway: Gateway, work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  await gateway.idle();
  return performance.now() - start;
}

function expectFrames(actual: { group: number; oneToOne: number }, group: number, oneToOne: number): void {
  if (actual.group !== group || actual.oneToOne !== oneToOne) {
    throw new Error(
      `group send bench: expected ${group} type-7 and ${oneToOne} 1:1 frames, got ${actual.group} and ${actual.oneToOne}`,
    );
  }
}

async function oneRound(devices: number, steadySends: number): Promise<GroupSendRow> {
  const crypto = createNodeCrypto();
  const clock = new ManualClock();
  const network = new BenchNetwork();
  const gateway = createGateway({
    store: createMemoryStore({ clock }),
    vaultStore: createMemoryStore({ clock }),
    keyProvider: createLocalKeyProvider({ kek: defaultRandom(32), crypto }),
    transport: network,
    directory: network,
    crypto,
    clock,
    timer: false,
    preKeys: { batchSize: 10, kyberBatchSize: 2, kyberLowWaterMark: 1 },
    // Counted as always (every member a recipient), but a bench business messaging hundreds of
    // new recipients at once must not be throttled or blocked.
    integrity: {
      thresholds: {
        contactShare: { minKnownContacts: 1_000_000 },
        newRecipients: { warn: 1_000_000, throttle: 1_000_000, block: 1_000_000 },
      },
    },
  });
  try {
    await gateway.registerBusiness({ businessId: 'bench' });
    await gateway.addNumber('bench', NUMBER);
    const members: string[] = [];
    for (let i = 0; i < devices / DEVICES_PER_MEMBER; i++) {
      const phoneNumber = `+1555${String(100_000 + i)}`;
      const person = await createSimulatedPerson({ phoneNumber, devices: DEVICES_PER_MEMBER, crypto, clock });
      for (const deviceId of person.deviceIds) {
        network.bundles.set(`${phoneNumber}.${deviceId}`, await person.bundle(deviceId));
      }
      members.push(phoneNumber);
    }
    const groupId = await gateway.createGroup({ from: NUMBER, members });
    const send = () => gateway.sendToGroup({ groupId, content: CONTENT });

    const firstSendMs = await timed(gateway, send);
    expectFrames(network.take(), devices, devices);
    const steady: number[] = [];
    for (let i = 0; i < steadySends; i++) {
      steady.push(await timed(gateway, send));
      expectFrames(network.take(), devices, 0);
    }
    const oneToOneMs = await timed(gateway, async () => {
      for (const member of members) await gateway.send({ from: NUMBER, to: member, content: CONTENT });
    });
    expectFrames(network.take(), 0, devices);
    // A removal rotates the chain: the next send distributes it over the existing sessions
    // (a group of one member has no one left to send to).
    let newChainMs = Number.NaN;
    if (members.length > 1) {
      await gateway.removeGroupMembers(groupId, [members[0]!]);
      newChainMs = await timed(gateway, send);
      const remaining = devices - DEVICES_PER_MEMBER;
      expectFrames(network.take(), remaining, remaining);
    }
    return { devices, firstSendMs, newChainMs, steadyMs: median(steady)!, oneToOneMs };
  } finally {
    await gateway.close();
  }
}

export async function runGroupSendBench(config: GroupSendConfig): Promise<GroupSendRow[]> {
  // One warm-up round at the smallest size: the first gateway pays the JIT.
  await oneRound(config.sizes[0]!, 1);
  const rows: GroupSendRow[] = [];
  for (const devices of config.sizes) {
    const samples: GroupSendRow[] = [];
    for (let round = 0; round < config.rounds; round++)
      samples.push(await oneRound(devices, config.steadySends));
    const of = (pick: (row: GroupSendRow) => number) => median(samples.map(pick))!;
    rows.push({
      devices,
      firstSendMs: of((row) => row.firstSendMs),
      newChainMs: devices > DEVICES_PER_MEMBER ? of((row) => row.newChainMs) : Number.NaN,
      steadyMs: of((row) => row.steadyMs),
      oneToOneMs: of((row) => row.oneToOneMs),
    });
  }
  return rows;
}

const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));

export function groupSendLines(rows: readonly GroupSendRow[], config: GroupSendConfig): string[] {
  return [
    `Group sends through the gateway (ms per send, whole sendToGroup until the transport took every frame; two devices per member; medians of ${config.rounds} round(s))`,
    ...table(
      [
        'member devices',
        'first send (new 1:1 sessions)',
        'first send of a new chain',
        'steady state',
        '  per device',
        'as 1:1 messages',
      ],
      rows.map((row) => [
        String(row.devices),
        ms(row.firstSendMs),
        row.devices > DEVICES_PER_MEMBER ? ms(row.newChainMs) : '— (no one left)',
        ms(row.steadyMs),
        `${((row.steadyMs * 1000) / row.devices).toFixed(0)} µs`,
        ms(row.oneToOneMs),
      ]),
    ),
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const config = process.argv.includes('--quick') ? GROUP_SEND_QUICK : GROUP_SEND_FULL;
  const rows = await runGroupSendBench(config);
  for (const line of groupSendLines(rows, config)) console.log(line);
}
