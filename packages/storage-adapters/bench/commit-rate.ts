// Commit rate and commit latency on a session-update workload, per adapter, and the time SQLite
// (and PostgreSQL) take to sweep expired messages. Measures only; nothing here is asserted.
// PostgreSQL rows run when PARLEY_PG_URL is set (a schema of their own, dropped afterwards).
//
//   npx tsx --conditions=parley-source packages/storage-adapters/bench/commit-rate.ts [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Store, WriteOperation } from '@parley/core';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { createFakeClock } from '../src/conformance.js';
import { createIndexedDbStore } from '../src/indexeddb.js';
import { createMemoryStore } from '../src/memory.js';
import { createPostgresStore } from '../src/postgres.js';
import { createSqliteStore } from '../src/sqlite.js';

const SESSION_BYTES = 1_500; // a session record with a few receiver chains
const MESSAGE_BYTES = 600; // an encrypted inbound message kept for the retention window
const RETENTION_MS = 7 * 24 * 3_600_000;

function filled(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

// Values are prepared up front so the measurement is the store, not the byte generation.
const sessions = Array.from({ length: 64 }, (_, i) => filled(SESSION_BYTES, i));
const messages = Array.from({ length: 64 }, (_, i) => filled(MESSAGE_BYTES, i));

const QUICK = process.argv.includes('--quick');
const PG_URL = process.env.PARLEY_PG_URL;

interface Measured {
  /** Completed read + commit operations per second (across all workers). */
  readonly rate: number;
  /** Latency of the `commit` call alone, ms. */
  readonly commitMs: readonly number[];
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * One decrypt's worth of writes per operation: session read, then session replaced, message
 * stored, counter bumped, guarded by the session's version. `workers` run side by side, each on
 * its own peers (so they do not conflict) and its own counter.
 */
async function sessionUpdates(store: Store, commits: number, now: number, workers = 1): Promise<Measured> {
  const commitMs: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, (_, w) => worker(store, Math.ceil(commits / workers), now, w, commitMs)),
  );
  const elapsed = performance.now() - started;
  return { rate: commitMs.length / (elapsed / 1_000), commitMs: commitMs.sort((a, b) => a - b) };
}

async function worker(
  store: Store,
  commits: number,
  now: number,
  w: number,
  commitMs: number[],
): Promise<void> {
  const peers = 16;
  for (let i = 0; i < commits; i++) {
    const peer = `business-${w}/peer-${i % peers}`;
    const current = await store.get('sessions', peer);
    const mutation: WriteOperation[] = [
      { type: 'put', namespace: 'sessions', key: peer, value: sessions[i % 64]! },
      {
        type: 'put',
        namespace: 'messages',
        key: `${peer}/in/${String(i).padStart(8, '0')}`,
        value: messages[i % 64]!,
        expiresAt: now + RETENTION_MS,
      },
      { type: 'put', namespace: 'counters', key: `business-${w}/received`, value: Uint8Array.of(i & 0xff) },
    ];
    const begun = performance.now();
    await store.commit(mutation, {
      expectVersions: [{ namespace: 'sessions', key: peer, version: current?.version ?? 0 }],
    });
    commitMs.push(performance.now() - begun);
  }
}

async function main(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const clock = createFakeClock(1_700_000_000_000);
  const rows: [string, number, Measured][] = [];
  const pgSchemas: string[] = [];
  const scale = (n: number) => (QUICK ? Math.max(50, Math.floor(n / 10)) : n);
  const openPostgres = async () => {
    const schema = `bench_${Date.now().toString(36)}_${pgSchemas.length}`;
    pgSchemas.push(schema);
    return createPostgresStore({ url: PG_URL!, schema, clock, pool: { max: 8 } });
  };
  try {
    const cases: [string, number, () => Promise<Store>, number][] = [
      ['memory', scale(20_000), async () => createMemoryStore({ clock }), 1],
      [
        'sqlite file (WAL, synchronous=FULL)',
        scale(2_000),
        async () => createSqliteStore({ path: join(directory, 'a.db'), clock }),
        1,
      ],
      ['sqlite :memory:', scale(20_000), async () => createSqliteStore({ path: ':memory:', clock }), 1],
      [
        'indexeddb (fake-indexeddb)',
        scale(2_000),
        () => createIndexedDbStore({ name: 'bench', indexedDB: new IDBFactory(), IDBKeyRange, clock }),
        1,
      ],
      ...(PG_URL === undefined
        ? []
        : ([
            ['postgres (pg, 1 in flight)', scale(2_000), openPostgres, 1],
            ['postgres (pg, 8 in flight, pool 8)', scale(4_000), openPostgres, 8],
          ] as [string, number, () => Promise<Store>, number][])),
    ];
    for (const [name, commits, open, workers] of cases) {
      const store = await open();
      await sessionUpdates(store, Math.min(200, commits), clock.now(), workers); // warm-up
      rows.push([name, commits, await sessionUpdates(store, commits, clock.now(), workers)]);
      await store.close();
    }
    console.log('session-update operations (get + guarded commit of session, message, counter):');
    console.log(`  ${'store'.padEnd(38)} ${'ops/s'.padStart(8)}   commit latency p50 / p95 / p99`);
    for (const [name, commits, { rate, commitMs }] of rows) {
      const p = (q: number) => percentile(commitMs, q).toFixed(2);
      console.log(
        `  ${name.padEnd(38)} ${rate.toFixed(0).padStart(8)}   ${p(50)} / ${p(95)} / ${p(99)} ms  (${commits} commits)`,
      );
    }
    if (PG_URL === undefined) console.log('  (postgres rows skipped: PARLEY_PG_URL is not set)');

    const sweepStore = createSqliteStore({ path: join(directory, 'sweep.db'), clock });
    const expiring = scale(100_000);
    const batch = 1_000;
    const now = clock.now();
    for (let start = 0; start < expiring; start += batch) {
      const mutation: WriteOperation[] = [];
      for (let i = start; i < start + batch; i++) {
        mutation.push({
          type: 'put',
          namespace: 'messages',
          key: `business-1/peer-${i % 500}/in/${String(i).padStart(8, '0')}`,
          value: messages[i % 64]!,
          expiresAt: now + 1_000 + (i % 1_000),
        });
      }
      await sweepStore.commit(mutation);
    }
    await sweepStore.commit([
      { type: 'put', namespace: 'messages', key: 'keep', value: filled(MESSAGE_BYTES, 1) },
    ]);
    clock.set(now + 10_000);
    const started = performance.now();
    const removed = await sweepStore.sweepExpired(clock.now());
    const elapsed = performance.now() - started;
    console.log(
      `sqlite sweepExpired: ${removed} expired messages (${MESSAGE_BYTES} B each) deleted + TRUNCATE checkpoint ` +
        `in ${elapsed.toFixed(0)} ms`,
    );
    await sweepStore.close();

    if (PG_URL !== undefined) {
      const pgStore = await openPostgres();
      const pgExpiring = scale(20_000);
      const t0 = clock.now();
      for (let start = 0; start < pgExpiring; start += batch) {
        const mutation: WriteOperation[] = [];
        for (let i = start; i < Math.min(pgExpiring, start + batch); i++) {
          mutation.push({
            type: 'put',
            namespace: 'messages',
            key: `business-1/peer-${i % 500}/in/${String(i).padStart(8, '0')}`,
            value: messages[i % 64]!,
            expiresAt: t0 + 1_000 + (i % 1_000),
          });
        }
        await pgStore.commit(mutation);
      }
      clock.set(t0 + 10_000);
      const begun = performance.now();
      const swept = await pgStore.sweepExpired(clock.now());
      console.log(
        `postgres sweepExpired: ${swept} expired messages deleted in batches of 1000 in ${(performance.now() - begun).toFixed(0)} ms`,
      );
      await pgStore.close();
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
    if (PG_URL !== undefined && pgSchemas.length > 0) {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const schema of pgSchemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  }
}

await main();
