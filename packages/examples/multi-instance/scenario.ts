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
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type IntegrityConfigInput, type IntegrityLevel, ParleyError } from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createDeterministicRandom, createSimulatedPerson, type SimulatedPerson } from '@parley/core/testing';
import { BusinessDriver } from './business-driver.js';
import { Chaos, type ChaosPlan } from './chaos.js';
import { Cluster } from './cluster.js';
import { dropPlacement, newPlacement, registerBusiness } from './deployment.js';
import { Dice } from './dice.js';
import { HarnessNetwork } from './harness-network.js';
import type { GatewayTuning, InstanceConfig, InstanceFigures, InstanceHealth } from './protocol.js';
import { type PublishFigures, SharedDirectory } from './shared-directory.js';
import { type Figures, Tally } from './tally.js';
import { sleep, waitUntil } from './work.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPOSITORY_ROOT = join(here, '..', '..', '..');

export const BUSINESS_ID = 'multi-instance-shop';
const LEVELS: readonly IntegrityLevel[] = ['ok', 'warn', 'throttle', 'block'];
/** How often the harness asks each instance which integrity level it applies. */
const LEVEL_SAMPLE_MS = 2_000;
/** Longest pause of a device waiting for the faults to catch up with the traffic. */
const CATCH_UP_MS = 120_000;
export const BUSINESS_NUMBER = '+15550001000';

/**
 * Integrity thresholds of the run. The business opens the conversation with `outreach` (40)
 * people who never wrote: exactly 40 unsolicited new recipients, so "new recipients" passes
 * `warn` at 20 and stays below `throttle` at 60 in a correct count — a count that counts a reply
 * as unsolicited (an instance that did not see the person write) passes 60 and throttles. The
 * contact-share rule is held off (its share moves with the order in which people first write,
 * which differs between runs), and a throttle spaces sends by 1 ms, so that a wrong throttle
 * shows in the level without stalling the run.
 */
export const SCENARIO_INTEGRITY: IntegrityConfigInput = {
  thresholds: {
    newRecipients: { warn: 20, throttle: 60 },
    contactShare: { minKnownContacts: 1_000_000 },
    throttleRatePerMinute: 60_000,
  },
};

export const DEFAULT_TUNING: GatewayTuning = {
  tickMs: 1_000,
  redeliveryInitialMs: 250,
  sendInitialMs: 250,
  backoffMaxMs: 2_000,
  maxSendAttempts: 50,
  // Longer than any attempt takes on a loaded two-core machine; short enough that the work of
  // a killed instance resumes within the run.
  claimLeaseMs: 5_000,
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
  readonly health: readonly (InstanceHealth & { readonly instance: number })[];
  /** The highest integrity level any instance applied to the business, sampled during the run. */
  readonly highestLevel: IntegrityLevel;
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const log = options.log ?? (() => undefined);
  const dice = new Dice(options.seed);
  const tally = new Tally();
  const directory = new SharedDirectory();
  const tuning = options.tuning ?? DEFAULT_TUNING;
  const placement = newPlacement(options.url, options.vaultUrl);
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
    ...placement,
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
  let levelTimer: ReturnType<typeof setInterval> | undefined;
  let highestLevel: IntegrityLevel = 'ok';
  const noteLevel = (level: IntegrityLevel) => {
    if (LEVELS.indexOf(level) > LEVELS.indexOf(highestLevel)) highestLevel = level;
  };
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    log('deadline passed: killing every instance');
    void cluster.stopAll();
  }, deadline);
  try {
    await registerBusiness(placement, {
      kekHex,
      businessId: BUSINESS_ID,
      number: BUSINESS_NUMBER,
      directory,
    });
    await Promise.all(Array.from({ length: options.instances }, (_, index) => cluster.start(index)));
    log(`${options.instances} instance(s) ready (${elapsed(startedAt)})`);

    const totalInbound = options.people * options.devicesPerPerson * options.messagesPerDevice;
    const chaos = new Chaos(cluster, dice, tally, options.url, options.chaos, () =>
      totalInbound === 0 ? 1 : tally.handled.size / totalInbound,
    );
    chaosTimer = setInterval(() => chaos.poll(), 50);
    // What each instance applies (a throttle paces the business's sends): sampled, cheaply.
    levelTimer = setInterval(() => {
      for (const instance of cluster.live()) {
        instance.rpc.call<InstanceHealth>('health').then(
          (h) => noteLevel(h.level),
          () => undefined,
        );
      }
    }, LEVEL_SAMPLE_MS);

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
          // Answer only once the business's first message is delivered (the gateway processed the
          // receipt), so that the conversation is opened by the business in every run (bounded).
          const key = `${person.phoneNumber}/${deviceId}`;
          await waitUntil(
            () => tally.receptions.get(`hi ${p}`)?.has(key) === true && tally.delivered(`hi ${p}`),
            60_000,
          );
        } else {
          await sleep(dice.between(0, 500));
        }
        for (let k = 0; k < options.messagesPerDevice; k++) {
          await waitUntil(() => !chaos.behind(), CATCH_UP_MS);
          await person.send(BUSINESS_NUMBER, inboundTag(p, deviceId, k), { deviceId });
        }
      }),
    );
    log(`traffic sent (${elapsed(startedAt)}): ${tally.handled.size}/${totalInbound} handled`);
    await chaos.finish();
    clearInterval(chaosTimer);

    const drainMs = options.drainTimeoutMs ?? 60_000;
    const idle = () => network.work.size === 0 && business.work.size === 0 && !chaos.busy;
    // Everything arrived but the sends of unknown outcome, and every message the gateway accepted
    // without the driver learning its id reached its devices (or the drain ran out).
    const settledButAmbiguous = () =>
      idle() &&
      tally.complete(new Set(tally.unresolvedAmbiguous())) &&
      tally.acceptedWithoutReturnedId().every((id) => tally.receivedById.has(id));
    let drained = false;
    for (let round = 0; round < 3; round++) {
      drained = await waitUntil(settledButAmbiguous, drainMs, 100);
      if (tally.unresolvedAmbiguous().length === 0) break;
      // Late `accepted` events (handed over again by another instance's tick) come first.
      await sleep(4 * tuning.tickMs);
      const resent = business.reconcile();
      log(`sends of unknown outcome sent again: ${resent}`);
      if (resent === 0) break;
    }
    drained = drained && (await waitUntil(() => idle() && tally.complete(), drainMs, 100));
    log(`drained: ${drained} (${elapsed(startedAt)})`);
    if (network.work.failure) throw network.work.failure;
    if (business.work.failure) throw business.work.failure;

    const reader = dice.pick(cluster.live());
    const platform = await reader.rpc.call<InstanceFigures>('figures', null, 60_000);
    clearInterval(levelTimer);
    const health = await Promise.all(
      cluster.live().map(async (instance) => ({
        instance: instance.index,
        ...(await instance.rpc.call<InstanceHealth>('health')),
      })),
    );
    for (const h of health) noteLevel(h.level);
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
      highestLevel,
    };
  } catch (error) {
    if (timedOut)
      throw new ParleyError('ERR_TRANSPORT_FAILURE', `the scenario passed its deadline of ${deadline} ms`);
    throw error;
  } finally {
    clearTimeout(watchdog);
    clearInterval(chaosTimer);
    clearInterval(levelTimer);
    await cluster.stopAll();
    // PARLEY_MI_KEEP_SCHEMA=1 keeps the run's schemas for inspection (named in the log).
    if (process.env.PARLEY_MI_KEEP_SCHEMA === '1')
      log(`kept schemas ${placement.schema}, ${placement.vaultSchema}`);
    else await dropPlacement(placement).catch(() => undefined);
  }
}

export function inboundTag(person: number, deviceId: number, k: number): string {
  return `in ${person}.${deviceId}.${k}`;
}

function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
