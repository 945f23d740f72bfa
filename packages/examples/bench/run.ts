/**
 * `pnpm bench`: Parley beside libsignal-client (0.23.1; 0.90.0 and 0.103.0), libsignal 6.0.0 and
 * privacyresearch on the same workloads, every library as a user runs it (its public API and
 * the store it ships or recommends, records in that store's form; see libs.ts), plus the
 * bare-primitive floors. Ratios are like for like: v3 Parley ÷ the v3 libraries, v4 + SPQR
 * Parley ÷ the v4 libraries. Interleaved rounds, medians, Parley ÷ peer; memory per held
 * session from child processes (rss-child.ts); the gateway's own rows on each store
 * (gateway.ts); groups and media; with PARLEY_PG_URL set, PostgreSQL rows and messages per
 * second through one, two and three gateway processes over one PostgreSQL (multi-instance.ts).
 * Results as JSON and an SVG chart in bench/results/.
 *
 *   pnpm bench                 full run (about a quarter of an hour on a shared 2-core machine)
 *   pnpm bench --quick         CI smoke run (under a minute; says so; results go to *.tmp files)
 *   options: --rounds=N  --only=parley-node,lsc-0.23.1  --skip-rss
 *
 * Measures only: nothing here compares against a threshold or fails on a slow number.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Store } from '@parley/core';
import type { PeerAddress } from '../../core/test/peers/types.js';
import { commandLineOrExit, positiveInteger } from '../src/cli.js';
import { type BenchConfig, countsFor, FULL, QUICK } from './config.js';
import { GATEWAY_FULL, GATEWAY_QUICK, type GatewayRow, gatewayLines, runGatewayBench } from './gateway.js';
import {
  GROUP_SEND_FULL,
  GROUP_SEND_QUICK,
  type GroupSendRow,
  groupSendLines,
  runGroupSendBench,
} from './group-sends.js';
import { GROUP_LIBS, groupRates } from './groups.js';
import { type BenchLib, type BenchParty, createParleyParty, LIBS, libById, parleyCrypto } from './libs.js';
import { MEDIA_FULL, MEDIA_QUICK, mediaBenchLines, runMediaBench } from './media.js';
import {
  MULTI_FULL,
  MULTI_QUICK,
  type MultiInstanceRow,
  multiInstanceLines,
  runMultiInstanceBench,
} from './multi-instance.js';
import {
  type ChartGroup,
  describeError,
  formatBytes,
  formatKiB,
  formatRate,
  formatRatio,
  median,
  print,
  ratioChart,
  silenceConsole,
  table,
} from './output.js';
import {
  MESSAGE_BYTES,
  persistedDecryptsPerSecond,
  pingPongsPerSecond,
  recordSizes,
  sessionsPerSecond,
  streamRates,
} from './workloads.js';

// ── Options ─────────────────────────────────────────────────────────────────────────

const flags = commandLineOrExit(
  'pnpm bench',
  'Parley beside libsignal-client, libsignal (node) and privacyresearch on the same workloads, with the\n' +
    'bare-primitive floors: interleaved rounds, medians, Parley ÷ peer ratios. Measures only; never fails\n' +
    'on a slow number. Results go to bench/results/ (JSON and SVG).',
  {
    quick: { type: 'boolean', help: 'CI smoke run: few rounds and small counts (under a minute)' },
    rounds: { type: 'string', help: 'interleaved rounds per workload', validate: positiveInteger },
    only: {
      type: 'string',
      help: `comma-separated library ids (${LIBS.map((lib) => lib.id).join(', ')})`,
      validate: (value) => {
        const unknown = value.split(',').filter((id) => !LIBS.some((lib) => lib.id === id));
        return unknown.length ? `does not know ${unknown.join(', ')}` : undefined;
      },
    },
    'skip-rss': { type: 'boolean', help: 'skip the memory measurement (child processes)' },
  },
);

silenceConsole();
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const benchDir = dirname(fileURLToPath(import.meta.url));
const examplesDir = dirname(benchDir);
const resultsDir = join(benchDir, 'results');

const base: BenchConfig = flags.quick ? QUICK : FULL;
const config: BenchConfig = { ...base, rounds: Number(flags.rounds ?? base.rounds) };
const only = flags.only?.split(',');
const libs: readonly BenchLib[] = only ? only.map(libById) : LIBS;
const skipRss = flags['skip-rss'];
const PARLEY = 'parley-node';
const PORTABLE = 'parley-portable';
const PARLEY_V4 = 'parley-node-v4-spqr';
const present = (id: string) => libs.some((lib) => lib.id === id);

// ── Samples ─────────────────────────────────────────────────────────────────────────

type Metric = 'sessions' | 'encrypt' | 'decrypt' | 'reverse' | 'reverseRatio' | 'pingPong';
const METRICS: readonly Metric[] = ['sessions', 'encrypt', 'decrypt', 'pingPong', 'reverse', 'reverseRatio'];
const samples = new Map<Metric, Map<string, number[]>>(METRICS.map((m) => [m, new Map()]));
const storageSamples = new Map<string, number[]>();
const storageCpuSamples = new Map<string, number[]>();
const groupSamples = new Map<string, { encrypt: number[]; decrypt: number[] }>();
const failures = new Map<string, string>();
const notes: string[] = [];

function record(metric: Metric, lib: string, value: number): void {
  const byLib = samples.get(metric)!;
  const list = byLib.get(lib) ?? [];
  list.push(value);
  byLib.set(lib, list);
}

function medianOf(metric: Metric, lib: string): number | undefined {
  return median(samples.get(metric)!.get(lib) ?? []);
}

/** Runs one measurement; a library that throws is skipped for that workload from then on. */
async function attempt(lib: string, workload: string, run: () => Promise<void>): Promise<void> {
  const key = `${lib} ${workload}`;
  if (failures.has(key)) return;
  gc();
  try {
    await run();
  } catch (error) {
    failures.set(key, describeError(error));
  }
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  return n === 0 ? [] : items.map((_, i) => items[(i + by) % n]!);
}

// ── Storage row (Parley only) ───────────────────────────────────────────────────────

type StoreVariant = 'memory' | 'sqlite-file' | 'sqlite-memory' | 'postgres';
// PostgreSQL joins when PARLEY_PG_URL names a server (each run in a schema of its own, dropped after).
const PG_URL = process.env.PARLEY_PG_URL;
const STORE_VARIANTS: readonly StoreVariant[] = [
  'memory',
  'sqlite-file',
  'sqlite-memory',
  ...(PG_URL ? (['postgres'] as const) : []),
];
type SqliteFactory = (options: { path: string }) => Store;
let createSqliteStore: SqliteFactory | undefined;
let sqliteMissing: string | undefined;
try {
  ({ createSqliteStore } = (await import('@parley/storage-adapters/sqlite')) as {
    createSqliteStore: SqliteFactory;
  });
} catch (error) {
  sqliteMissing = describeError(error);
}

type StorageResult = Awaited<ReturnType<typeof persistedDecryptsPerSecond>>;

async function storageRun(variant: StoreVariant, count: number): Promise<StorageResult> {
  const lib = libById(PARLEY);
  const crypto = parleyCrypto('node');
  if (variant === 'memory') {
    return persistedDecryptsPerSecond(lib, (address) => createParleyParty(address, { crypto }), count);
  }
  if (variant === 'postgres') return postgresRun(count);
  if (!createSqliteStore) throw new Error(`SQLite adapter unavailable: ${sqliteMissing}`);
  const dir = variant === 'sqlite-file' ? mkdtempSync(join(tmpdir(), 'parley-bench-')) : undefined;
  const stores: Store[] = [];
  const open = createSqliteStore;
  try {
    const createB = async (address: PeerAddress): Promise<BenchParty> => {
      const store = open({ path: dir ? join(dir, 'sessions.db') : ':memory:' });
      stores.push(store);
      return createParleyParty(address, { crypto, store });
    };
    return await persistedDecryptsPerSecond(lib, createB, count);
  } finally {
    for (const store of stores) await store.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresRun(count: number): Promise<StorageResult> {
  const { createPostgresStore } = await import('@parley/storage-adapters/postgres');
  const { default: pg } = await import('pg');
  const lib = libById(PARLEY);
  const crypto = parleyCrypto('node');
  const schema = `bench_${process.pid}_${Date.now().toString(36)}`;
  const stores: Store[] = [];
  try {
    const createB = async (address: PeerAddress): Promise<BenchParty> => {
      const store = await createPostgresStore({ url: PG_URL!, schema });
      stores.push(store);
      return createParleyParty(address, { crypto, store });
    };
    return await persistedDecryptsPerSecond(lib, createB, count);
  } finally {
    for (const store of stores) await store.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

// ── Rounds ──────────────────────────────────────────────────────────────────────────

async function round(index: number, warmup: boolean): Promise<void> {
  const order = rotate(libs, index);
  for (const lib of order) {
    const counts = countsFor(config, lib, warmup);
    await attempt(lib.id, 'sessions', async () => {
      const rate = await sessionsPerSecond(lib, counts.sessions);
      if (!warmup) record('sessions', lib.id, rate);
    });
  }
  for (const lib of order) {
    const counts = countsFor(config, lib, warmup);
    await attempt(lib.id, 'stream', async () => {
      const rates = await streamRates(
        lib,
        counts.stream,
        warmup ? Math.min(100, config.reverse) : config.reverse,
      );
      if (warmup) return;
      record('encrypt', lib.id, rates.encrypt);
      record('decrypt', lib.id, rates.decrypt);
      record('reverse', lib.id, rates.reverse);
      record('reverseRatio', lib.id, rates.reverse / rates.decrypt);
    });
  }
  for (const lib of order) {
    const counts = countsFor(config, lib, warmup);
    await attempt(lib.id, 'ping-pong', async () => {
      const rate = await pingPongsPerSecond(lib, counts.pingPong);
      if (!warmup) record('pingPong', lib.id, rate);
    });
  }
  if (!libs.some((lib) => lib.id === PARLEY)) return;
  for (const lib of rotate(GROUP_LIBS, index)) {
    const count = config.groups[lib.speed];
    await attempt(lib.id, 'groups', async () => {
      const rates = await groupRates(lib, warmup ? Math.min(50, count) : count, MESSAGE_BYTES);
      if (warmup) return;
      const list = groupSamples.get(lib.id) ?? { encrypt: [], decrypt: [] };
      list.encrypt.push(rates.encrypt);
      list.decrypt.push(rates.decrypt);
      groupSamples.set(lib.id, list);
    });
  }
  for (const variant of rotate(STORE_VARIANTS, index)) {
    const count =
      variant === 'memory'
        ? config.storage.memory
        : variant === 'sqlite-file' || variant === 'postgres'
          ? config.storage.sqliteFile
          : config.storage.sqliteMemory;
    await attempt(`storage`, variant, async () => {
      const result = await storageRun(variant, warmup ? Math.min(50, count) : count);
      if (warmup) return;
      storageSamples.set(variant, [...(storageSamples.get(variant) ?? []), result.rate]);
      storageCpuSamples.set(variant, [...(storageCpuSamples.get(variant) ?? []), result.cpuMicros]);
    });
  }
}

// ── Memory per held session (child processes) ──────────────────────────────────────

interface RssResult {
  readonly lib: string;
  readonly sessions: number;
  readonly seconds: number;
  readonly rssPerSession: number;
  readonly rawRssPerSession: number;
  readonly heapPerSession: number;
}

function rssChild(lib: BenchLib, count: number): Promise<RssResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        // A small, fixed young generation: its size (V8 grows and shrinks it on its own) is not sessions.
        '--max-semi-space-size=1',
        // Without this, V8 drops the bytecode of functions not run lately (module set-up code) at
        // every few collections: memory falls steadily while the sessions grow, whatever they hold.
        '--no-flush-bytecode',
        '--conditions=parley-source',
        '--import',
        'tsx',
        join(benchDir, 'rss-child.ts'),
        lib.id,
        String(count),
      ],
      { cwd: examplesDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) {
        resolve(JSON.parse(last) as RssResult);
        return;
      }
      // Only the error line of the child's stderr (its message), never more.
      const reason = stderr.split('\n').find((line) => /Error/.test(line)) ?? `exit code ${code}`;
      reject(new Error(reason.trim().slice(0, 160)));
    });
  });
}

async function measureRss(): Promise<Map<string, RssResult>> {
  const results = new Map<string, RssResult>();
  const queue = libs.filter(
    (lib) => lib.group !== 'floor' && (!config.rssLibs || config.rssLibs.includes(lib.id)),
  );
  const worker = async () => {
    for (let lib = queue.shift(); lib; lib = queue.shift()) {
      const count = config.rssOverrides[lib.id] ?? config.rssSessions[lib.speed];
      try {
        results.set(lib.id, await rssChild(lib, count));
      } catch (error) {
        failures.set(`${lib.id} rss`, describeError(error));
      }
    }
  };
  await Promise.all(Array.from({ length: config.rssConcurrency }, worker));
  return results;
}

// ── Run ─────────────────────────────────────────────────────────────────────────────

const startedAt = performance.now();
const elapsed = () => `${((performance.now() - startedAt) / 1000).toFixed(1)} s`;
print(
  config.mode === 'quick'
    ? 'Parley bench, QUICK run (CI smoke run: small counts, few rounds; its figures are not measurements; `pnpm bench` for those)'
    : 'Parley bench, full run',
);
print(
  `${config.rounds} interleaved rounds, medians; ${MESSAGE_BYTES}-byte messages; ` +
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}`,
);
const loadAtStart = loadavg()[0]!;
print(`load average (1 min) at start: ${loadAtStart.toFixed(2)}`);
print(
  'Every library is measured as a user uses it: its public API, with the store it ships or recommends, records kept in the',
);
print(
  'form that store keeps them (a store that decodes on every load does so here); Parley likewise (its real store, commits',
);
print(
  'included, its cache as configured by default). Ratios are Parley ÷ peer, like for like (same protocol):',
);
for (const lib of libs) print(`  ${lib.label} — ${lib.protocol}; ${lib.store}`);

await round(0, true);
print(`warm-up done (${elapsed()})`);
for (let r = 0; r < config.rounds; r++) {
  await round(r, false);
  print(`round ${r + 1}/${config.rounds} done (${elapsed()})`);
}

const checkpoints = [...new Set([Math.min(100, config.recordPingPongs), config.recordPingPongs])];
const sizes = new Map<string, Awaited<ReturnType<typeof recordSizes>>>();
for (const lib of libs.filter((candidate) => candidate.group !== 'floor')) {
  await attempt(lib.id, 'record size', async () => {
    sizes.set(lib.id, await recordSizes(lib, checkpoints));
  });
}
print(`record sizes done (${elapsed()})`);

const rss = skipRss ? new Map<string, RssResult>() : await measureRss();
if (!skipRss) print(`memory per session done (${elapsed()})`);

// Media encryption next to its node:crypto floor (bench/media.ts).
let media: Awaited<ReturnType<typeof runMediaBench>> | undefined;
await attempt('media', 'encrypt/decrypt', async () => {
  media = await runMediaBench(config.mode === 'full' ? MEDIA_FULL : MEDIA_QUICK, gc);
});
print(`media done (${elapsed()})`);

// A business's sends to groups of 2, 32 and 256 member devices (bench/group-sends.ts).
const groupSendConfig = config.mode === 'full' ? GROUP_SEND_FULL : GROUP_SEND_QUICK;
let groupSends: GroupSendRow[] | undefined;
await attempt('parley-node', 'group sends', async () => {
  groupSends = await runGroupSendBench(groupSendConfig);
});
print(`group sends done (${elapsed()})`);

// One gateway in this process on each store, 1 and 200 people (bench/gateway.ts).
const gatewayConfig = config.mode === 'full' ? GATEWAY_FULL : GATEWAY_QUICK;
let gatewayRows: GatewayRow[] | undefined;
if (present(PARLEY)) {
  await attempt('gateway', 'throughput', async () => {
    gatewayRows = await runGatewayBench(gatewayConfig, PG_URL);
  });
  print(`gateway done (${elapsed()})`);
}

// Several gateway processes over one PostgreSQL (bench/multi-instance.ts), when a server is set.
const multiConfig = config.mode === 'full' ? MULTI_FULL : MULTI_QUICK;
let multiInstance: MultiInstanceRow[] | undefined;
if (PG_URL) {
  await attempt('multi-instance', 'throughput', async () => {
    multiInstance = await runMultiInstanceBench(PG_URL, multiConfig);
  });
  print(`multi-instance done (${elapsed()})`);
}

// ── Report ──────────────────────────────────────────────────────────────────────────

const lastCheckpoint = String(config.recordPingPongs);
const recordAt = (lib: string, at = lastCheckpoint) => sizes.get(lib)?.initiator[at];

interface Row {
  readonly label: string;
  readonly value: (lib: string) => number | undefined;
  readonly format: (value: number | undefined) => string;
  /** Lower is better (memory, bytes): ratios are still Parley ÷ peer. */
  readonly lowerIsBetter?: boolean;
}

const rows: Row[] = [
  { label: 'sessions/s', value: (lib) => medianOf('sessions', lib), format: formatRate },
  { label: 'stream encrypt msgs/s', value: (lib) => medianOf('encrypt', lib), format: formatRate },
  { label: 'stream decrypt msgs/s', value: (lib) => medianOf('decrypt', lib), format: formatRate },
  { label: 'ping-pong round trips/s', value: (lib) => medianOf('pingPong', lib), format: formatRate },
  {
    label: `reverse-order decrypt msgs/s (${config.reverse})`,
    value: (lib) => medianOf('reverse', lib),
    format: formatRate,
  },
  {
    label: '  reverse ÷ own in-order',
    value: (lib) => medianOf('reverseRatio', lib),
    format: (v) => (v === undefined ? '—' : v.toFixed(2)),
  },
  {
    label: 'RSS per held session',
    value: (lib) => rss.get(lib)?.rssPerSession,
    format: formatKiB,
    lowerIsBetter: true,
  },
  {
    label: '  heap + external per held session',
    value: (lib) => rss.get(lib)?.heapPerSession,
    format: formatKiB,
    lowerIsBetter: true,
  },
  {
    label: `session record after ${config.recordPingPongs} ping-pongs`,
    value: (lib) => recordAt(lib),
    format: formatBytes,
    lowerIsBetter: true,
  },
  ...(config.recordPingPongs > 100
    ? [
        {
          label: '  after 100 ping-pongs (growth check)',
          value: (lib: string) => recordAt(lib, '100'),
          format: formatBytes,
        },
      ]
    : []),
];

print();
print('Medians (higher is better, except memory and record size)');
for (const line of table(
  ['workload', ...libs.map((lib) => lib.label)],
  rows.map((row) => [row.label, ...libs.map((lib) => row.format(row.value(lib.id)))]),
)) {
  print(line);
}

const ratio = (row: Row, a: string, b: string) => {
  const x = row.value(a);
  const y = row.value(b);
  return x !== undefined && y !== undefined && y > 0 ? x / y : undefined;
};
const shortLabel = (id: string) =>
  id === PARLEY ? 'v3' : id === PARLEY_V4 ? 'v4+SPQR' : id === PORTABLE ? 'portable' : libById(id).label;
// Each peer against the Parley that speaks its protocol; the floors against the Parley on their primitives.
const comparators = libs
  .filter((lib) => lib.group !== 'parley' && lib.parleyCounterpart && present(lib.parleyCounterpart))
  .map((lib) => ({
    id: lib.id,
    of: lib.parleyCounterpart!,
    label: `${shortLabel(lib.parleyCounterpart!)} ÷ ${lib.label}`,
  }));
const ratioRows = rows.filter((row) => !row.label.startsWith('  '));
if (comparators.length > 0) {
  print();
  print(
    'Ratios: Parley ÷ peer, like for like (v3 Parley ÷ the v3 libraries, v4+SPQR Parley ÷ libsignal-client 0.90.0 and 0.103.0, ' +
      'which run PQXDH + SPQR with themselves); > 1 is Parley ahead on rates, behind on memory and record size',
  );
  for (const line of table(
    ['workload', ...comparators.map((c) => c.label)],
    ratioRows.map((row) => [row.label, ...comparators.map((c) => formatRatio(ratio(row, c.of, c.id)))]),
  )) {
    print(line);
  }
  const own = [PARLEY, PARLEY_V4]
    .filter(present)
    .map((id) => `${shortLabel(id)} ${medianOf('reverseRatio', id)?.toFixed(2) ?? '—'}`);
  if (own.length > 0) print(`Parley's reverse-order decrypt ÷ its own in-order rate: ${own.join(', ')}`);
}

const storageMedians = Object.fromEntries(
  STORE_VARIANTS.map((v) => [v, median(storageSamples.get(v) ?? [])]),
);
if (present(PARLEY)) {
  print();
  print(
    `SessionManager.decrypt with its store (Parley node, one commit per message; msgs/s, CPU µs per message): ${STORE_VARIANTS.map(
      (v) =>
        `${v} ${formatRate(storageMedians[v])}, ${median(storageCpuSamples.get(v) ?? [])?.toFixed(0) ?? '—'} µs`,
    ).join('; ')}${PG_URL ? '' : '; PostgreSQL skipped (PARLEY_PG_URL not set)'}`,
  );
}

const groupMedians = Object.fromEntries(
  GROUP_LIBS.map((lib) => [
    lib.id,
    {
      encrypt: median(groupSamples.get(lib.id)?.encrypt ?? []),
      decrypt: median(groupSamples.get(lib.id)?.decrypt ?? []),
    },
  ]),
);
if (present(PARLEY)) {
  const parleyFor = (format: string) => (format === 'signal' ? PARLEY : 'parley-node-whatsapp');
  print();
  print(
    `Groups (sender keys, ${MESSAGE_BYTES}-byte messages, one sender, one member device decrypting in order)`,
  );
  for (const line of table(
    ['group workload', ...GROUP_LIBS.map((lib) => `${lib.label}`)],
    (['encrypt', 'decrypt'] as const).flatMap((metric) => [
      [`group ${metric} msgs/s`, ...GROUP_LIBS.map((lib) => formatRate(groupMedians[lib.id]?.[metric]))],
      [
        '  Parley ÷ this (same format)',
        ...GROUP_LIBS.map((lib) => {
          const parley = groupMedians[parleyFor(lib.format)]?.[metric];
          const other = groupMedians[lib.id]?.[metric];
          return formatRatio(parley !== undefined && other ? parley / other : undefined);
        }),
      ],
    ]),
  )) {
    print(line);
  }
}

notes.push(
  'lsc 0.90.0, lsc 0.103.0 and Parley v4+SPQR speak PQXDH + SPQR (v4), Parley v4 PQXDH alone, each against itself; every other library runs v3 (X3DH).',
  'Sessions/s: a new initiator per session and one responder with bundles made beforehand; timed: process bundle, encrypt, decrypt.',
  `Memory: RSS growth of a child process (one per library) while it comes to hold N more established sessions, after GC, ` +
    "without V8's committed-but-free heap pages at either end, ÷ N; " +
    `N = ${[...rss.values()].map((r) => `${r.sessions} (${r.lib})`).join(', ') || 'skipped'}.`,
  ...[...rss.values()]
    .filter((r) => r.rssPerSession < r.heapPerSession)
    .map(
      (r) =>
        `Memory, ${r.lib}: RSS growth (${formatKiB(r.rssPerSession)}) below its own heap growth (${formatKiB(r.heapPerSession)}): ` +
        'noise at this N, not a measurement.',
    ),
  ...(config.mode === 'quick'
    ? [
        'Quick run: memory from a few dozen sessions is noise, not a measurement; every quick figure is a smoke check.',
      ]
    : []),
  'libsignal 6.0.0 does not verify the signed-prekey signature; the floors verify Ed25519 without the XEdDSA key conversion.',
);
notes.push(
  `Load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${loadavg()[0]!.toFixed(2)} on ${cpus().length} CPUs: ` +
    'other work on the machine lowers every rate; compare ratios within one run.',
);
if (sqliteMissing) notes.push(`SQLite rows skipped: ${sqliteMissing}`);
if (media) {
  print();
  for (const line of mediaBenchLines(media)) print(line);
}
if (groupSends) {
  print();
  for (const line of groupSendLines(groupSends, groupSendConfig)) print(line);
}
if (gatewayRows) {
  const decryptCpu = Object.fromEntries(
    (['memory', 'sqlite-file', 'postgres'] as const).map((kind) => [
      kind,
      median(storageCpuSamples.get(kind) ?? []),
    ]),
  );
  print();
  for (const line of gatewayLines(gatewayRows, gatewayConfig, decryptCpu)) print(line);
}
if (!PG_URL) notes.push('PostgreSQL rows skipped: PARLEY_PG_URL not set.');
if (multiInstance) {
  print();
  for (const line of multiInstanceLines(multiInstance, multiConfig)) print(line);
} else if (!PG_URL) {
  notes.push('Several-instance rows skipped: PARLEY_PG_URL not set.');
}

print();
for (const note of notes) print(`note: ${note}`);
for (const [key, message] of failures) print(`failed: ${key}: ${message}`);

// ── Files ───────────────────────────────────────────────────────────────────────────

const chartSeries = comparators.map((c) => `Parley ${c.label}`);
const chartGroups: ChartGroup[] = ratioRows.map((row) => ({
  label: row.label.replace(/ \(\d+\)$/, ''),
  bars: comparators.map((c, i) => {
    const value = ratio(row, c.of, c.id);
    return {
      series: chartSeries[i]!,
      value: value === undefined ? undefined : row.lowerIsBetter ? 1 / value : value,
    };
  }),
}));

const results = {
  mode: config.mode,
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model.trim(),
  loadAverage: { start: loadAtStart, end: loadavg()[0] },
  messageBytes: MESSAGE_BYTES,
  rounds: config.rounds,
  config,
  libraries: libs.map(({ id, label, group, protocol, store, parleyCounterpart }) => ({
    id,
    label,
    group,
    protocol,
    store,
    parleyCounterpart: parleyCounterpart ?? null,
  })),
  medians: Object.fromEntries(
    rows.map((row) => [
      row.label.trim(),
      Object.fromEntries(libs.map((lib) => [lib.id, row.value(lib.id) ?? null])),
    ]),
  ),
  ratios: Object.fromEntries(
    ratioRows.map((row) => [
      row.label,
      Object.fromEntries(comparators.map((c) => [`${c.of} / ${c.id}`, ratio(row, c.of, c.id) ?? null])),
    ]),
  ),
  samples: Object.fromEntries([...samples].map(([metric, byLib]) => [metric, Object.fromEntries(byLib)])),
  storage: {
    medians: storageMedians,
    samples: Object.fromEntries(storageSamples),
    cpuMicrosPerMessage: Object.fromEntries(storageCpuSamples),
  },
  gateway: gatewayRows ? { config: gatewayConfig, rows: gatewayRows } : null,
  groups: { medians: groupMedians, samples: Object.fromEntries(groupSamples) },
  memory: Object.fromEntries(rss),
  recordSizes: Object.fromEntries(sizes),
  media: media ?? null,
  groupSends: groupSends ?? null,
  multiInstance: multiInstance ? { config: multiConfig, rows: multiInstance } : null,
  notes,
  failures: Object.fromEntries(failures),
};

mkdirSync(resultsDir, { recursive: true });
// The quick run is a smoke check: its files are ignored by git and do not replace a full run's.
const jsonFile = join(resultsDir, config.mode === 'full' ? 'results.json' : 'quick-results.json.tmp');
const svgFile = join(resultsDir, config.mode === 'full' ? 'ratios.svg' : 'quick-ratios.svg.tmp');
writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(
  svgFile,
  ratioChart(
    `Parley vs. Signal libraries (${config.mode} run, ${new Date().toISOString().slice(0, 10)}, Node ${process.version})`,
    '> 1× : Parley ahead. Throughput: Parley ÷ other; memory and record size: other ÷ Parley. Log scale.',
    chartSeries,
    chartGroups,
  ),
);
print();
print(
  `wrote ${join('bench', 'results', jsonFile.split('/').pop()!)} and ${join('bench', 'results', svgFile.split('/').pop()!)} (${elapsed()})`,
);
