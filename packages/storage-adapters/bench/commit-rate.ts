// Commit rate on a session-update workload, per adapter, and the time SQLite takes to sweep
// 100 000 expired messages. Measures only; nothing here is asserted.
//
//   npx tsx --conditions=parley-source packages/storage-adapters/bench/commit-rate.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Store, WriteOperation } from '@parley/core';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { createFakeClock } from '../src/conformance.js';
import { createIndexedDbStore } from '../src/indexeddb.js';
import { createMemoryStore } from '../src/memory.js';
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

/** One decrypt's worth of writes: session replaced, message stored, counter bumped, guarded. */
async function sessionUpdates(store: Store, commits: number, now: number): Promise<number> {
  const peers = 16;
  const started = performance.now();
  for (let i = 0; i < commits; i++) {
    const peer = `business-1/peer-${i % peers}`;
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
      { type: 'put', namespace: 'counters', key: 'business-1/received', value: Uint8Array.of(i & 0xff) },
    ];
    await store.commit(mutation, {
      expectVersions: [{ namespace: 'sessions', key: peer, version: current?.version ?? 0 }],
    });
  }
  return commits / ((performance.now() - started) / 1_000);
}

async function main(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const clock = createFakeClock(1_700_000_000_000);
  const rows: [string, number, number][] = [];
  try {
    const cases: [string, number, () => Promise<Store>][] = [
      ['memory', 20_000, async () => createMemoryStore({ clock })],
      [
        'sqlite file (WAL, synchronous=FULL)',
        2_000,
        async () => createSqliteStore({ path: join(directory, 'a.db'), clock }),
      ],
      ['sqlite :memory:', 20_000, async () => createSqliteStore({ path: ':memory:', clock })],
      [
        'indexeddb (fake-indexeddb)',
        2_000,
        () => createIndexedDbStore({ name: 'bench', indexedDB: new IDBFactory(), IDBKeyRange, clock }),
      ],
    ];
    for (const [name, commits, open] of cases) {
      const store = await open();
      await sessionUpdates(store, Math.min(200, commits), clock.now()); // warm-up
      const rate = await sessionUpdates(store, commits, clock.now());
      rows.push([name, commits, rate]);
      await store.close();
    }
    console.log('session-update commits (get + commit of session, message, counter; sequential):');
    for (const [name, commits, rate] of rows) {
      console.log(`  ${name.padEnd(38)} ${rate.toFixed(0).padStart(8)} commits/s  (${commits} commits)`);
    }

    const sweepStore = createSqliteStore({ path: join(directory, 'sweep.db'), clock });
    const expiring = 100_000;
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
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

await main();
