/**
 * Messages per second through one, two and three gateway processes over one PostgreSQL
 * database (the multi-instance harness's processes: message store and vault on the server of
 * PARLEY_PG_URL, a local key provider each, the network and the directory in this process).
 *
 * Per deployment: persons with one device each start their sessions first (a message each way,
 * untimed). Inbound: every frame is encrypted by the devices before the clock starts, then
 * handed to instances picked at random, `concurrency` at a time; the clock stops when the
 * business's handler has had every message. Outbound: the business asks random instances to
 * send, `concurrency` at a time; the clock stops when the transport has taken every frame
 * (encrypted, stored with the session update, handed over); the devices decrypt them afterwards,
 * untimed, as a check. Both are wall time on this machine, with the CPU each part used beside
 * them (the gateways, PostgreSQL, the harness, and how busy the machine was): that says what
 * bounds the figure. Measures only.
 *
 *   run from `pnpm bench` when PARLEY_PG_URL is set, or alone:
 *   tsx --conditions=parley-source bench/multi-instance.ts [--quick]
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type InboundFrame, isParleyError, type OutboundFrame, type ReceiveOutcome } from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, type SimulatedPerson } from '@parley/core/testing';
import { Cluster, type GatewayProcess } from '../multi-instance/cluster.js';
import { dropPlacement, newPlacement, registerBusiness, vaultUrlFor } from '../multi-instance/deployment.js';
import { Dice } from '../multi-instance/dice.js';
import type { InstanceConfig, InstanceHealth } from '../multi-instance/protocol.js';
import { BUSINESS_ID, BUSINESS_NUMBER, DEFAULT_TUNING } from '../multi-instance/scenario.js';
import { SharedDirectory } from '../multi-instance/shared-directory.js';
import { Limiter, waitUntil } from '../multi-instance/work.js';
import { cpuBetween, cpuSnapshot } from './cpu-accounting.js';
import { formatRate, formatRatio, print, table } from './output.js';

export interface MultiInstanceBenchConfig {
  readonly people: number;
  /** Messages per phase (inbound, outbound) and deployment. */
  readonly messages: number;
  readonly concurrency: number;
  readonly instances: readonly number[];
}

export const MULTI_FULL: MultiInstanceBenchConfig = {
  people: 100,
  messages: 1_000,
  concurrency: 64,
  instances: [1, 2, 3],
};
/** The smoke run inside `pnpm bench --quick` (which has a minute in all): one and two instances. */
export const MULTI_QUICK: MultiInstanceBenchConfig = {
  people: 10,
  messages: 40,
  concurrency: 16,
  instances: [1, 2],
};

export interface PhaseResult {
  readonly perSecond: number;
  readonly seconds: number;
  /** Cores' worth of CPU over the phase. */
  readonly gatewayCores: number;
  readonly harnessCores: number;
  readonly postgresCores: number | undefined;
  readonly machineBusy: number | undefined;
}

export interface MultiInstanceRow {
  readonly instances: number;
  readonly inbound: PhaseResult;
  readonly outbound: PhaseResult;
  /** Outbound frames the devices could not decrypt afterwards (a check: 0). */
  readonly undecryptable: number;
  /** Inbound frames an instance refused (by error code) and the network delivered again. */
  readonly frameRetries: Readonly<Record<string, number>>;
  /** `send` calls that failed (by error code): not counted in the outbound rate. */
  readonly sendFailures: Readonly<Record<string, number>>;
}

const here = dirname(fileURLToPath(import.meta.url));
const REPOSITORY_ROOT = join(here, '..', '..', '..');
/** A frame refused this often is a failure of the bench, not a retry. */
const MAX_FRAME_ATTEMPTS = 20;
/** A phase that does not finish in this long failed (an instance stuck or dead). */
const PHASE_TIMEOUT_MS = 10 * 60_000;

export async function runMultiInstanceBench(
  url: string,
  config: MultiInstanceBenchConfig,
  log: (line: string) => void = () => undefined,
): Promise<MultiInstanceRow[]> {
  const rows: MultiInstanceRow[] = [];
  for (const instances of config.instances) {
    rows.push(await benchDeployment(url, instances, config));
    log(`multi-instance: ${instances} instance(s) done`);
  }
  return rows;
}

async function benchDeployment(
  url: string,
  instances: number,
  config: MultiInstanceBenchConfig,
): Promise<MultiInstanceRow> {
  const dice = new Dice(`bench/${instances}`);
  const directory = new SharedDirectory();
  const placement = newPlacement(url, vaultUrlFor(url));
  const kekHex = Buffer.from(dice.random(32)).toString('hex');
  const crypto = createNodeCrypto();
  const persons: SimulatedPerson[] = [];
  for (let p = 0; p < config.people; p++) {
    const person = await createSimulatedPerson({
      phoneNumber: `+4940${String(p).padStart(7, '0')}`,
      crypto,
      random: dice.random,
      autoReceipts: false,
    });
    directory.addPerson(person);
    persons.push(person);
  }
  const frames: OutboundFrame[] = [];
  let handled = 0;
  const configFor = (index: number, generation: number): InstanceConfig => ({
    index,
    generation,
    ...placement,
    kekHex,
    businessId: BUSINESS_ID,
    tuning: DEFAULT_TUNING,
  });
  const cluster = new Cluster(
    configFor,
    (rpc) => {
      rpc.serve('transport.send', ({ frame }: { frame: OutboundFrame }) => {
        frames.push(frame);
      });
      rpc.serve('transport.acknowledge', () => undefined);
      rpc.serve('transport.requestRetry', () => undefined);
      rpc.serve('directory.publish', (upload: Parameters<SharedDirectory['publish']>[0]) =>
        directory.publish(upload),
      );
      rpc.serve('directory.availableOneTimePreKeys', (n: string) => directory.availableOneTimePreKeys(n));
      rpc.serve('directory.availableOneTimeKyberPreKeys', (n: string) =>
        directory.availableOneTimeKyberPreKeys(n),
      );
      rpc.serve('directory.fetchDevices', (phone: string) => directory.fetchDevices(phone));
      rpc.serve('directory.fetchBundle', (a: { phoneNumber: string; deviceId: number }) =>
        directory.fetchBundle(a.phoneNumber, a.deviceId),
      );
      rpc.serve('business.message', () => {
        handled += 1;
      });
      rpc.serve('business.event', () => undefined);
    },
    REPOSITORY_ROOT,
  );
  const limiter = new Limiter(config.concurrency);
  const pick = (): GatewayProcess => dice.pick(cluster.live());
  const frameRetries: Record<string, number> = {};
  const sendFailures: Record<string, number> = {};
  const count = (tally: Record<string, number>, error: unknown) => {
    const code = isParleyError(error) ? error.code : 'unknown';
    tally[code] = (tally[code] ?? 0) + 1;
  };
  // A frame an instance refused (a store conflict that outlasted its retries) comes again, as
  // the network redelivers what was not acknowledged; the refusal is counted.
  const deliver = (frame: InboundFrame) =>
    limiter.run(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const outcome = await pick().rpc.call<ReceiveOutcome>('receiveFrame', frame);
          if (outcome.kind === 'undecryptable') throw new Error('a bench frame could not be decrypted');
          return;
        } catch (error) {
          if (!isParleyError(error) || attempt >= MAX_FRAME_ATTEMPTS) throw error;
          count(frameRetries, error);
        }
      }
    });
  let sent = 0;
  const send = (person: SimulatedPerson, content: string) =>
    limiter.run(() =>
      pick()
        .rpc.call('send', { from: BUSINESS_NUMBER, to: person.phoneNumber, content })
        .then(
          () => {
            sent += 1;
          },
          (error: unknown) => count(sendFailures, error),
        ),
    );
  const until = async (done: () => boolean, what: string) => {
    if (!(await waitUntil(done, PHASE_TIMEOUT_MS, 5))) throw new Error(`bench phase did not finish: ${what}`);
  };
  const gatewayCpu = async () => {
    const health = await Promise.all(cluster.live().map((i) => i.rpc.call<InstanceHealth>('health')));
    return health.reduce((sum, h) => sum + h.cpuSeconds, 0);
  };
  const measure = async (count: () => number, work: () => Promise<void>): Promise<PhaseResult> => {
    const gatewayBefore = await gatewayCpu();
    const harnessBefore = process.cpuUsage();
    const before = cpuSnapshot();
    await work();
    const after = cpuSnapshot();
    const harness = process.cpuUsage(harnessBefore);
    const gatewayAfter = await gatewayCpu();
    const seconds = (after.at - before.at) / 1000;
    const share = cpuBetween(before, after);
    return {
      perSecond: count() / seconds,
      seconds,
      gatewayCores: (gatewayAfter - gatewayBefore) / seconds,
      harnessCores: (harness.user + harness.system) / 1e6 / seconds,
      postgresCores: share.postgresCores,
      machineBusy: share.machineBusy,
    };
  };

  try {
    await registerBusiness(placement, {
      kekHex,
      businessId: BUSINESS_ID,
      number: BUSINESS_NUMBER,
      directory,
    });
    await Promise.all(Array.from({ length: instances }, (_, index) => cluster.start(index)));

    // Sessions both ways, untimed: a message from each device, one back to each person.
    const bundleFor = (person: SimulatedPerson) =>
      person.startSession(BUSINESS_NUMBER, directory.businessBundle(BUSINESS_NUMBER));
    for (const person of persons) await bundleFor(person);
    await Promise.all(persons.map(async (person) => deliver(await person.encrypt(BUSINESS_NUMBER, 'hello'))));
    await until(() => handled >= persons.length, 'warm-up inbound');
    await Promise.all(persons.map((person) => send(person, 'welcome')));
    await until(() => frames.length >= sent, 'warm-up outbound');
    for (const frame of frames.splice(0)) await directory.person(frame.to)!.decrypt(frame);

    // Inbound: frames encrypted before the clock starts.
    const inboundFrames: InboundFrame[] = [];
    for (let k = 0; k < config.messages; k++) {
      inboundFrames.push(await persons[k % persons.length]!.encrypt(BUSINESS_NUMBER, `inbound ${k}`));
    }
    const handledBefore = handled;
    const inbound = await measure(
      () => config.messages,
      async () => {
        await Promise.all(inboundFrames.map(deliver));
        await until(() => handled - handledBefore >= config.messages, 'inbound');
      },
    );

    const outbound = await measure(
      () => sent,
      async () => {
        await Promise.all(
          Array.from({ length: config.messages }, (_, k) =>
            send(persons[k % persons.length]!, `outbound ${k}`),
          ),
        );
        await until(() => frames.length >= config.messages, 'outbound');
      },
    );
    let undecryptable = 0;
    for (const frame of frames.splice(0)) {
      await directory
        .person(frame.to)!
        .decrypt(frame)
        .catch(() => {
          undecryptable += 1;
        });
    }
    await cluster.closeAll();
    return { instances, inbound, outbound, undecryptable, frameRetries, sendFailures };
  } finally {
    await cluster.stopAll();
    await dropPlacement(placement).catch(() => undefined);
  }
}

/** The bench's lines: rates, the ratio to one instance, and where the CPU went. */
export function multiInstanceLines(
  rows: readonly MultiInstanceRow[],
  config: MultiInstanceBenchConfig,
): string[] {
  const one = rows.find((row) => row.instances === 1);
  const cores = (value: number | undefined) => (value === undefined ? '—' : value.toFixed(2));
  const busy = (value: number | undefined) => (value === undefined ? '—' : `${Math.round(value * 100)} %`);
  const lines = [
    `Several instances over one PostgreSQL (${config.people} people, ${config.messages} messages per phase, ` +
      `${config.concurrency} calls in flight; wall time; CPU in cores over the phase)`,
  ];
  const body: string[][] = [];
  for (const row of rows) {
    for (const [phase, result, base] of [
      ['inbound', row.inbound, one?.inbound],
      ['outbound', row.outbound, one?.outbound],
    ] as const) {
      body.push([
        `${row.instances} instance${row.instances === 1 ? '' : 's'} ${phase}`,
        formatRate(result.perSecond),
        formatRatio(base ? result.perSecond / base.perSecond : undefined),
        cores(result.gatewayCores),
        cores(result.postgresCores),
        cores(result.harnessCores),
        busy(result.machineBusy),
      ]);
    }
  }
  lines.push(
    ...table(
      ['deployment', 'msgs/s', '÷ 1 inst.', 'gateways', 'PostgreSQL', 'harness', 'machine busy'],
      body,
    ),
  );
  const failures = rows.reduce((sum, row) => sum + row.undecryptable, 0);
  lines.push(`  outbound frames the devices could not decrypt afterwards: ${failures}`);
  const listed = (record: Readonly<Record<string, number>>) =>
    Object.entries(record)
      .map(([code, n]) => `${code} ${n}`)
      .join(', ') || 'none';
  for (const row of rows) {
    lines.push(
      `  ${row.instances} instance(s): frames refused and delivered again: ${listed(row.frameRetries)}; sends failed: ${listed(row.sendFailures)}`,
    );
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.PARLEY_PG_URL;
  if (!url) {
    process.stderr.write('PARLEY_PG_URL is not set: export PARLEY_PG_URL="$(bash .ci/postgres-setup.sh)"\n');
    process.exit(2);
  }
  const config = process.argv.includes('--quick') ? MULTI_QUICK : MULTI_FULL;
  const rows = await runMultiInstanceBench(url, config, print);
  for (const line of multiInstanceLines(rows, config)) print(line);
}
