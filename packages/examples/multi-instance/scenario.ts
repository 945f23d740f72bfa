/**
 * One run of the multi-instance scenario: a deployment of `instances` gateway processes over
 * one PostgreSQL database (message store in a schema of its own, key vault in a schema of the
 * vault database), one business with one number registered once, `people` persons with
 * `devicesPerPerson` devices each (Parley session managers in this process) sending
 * `messagesPerDevice` messages each, the business answering every message and opening the
 * conversation with the first `outreach` persons, the faults of `chaos`, then the figures.
 *
 * The same options with `instances: 1` and no faults make the one-instance run whose
 * statistics, billing and integrity the multi-instance run is compared with.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createGateway,
  createLocalKeyProvider,
  type Directory,
  type IntegrityConfigInput,
  ParleyError,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createDeterministicRandom, createSimulatedPerson, type SimulatedPerson } from '@parley/core/testing';
import { createPostgresStore } from '@parley/storage-adapters/postgres';
import pg from 'pg';
import { BusinessDriver } from './business-driver.js';
import { Chaos, type ChaosPlan } from './chaos.js';
import { Cluster } from './cluster.js';
import { Dice } from './dice.js';
import { HarnessNetwork } from './harness-network.js';
import type { GatewayTuning, InstanceConfig, InstanceFigures } from './protocol.js';
import { type PublishFigures, SharedDirectory } from './shared-directory.js';
import { type Figures, Tally } from './tally.js';
import { sleep, waitUntil } from './work.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPOSITORY_ROOT = join(here, '..', '..', '..');

export const BUSINESS_ID = 'multi-instance-shop';
export const BUSINESS_NUMBER = '+15550001000';

/**
 * Integrity thresholds of the run: the business opens the conversation with `outreach` people
 * who never wrote, so "new recipients" passes `warn` at 20 in both runs — a level that only a
 * complete count over all instances reproduces. Throttling stays at its default (its slots
 * would pace every reply of the run).
 */
export const SCENARIO_INTEGRITY: IntegrityConfigInput = { thresholds: { newRecipients: { warn: 20 } } };

export const DEFAULT_TUNING: GatewayTuning = {
  tickMs: 250,
  redeliveryInitialMs: 250,
  sendInitialMs: 250,
  backoffMaxMs: 2_000,
  maxSendAttempts: 50,
  integrity: SCENARIO_INTEGRITY,
  poolMax: 8,
};

export interface ScenarioOptions {
  readonly url: string;
  /** The vault's database (another database of the same server). */
  readonly vaultUrl: string;
  readonly seed: string;
  readonly instances: number;
  readonly people: number;
  readonly devicesPerPerson: number;
  readonly messagesPerDevice: number;
  readonly outreach: number;
  readonly chaos: ChaosPlan;
  /** Calls in flight from the harness to the gateways, per kind. */
  readonly concurrency?: number;
  readonly tuning?: GatewayTuning;
  /** After the traffic, how long to wait for everything to arrive (leases must run out in it). */
  readonly drainTimeoutMs?: number;
  /** The whole run fails after this long (every child killed). */
  readonly deadlineMs?: number;
  /** Progress lines (never content or numbers). */
  readonly log?: (line: string) => void;
}

export interface ScenarioResult {
  readonly figures: Figures;
  /** Statistics, billing and integrity as one live instance reports them after the run. */
  readonly platform: InstanceFigures;
  readonly readFrom: number;
  readonly publishing: PublishFigures;
  readonly missedFaults: readonly string[];
  readonly drained: boolean;
  readonly seconds: number;
  readonly processesStarted: number;
  /** Background errors and plaintext buffers each live instance reported at the end. */
  readonly health: readonly {
    readonly instance: number;
    readonly backgroundErrors: number;
    readonly plaintext: number;
  }[];
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const log = options.log ?? (() => undefined);
  const dice = new Dice(options.seed);
  const tally = new Tally();
  const directory = new SharedDirectory();
  const tuning = options.tuning ?? DEFAULT_TUNING;
  const schema = `mi_${randomBytes(5).toString('hex')}`;
  const vaultSchema = `${schema}_vault`;
  const kekHex = Buffer.from(dice.random(32)).toString('hex');
  const crypto = createNodeCrypto();

  const persons: SimulatedPerson[] = [];
  for (let p = 0; p < options.people; p++) {
    const person = await createSimulatedPerson({
      phoneNumber: `+4930${String(p).padStart(7, '0')}`,
      devices: options.devicesPerPerson,
      crypto,
      random: createDeterministicRandom(`${options.seed}/person/${p}`),
      autoReceipts: false,
    });
    directory.addPerson(person);
    persons.push(person);
  }

  const configFor = (index: number, generation: number): InstanceConfig => ({
    index,
    generation,
    url: options.url,
    schema,
    vaultUrl: options.vaultUrl,
    vaultSchema,
    kekHex,
    businessId: BUSINESS_ID,
    tuning,
  });
  const network: HarnessNetwork = new HarnessNetwork({
    live: () => cluster.live(),
    dice,
    tally,
    directory,
    concurrency: options.concurrency ?? 48,
  });
  const cluster = new Cluster(configFor, (rpc, instance) => network.serve(rpc, instance), REPOSITORY_ROOT);
  const business = new BusinessDriver(
    network,
    tally,
    BUSINESS_NUMBER,
    (phoneNumber) => directory.fetchDevices(phoneNumber),
    options.concurrency ?? 48,
  );
  network.business = business;
  for (const person of persons) {
    person.attach({
      businessBundle: (number) => directory.businessBundle(number),
      submitFrame: async (frame) => {
        await network.deliverFrame(frame);
      },
      submitReceipt: (receipt) => network.deliverReceipt(receipt.frameId),
    });
  }

  const deadline = options.deadlineMs ?? 600_000;
  let chaosTimer: ReturnType<typeof setInterval> | undefined;
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    log('deadline passed: killing every instance');
    void cluster.stopAll();
  }, deadline);
  try {
    await register({ ...options, schema, vaultSchema, kekHex, directory });
    await Promise.all(Array.from({ length: options.instances }, (_, index) => cluster.start(index)));
    log(`${options.instances} instance(s) ready (${elapsed(startedAt)})`);

    const totalInbound = options.people * options.devicesPerPerson * options.messagesPerDevice;
    const chaos = new Chaos(cluster, dice, tally, options.url, options.chaos, () =>
      totalInbound === 0 ? 1 : tally.handled.size / totalInbound,
    );
    chaosTimer = setInterval(() => chaos.poll(), 50);

    // The business opens the conversation with the first `outreach` people.
    for (let p = 0; p < Math.min(options.outreach, persons.length); p++) {
      business.send(`hi ${p}`, persons[p]!.phoneNumber);
    }
    const devices = persons.flatMap((person, p) =>
      person.deviceIds.map((deviceId) => ({ person, p, deviceId })),
    );
    for (const { p, deviceId } of devices) {
      for (let k = 0; k < options.messagesPerDevice; k++) tally.planInbound(inboundTag(p, deviceId, k));
    }
    await Promise.all(
      devices.map(async ({ person, p, deviceId }) => {
        if (p < options.outreach) {
          // Answer only once the business's first message arrived on this device (bounded).
          const key = `${person.phoneNumber}/${deviceId}`;
          await waitUntil(() => tally.receptions.get(`hi ${p}`)?.has(key) === true, 60_000);
        } else {
          await sleep(dice.between(0, 500));
        }
        for (let k = 0; k < options.messagesPerDevice; k++) {
          await person.send(BUSINESS_NUMBER, inboundTag(p, deviceId, k), { deviceId });
        }
      }),
    );
    log(`traffic sent (${elapsed(startedAt)}): ${tally.handled.size}/${totalInbound} handled`);
    await chaos.finish();
    clearInterval(chaosTimer);

    const drainMs = options.drainTimeoutMs ?? 60_000;
    const settled = () =>
      tally.complete() && network.work.size === 0 && business.work.size === 0 && !chaos.busy;
    let drained = await waitUntil(settled, drainMs, 100);
    log(`drained: ${drained} (${elapsed(startedAt)})`);
    if (tally.unresolvedAmbiguous().length > 0) {
      // Give the last events and redeliveries a moment, then settle the sends of unknown outcome.
      await waitUntil(() => network.work.size === 0 && business.work.size === 0, 10_000, 100);
      const resent = business.reconcile();
      log(`ambiguous sends resent: ${resent}`);
      drained = await waitUntil(settled, drainMs, 100);
    }
    if (network.work.failure) throw network.work.failure;
    if (business.work.failure) throw business.work.failure;

    const reader = dice.pick(cluster.live());
    const platform = await reader.rpc.call<InstanceFigures>('figures', null, 60_000);
    const health = await Promise.all(
      cluster.live().map(async (instance) => ({
        instance: instance.index,
        ...(await instance.rpc.call<{ backgroundErrors: number; plaintext: number }>('health')),
      })),
    );
    await cluster.closeAll();
    return {
      figures: tally.figures(),
      platform,
      readFrom: reader.index,
      publishing: directory.figures(),
      missedFaults: chaos.missed,
      drained,
      seconds: (Date.now() - startedAt) / 1000,
      processesStarted: cluster.all().length,
      health,
    };
  } catch (error) {
    if (timedOut)
      throw new ParleyError('ERR_TRANSPORT_FAILURE', `the scenario passed its deadline of ${deadline} ms`);
    throw error;
  } finally {
    clearTimeout(watchdog);
    clearInterval(chaosTimer);
    await cluster.stopAll();
    await dropSchemas(options.url, [schema]).catch(() => undefined);
    await dropSchemas(options.vaultUrl, [vaultSchema]).catch(() => undefined);
  }
}

export function inboundTag(person: number, deviceId: number, k: number): string {
  return `in ${person}.${deviceId}.${k}`;
}

/** The business and its number, registered once for the whole deployment (in this process). */
async function register(options: {
  readonly url: string;
  readonly vaultUrl: string;
  readonly schema: string;
  readonly vaultSchema: string;
  readonly kekHex: string;
  readonly directory: SharedDirectory;
}): Promise<void> {
  const store = await createPostgresStore({ url: options.url, schema: options.schema, pool: { max: 2 } });
  const vaultStore = await createPostgresStore({
    url: options.vaultUrl,
    schema: options.vaultSchema,
    pool: { max: 2 },
  });
  const { directory } = options;
  const directoryLink: Directory = {
    publish: async (upload) => directory.publish(upload),
    availableOneTimePreKeys: async (number) => directory.availableOneTimePreKeys(number),
    availableOneTimeKyberPreKeys: async (number) => directory.availableOneTimeKyberPreKeys(number),
    fetchDevices: async (phoneNumber) => directory.fetchDevices(phoneNumber),
    fetchBundle: (phoneNumber, deviceId) => directory.fetchBundle(phoneNumber, deviceId),
  };
  const refuse = async () => {
    throw new ParleyError('ERR_TRANSPORT_FAILURE', 'the registering gateway sends nothing');
  };
  const crypto = createNodeCrypto();
  const gateway = createGateway({
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({ kek: Uint8Array.from(Buffer.from(options.kekHex, 'hex')), crypto }),
    transport: { send: refuse, requestRetry: refuse, acknowledge: refuse },
    directory: directoryLink,
    crypto,
    timer: false,
  });
  try {
    await gateway.registerBusiness({ businessId: BUSINESS_ID, retentionDays: 1 });
    await gateway.addNumber(BUSINESS_ID, BUSINESS_NUMBER);
  } finally {
    await gateway.close();
    await store.close();
    await vaultStore.close();
  }
}

async function dropSchemas(url: string, schemas: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'parley-mi-harness' });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
