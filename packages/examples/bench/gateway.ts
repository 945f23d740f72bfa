/**
 * The gateway's own rows: inbound and outbound messages per second through one gateway in this
 * process (its public API: `receiveFrame`, `send`, a message handler, a transport and a
 * directory), on the memory store, a SQLite file and — when PARLEY_PG_URL is set — PostgreSQL,
 * with 1 and with 200 people, `concurrency` operations in flight.
 *
 * Inbound: the people's devices encrypt every frame before the clock starts; the clock stops
 * when the business's handler has had every message. Outbound: the business sends; the clock
 * stops when the transport has taken every frame (encrypted, stored with the session update);
 * the devices decrypt them afterwards, untimed, as a check. Deployments are built once and the
 * phases interleaved across them, round after round; medians.
 *
 * Beside each rate: commits per message (every `commit` of the message store and the vault,
 * counted by a wrapping store), the gateway process's CPU per message, and a per-message
 * breakdown measured on a separate pass with one message in flight: time inside the crypto
 * provider and the random source (synchronous calls, timed exactly), time with a store call
 * under way (both stores; crypto done meanwhile is not counted twice), and the rest (the
 * gateway's own code, encoding, scheduling).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  type CryptoProvider,
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  type Directory,
  defaultRandom,
  type Gateway,
  type InboundFrame,
  isParleyError,
  type OutboundFrame,
  type RandomSource,
  type Store,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, type SimulatedPerson } from '@parley/core/testing';
import { dropPlacement, newPlacement, type Placement } from '../multi-instance/deployment.js';
import { SharedDirectory } from '../multi-instance/shared-directory.js';
import { Limiter } from '../multi-instance/work.js';
import { formatRate, median, print, table } from './output.js';

export type GatewayStoreKind = 'memory' | 'sqlite-file' | 'postgres';

export interface GatewayBenchConfig {
  readonly rounds: number;
  readonly people: readonly number[];
  readonly concurrency: number;
  /** Messages per phase and round, per store. */
  readonly messages: Readonly<Record<GatewayStoreKind, number>>;
  /** Messages of the one-in-flight breakdown pass, per phase. */
  readonly breakdownMessages: number;
  /** Only these stores (profiling); default: memory, SQLite file and, with a URL, PostgreSQL. */
  readonly stores?: readonly GatewayStoreKind[];
}

export const GATEWAY_FULL: GatewayBenchConfig = {
  rounds: 3,
  people: [1, 200],
  concurrency: 64,
  messages: { memory: 600, 'sqlite-file': 400, postgres: 300 },
  breakdownMessages: 100,
};

/** The smoke run: 10 people instead of 200 (their sessions are set up first, untimed but slow). */
export const GATEWAY_QUICK: GatewayBenchConfig = {
  rounds: 1,
  people: [1, 10],
  concurrency: 64,
  messages: { memory: 60, 'sqlite-file': 40, postgres: 40 },
  breakdownMessages: 5,
};

const BUSINESS_ID = 'bench';
const BUSINESS_NUMBER = '+15550002000';
const PHASE_TIMEOUT_MS = 5 * 60_000;

// ── Meters ──────────────────────────────────────────────────────────────────────────

/** Counts commits always; times crypto and store calls while `timing` is on. */
class Meter {
  timing = false;
  commits = 0;
  cryptoMs = 0;
  storeMs = 0;
  private storeCalls = 0;
  private storeSince = 0;
  private cryptoDuringStore = 0;

  reset(): void {
    this.commits = 0;
    this.cryptoMs = 0;
    this.storeMs = 0;
    this.cryptoDuringStore = 0;
  }

  /** Store time without the crypto that ran while a store call was waiting. */
  storeOnlyMs(): number {
    return this.storeMs - this.cryptoDuringStore;
  }

  timeSync<T>(call: () => T): T {
    if (!this.timing) return call();
    const started = performance.now();
    try {
      return call();
    } finally {
      const spent = performance.now() - started;
      this.cryptoMs += spent;
      if (this.storeCalls > 0) this.cryptoDuringStore += spent;
    }
  }

  /** A store call: timed from its start until its promise settles (or it returns, if synchronous). */
  timeStore<T>(call: () => T): T {
    if (!this.timing) return call();
    if (this.storeCalls++ === 0) this.storeSince = performance.now();
    const end = () => {
      if (--this.storeCalls === 0) this.storeMs += performance.now() - this.storeSince;
    };
    let result: T;
    try {
      result = call();
    } catch (error) {
      end();
      throw error;
    }
    if (result instanceof Promise) return result.finally(end) as T;
    end();
    return result;
  }
}

/**
 * The store as the gateway sees it, every method passed through (whatever the Store interface
 * holds now or later); a method whose name starts with `commit` is one transaction.
 */
function meteredStore(store: Store, meter: Meter): Store {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      let wrapper = wrapped.get(property);
      if (!wrapper) {
        const isCommit = typeof property === 'string' && property.startsWith('commit');
        wrapper = (...args: unknown[]) => {
          if (isCommit) meter.commits += 1;
          return meter.timeStore(() => (value as (...a: unknown[]) => unknown).apply(target, args));
        };
        wrapped.set(property, wrapper);
      }
      return wrapper;
    },
  });
}

/** The provider with every method timed (they are synchronous), incremental objects included. */
function meteredCrypto(crypto: CryptoProvider, meter: Meter): CryptoProvider {
  const wrapped = new Map<PropertyKey, unknown>();
  const wrapObject = <T extends object>(object: T): T =>
    new Proxy(object, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          meter.timeSync(() => (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
  return new Proxy(crypto, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      let wrapper = wrapped.get(property);
      if (!wrapper) {
        const makesObject = typeof property === 'string' && property.startsWith('create');
        wrapper = (...args: unknown[]) => {
          const result = meter.timeSync(() => (value as (...a: unknown[]) => unknown).apply(target, args));
          return makesObject && typeof result === 'object' && result !== null ? wrapObject(result) : result;
        };
        wrapped.set(property, wrapper);
      }
      return wrapper;
    },
  });
}

/** Resolves waiters as a count reaches their target. */
class Counter {
  value = 0;
  private waiters: { target: number; resolve: () => void }[] = [];

  add(): void {
    this.value += 1;
    this.waiters = this.waiters.filter((waiter) => {
      if (this.value < waiter.target) return true;
      waiter.resolve();
      return false;
    });
  }

  until(target: number): Promise<void> {
    if (this.value >= target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('gateway bench: a phase did not finish')),
        PHASE_TIMEOUT_MS,
      );
      this.waiters.push({
        target,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

// ── Deployments ─────────────────────────────────────────────────────────────────────

interface Deployment {
  readonly kind: GatewayStoreKind;
  readonly people: SimulatedPerson[];
  readonly gateway: Gateway;
  readonly meter: Meter;
  readonly handled: Counter;
  readonly sentFrames: Counter;
  readonly frames: OutboundFrame[];
  /** Failures the gateway reported from background work, by error code. */
  readonly backgroundErrors: Record<string, number>;
  close(): Promise<void>;
}

async function openStores(
  kind: GatewayStoreKind,
  pgUrl: string | undefined,
): Promise<{ store: Store; vaultStore: Store; cleanup(): Promise<void> }> {
  if (kind === 'memory') {
    return { store: createMemoryStore(), vaultStore: createMemoryStore(), cleanup: async () => undefined };
  }
  if (kind === 'sqlite-file') {
    const { createSqliteStore } = await import('@parley/storage-adapters/sqlite');
    const dir = mkdtempSync(join(tmpdir(), 'parley-gw-bench-'));
    return {
      store: createSqliteStore({ path: join(dir, 'messages.db') }),
      vaultStore: createSqliteStore({ path: join(dir, 'vault.db') }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (!pgUrl) throw new Error('PARLEY_PG_URL is not set');
  const { createPostgresStore } = await import('@parley/storage-adapters/postgres');
  const placement: Placement = newPlacement(pgUrl);
  return {
    store: await createPostgresStore({ url: placement.url, schema: placement.schema }),
    vaultStore: await createPostgresStore({ url: placement.vaultUrl, schema: placement.vaultSchema }),
    cleanup: () => dropPlacement(placement),
  };
}

function directoryOf(shared: SharedDirectory): Directory {
  return {
    publish: async (upload) => shared.publish(upload),
    availableOneTimePreKeys: async (number) => shared.availableOneTimePreKeys(number),
    availableOneTimeKyberPreKeys: async (number) => shared.availableOneTimeKyberPreKeys(number),
    fetchDevices: async (phoneNumber) => shared.fetchDevices(phoneNumber),
    fetchBundle: (phoneNumber, deviceId) => shared.fetchBundle(phoneNumber, deviceId),
  };
}

async function openDeployment(
  kind: GatewayStoreKind,
  peopleCount: number,
  pgUrl: string | undefined,
): Promise<Deployment> {
  const meter = new Meter();
  const { store, vaultStore, cleanup } = await openStores(kind, pgUrl);
  const shared = new SharedDirectory();
  const frames: OutboundFrame[] = [];
  const handled = new Counter();
  const sentFrames = new Counter();
  const crypto = meteredCrypto(createNodeCrypto(), meter);
  const random: RandomSource = (length) => meter.timeSync(() => defaultRandom(length));
  const gateway = createGateway({
    store: meteredStore(store, meter),
    vaultStore: meteredStore(vaultStore, meter),
    keyProvider: createLocalKeyProvider({ kek: defaultRandom(32), crypto }),
    transport: {
      send: async (frame) => {
        frames.push(frame);
        sentFrames.add();
      },
      requestRetry: async () => undefined,
      acknowledge: async () => undefined,
    },
    directory: directoryOf(shared),
    crypto,
    random,
    timer: false,
  });
  const backgroundErrors: Record<string, number> = {};
  gateway.onError((error) => {
    const code = isParleyError(error) ? error.code : error instanceof Error ? error.name : 'unknown';
    backgroundErrors[code] = (backgroundErrors[code] ?? 0) + 1;
  });
  await gateway.registerBusiness({ businessId: BUSINESS_ID, retentionDays: 1 });
  await gateway.addNumber(BUSINESS_ID, BUSINESS_NUMBER);
  gateway.onMessage(BUSINESS_ID, () => {
    handled.add();
  });

  // The people's devices run on a provider of their own: only the gateway's work is metered.
  const personCrypto = createNodeCrypto();
  const people: SimulatedPerson[] = [];
  for (let p = 0; p < peopleCount; p++) {
    const person = await createSimulatedPerson({
      phoneNumber: `+4930${String(p).padStart(7, '0')}`,
      crypto: personCrypto,
      autoReceipts: false,
    });
    shared.addPerson(person);
    people.push(person);
  }
  // Sessions both ways, untimed: a message from each device, one back to each person.
  for (const person of people) {
    await person.startSession(BUSINESS_NUMBER, shared.businessBundle(BUSINESS_NUMBER));
    await gateway.receiveFrame(await person.encrypt(BUSINESS_NUMBER, 'hello'));
  }
  await handled.until(people.length);
  for (const person of people)
    await gateway.send({ from: BUSINESS_NUMBER, to: person.phoneNumber, content: 'welcome' });
  await sentFrames.until(people.length);
  for (const frame of frames.splice(0)) await shared.person(frame.to)!.decrypt(frame);

  return {
    kind,
    people,
    gateway,
    meter,
    handled,
    sentFrames,
    frames,
    backgroundErrors,
    async close() {
      await gateway.close();
      await store.close();
      await vaultStore.close();
      await cleanup();
    },
  };
}

// ── Phases ──────────────────────────────────────────────────────────────────────────

export interface PhaseSample {
  readonly perSecond: number;
  /** Operations the gateway refused (by error code): not in the rate. */
  readonly failures: Readonly<Record<string, number>>;
  readonly commitsPerMessage: number;
  /** CPU of this process (gateway, store client, harness) per message, µs. */
  readonly cpuMicros: number;
}

/** `work` returns the messages that went through (the rest failed and are in `failures`). */
async function measured(
  deployment: Deployment,
  work: (failures: Record<string, number>) => Promise<number>,
): Promise<PhaseSample> {
  deployment.meter.reset();
  const failures: Record<string, number> = {};
  const cpu = process.cpuUsage();
  const started = performance.now();
  const count = await work(failures);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    perSecond: count / seconds,
    failures,
    commitsPerMessage: deployment.meter.commits / Math.max(1, count),
    cpuMicros: (used.user + used.system) / Math.max(1, count),
  };
}

function tally(failures: Record<string, number>, error: unknown): void {
  if (!isParleyError(error)) throw error;
  failures[error.code] = (failures[error.code] ?? 0) + 1;
}

async function encryptFrames(deployment: Deployment, count: number, tag: string): Promise<InboundFrame[]> {
  const frames: InboundFrame[] = [];
  const { people } = deployment;
  for (let k = 0; k < count; k++)
    frames.push(await people[k % people.length]!.encrypt(BUSINESS_NUMBER, `${tag} ${k}`));
  return frames;
}

async function inbound(deployment: Deployment, count: number, concurrency: number): Promise<PhaseSample> {
  const frames = await encryptFrames(deployment, count, 'inbound');
  const target = deployment.handled.value + count;
  const limiter = new Limiter(concurrency);
  return measured(deployment, async () => {
    await Promise.all(
      frames.map((frame) =>
        limiter.run(async () => {
          const outcome = await deployment.gateway.receiveFrame(frame);
          if (outcome.kind === 'undecryptable')
            throw new Error('gateway bench: a frame could not be decrypted');
        }),
      ),
    );
    await deployment.handled.until(target);
    return count;
  });
}

async function outbound(deployment: Deployment, count: number, concurrency: number): Promise<PhaseSample> {
  const before = deployment.sentFrames.value;
  const limiter = new Limiter(concurrency);
  const { people, gateway } = deployment;
  const sample = await measured(deployment, async (failures) => {
    let accepted = 0;
    await Promise.all(
      Array.from({ length: count }, (_, k) =>
        limiter.run(() =>
          gateway
            .send({
              from: BUSINESS_NUMBER,
              to: people[k % people.length]!.phoneNumber,
              content: `outbound ${k}`,
            })
            .then(
              () => {
                accepted += 1;
              },
              (error: unknown) => tally(failures, error),
            ),
        ),
      ),
    );
    await deployment.sentFrames.until(before + accepted);
    return accepted;
  });
  await checkFrames(deployment);
  return sample;
}

/** The devices decrypt what the gateway sent (untimed): a frame they cannot read aborts the run. */
async function checkFrames(deployment: Deployment): Promise<void> {
  const byNumber = new Map(deployment.people.map((person) => [person.phoneNumber, person]));
  for (const frame of deployment.frames.splice(0)) await byNumber.get(frame.to)!.decrypt(frame);
}

export interface Breakdown {
  /** µs per message, one message in flight. */
  readonly totalMicros: number;
  readonly cryptoMicros: number;
  readonly storeMicros: number;
  readonly restMicros: number;
  readonly commitsPerMessage: number;
}

/** One message in flight, crypto and store calls timed. */
async function breakdown(
  deployment: Deployment,
  direction: 'inbound' | 'outbound',
  count: number,
): Promise<Breakdown> {
  const frames = direction === 'inbound' ? await encryptFrames(deployment, count, 'serial') : [];
  const { meter, gateway, people } = deployment;
  meter.reset();
  meter.timing = true;
  const started = performance.now();
  try {
    for (let k = 0; k < count; k++) {
      if (direction === 'inbound') {
        const target = deployment.handled.value + 1;
        await gateway.receiveFrame(frames[k]!);
        await deployment.handled.until(target);
      } else {
        const target = deployment.sentFrames.value + 1;
        await gateway.send({
          from: BUSINESS_NUMBER,
          to: people[k % people.length]!.phoneNumber,
          content: `serial ${k}`,
        });
        await deployment.sentFrames.until(target);
      }
    }
  } finally {
    meter.timing = false;
  }
  const total = ((performance.now() - started) * 1000) / count;
  const crypto = (meter.cryptoMs * 1000) / count;
  const store = (meter.storeOnlyMs() * 1000) / count;
  if (direction === 'outbound') await checkFrames(deployment);
  return {
    totalMicros: total,
    cryptoMicros: crypto,
    storeMicros: store,
    restMicros: total - crypto - store,
    commitsPerMessage: meter.commits / count,
  };
}

// ── The run ─────────────────────────────────────────────────────────────────────────

export interface GatewayRow {
  readonly store: GatewayStoreKind;
  readonly people: number;
  readonly messages: number;
  readonly inbound: { readonly samples: PhaseSample[]; readonly breakdown?: Breakdown };
  readonly outbound: { readonly samples: PhaseSample[]; readonly breakdown?: Breakdown };
  /** Failures the gateway reported from background work over the whole run, by error code. */
  readonly backgroundErrors?: Readonly<Record<string, number>>;
}

export async function runGatewayBench(
  config: GatewayBenchConfig,
  pgUrl: string | undefined,
  log: (line: string) => void = () => undefined,
): Promise<GatewayRow[]> {
  const kinds: readonly GatewayStoreKind[] = config.stores ?? [
    'memory',
    'sqlite-file',
    ...(pgUrl ? (['postgres'] as const) : []),
  ];
  const deployments: Deployment[] = [];
  const rows: GatewayRow[] = [];
  try {
    for (const kind of kinds) {
      for (const people of config.people) {
        deployments.push(await openDeployment(kind, people, pgUrl));
        rows.push({
          store: kind,
          people,
          messages: config.messages[kind],
          inbound: { samples: [] },
          outbound: { samples: [] },
        });
      }
    }
    log(`gateway: ${deployments.length} deployments ready`);
    for (let round = 0; round < config.rounds; round++) {
      // Interleaved: each round visits every deployment, starting one further along.
      for (let i = 0; i < deployments.length; i++) {
        const at = (i + round) % deployments.length;
        const deployment = deployments[at]!;
        const row = rows[at]!;
        row.inbound.samples.push(await inbound(deployment, row.messages, config.concurrency));
        row.outbound.samples.push(await outbound(deployment, row.messages, config.concurrency));
      }
      log(`gateway: round ${round + 1}/${config.rounds} done`);
    }
    const done: GatewayRow[] = [];
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const deployment = deployments[i]!;
      done.push({
        ...row,
        backgroundErrors: deployment.backgroundErrors,
        inbound: {
          ...row.inbound,
          breakdown: await breakdown(deployment, 'inbound', config.breakdownMessages),
        },
        outbound: {
          ...row.outbound,
          breakdown: await breakdown(deployment, 'outbound', config.breakdownMessages),
        },
      });
    }
    log('gateway: breakdown done');
    return done;
  } finally {
    for (const deployment of deployments) await deployment.close();
  }
}

const STORE_LABEL: Record<GatewayStoreKind, string> = {
  memory: 'memory',
  'sqlite-file': 'SQLite file',
  postgres: 'PostgreSQL',
};

/** Medians of the rows: rate, commits, CPU; then the one-in-flight breakdown. */
export function gatewayLines(
  rows: readonly GatewayRow[],
  config: GatewayBenchConfig,
  decryptCpuMicros: Partial<Record<GatewayStoreKind, number>>,
): string[] {
  const micros = (value: number | undefined) => (value === undefined ? '—' : value.toFixed(0));
  const body: string[][] = [];
  for (const row of rows) {
    for (const phase of ['inbound', 'outbound'] as const) {
      const { samples, breakdown: b } = row[phase];
      const cpu = median(samples.map((s) => s.cpuMicros));
      const baseline = decryptCpuMicros[row.store];
      body.push([
        `${STORE_LABEL[row.store]}, ${row.people} ${row.people === 1 ? 'person' : 'people'}, ${phase}`,
        formatRate(median(samples.map((s) => s.perSecond))),
        (median(samples.map((s) => s.commitsPerMessage)) ?? 0).toFixed(2),
        micros(cpu),
        baseline && cpu ? `${(cpu / baseline).toFixed(1)}×` : '—',
        micros(b?.totalMicros),
        micros(b?.cryptoMicros),
        micros(b?.storeMicros),
        micros(b?.restMicros),
        b ? b.commitsPerMessage.toFixed(2) : '—',
      ]);
    }
  }
  return [
    `Gateway (one instance in this process, node provider, ${config.concurrency} operations in flight, ` +
      `${Object.entries(config.messages)
        .map(([kind, n]) => `${n} msgs per phase on ${STORE_LABEL[kind as GatewayStoreKind]}`)
        .join(', ')}; ${config.rounds} interleaved round(s), medians; wall time)`,
    ...table(
      [
        'store, people, direction',
        'msgs/s',
        'commits/msg',
        'CPU µs/msg',
        '÷ decrypt CPU',
        '1-in-flight µs/msg',
        'crypto',
        'store',
        'rest',
        'commits/msg',
      ],
      body,
    ),
    ...failureLines(rows),
    "  commits: of the message store and the vault, counted by a wrapping store during the phase (the last messages' final commits can land after it);",
    '  on SQLite and PostgreSQL the commits of one event-loop turn share one transaction (group commit: one WAL flush for all of them, each',
    '  commit still atomic). CPU: this process (gateway, store client, handler, harness).',
    "  ÷ decrypt CPU: the gateway's CPU per message over SessionManager.decrypt's on the same kind of store in the storage row, same run.",
    '  1-in-flight: a separate pass, one message at a time: crypto = provider and random source calls; store = time with a store call',
    '  under way (both stores; PostgreSQL includes its round trips); rest = everything else (gateway code, encoding, scheduling).',
  ];
}

/**
 * Alone, for profiling one row: `tsx --conditions=parley-source bench/gateway.ts [--quick]
 * [--stores=memory,sqlite-file,postgres] [--people=200]`.
 */
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const option = (name: string) =>
    process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) || undefined;
  const base = process.argv.includes('--quick') ? GATEWAY_QUICK : GATEWAY_FULL;
  const stores = option('stores')?.split(',') as GatewayStoreKind[] | undefined;
  const people = option('people');
  if (people && !/^\d+(,\d+)*$/.test(people)) throw new Error(`--people: expected counts such as 1,200`);
  for (const kind of stores ?? []) {
    if (!(kind in STORE_LABEL)) throw new Error(`--stores: unknown store "${kind}"`);
  }
  const config: GatewayBenchConfig = {
    ...base,
    ...(stores ? { stores } : {}),
    ...(people ? { people: people.split(',').map(Number) } : {}),
  };
  const rows = await runGatewayBench(config, process.env.PARLEY_PG_URL, print);
  for (const line of gatewayLines(rows, config, {})) print(line);
}

function failureLines(rows: readonly GatewayRow[]): string[] {
  const lines: string[] = [];
  for (const row of rows) {
    const background = Object.entries(row.backgroundErrors ?? {}).map(([code, n]) => `${code} ${n}`);
    if (background.length > 0) {
      lines.push(
        `  background work failed (gateway.onError): ${STORE_LABEL[row.store]}, ${row.people} people: ${background.join(', ')}`,
      );
    }
    for (const phase of ['inbound', 'outbound'] as const) {
      const total: Record<string, number> = {};
      for (const sample of row[phase].samples) {
        for (const [code, n] of Object.entries(sample.failures)) total[code] = (total[code] ?? 0) + n;
      }
      const listed = Object.entries(total).map(([code, n]) => `${code} ${n}`);
      if (listed.length > 0) {
        lines.push(
          `  refused (not in the rate): ${STORE_LABEL[row.store]}, ${row.people} people, ${phase}: ${listed.join(', ')} of ${row.messages * row[phase].samples.length}`,
        );
      }
    }
  }
  return lines;
}
