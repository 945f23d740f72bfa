import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isParleyError, type ParleyError, type Store, type WriteOperation } from '@parley/core';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../src/conformance.js';
import { createSqliteStore, SQLITE_SCHEMA_VERSION } from '../src/sqlite.js';

let directory: string;
let path: string;
const open: Store[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'parley-sqlite-'));
  path = join(directory, 'store.db');
});

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  rmSync(directory, { recursive: true, force: true });
});

function openStore(options: Partial<Parameters<typeof createSqliteStore>[0]> = {}): Store {
  const store = createSqliteStore({ path, ...options });
  open.push(store);
  return store;
}

async function errorOf(promise: Promise<unknown> | (() => unknown)): Promise<ParleyError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    if (isParleyError(error)) return error;
    throw error;
  }
  throw new Error('expected a ParleyError, nothing was thrown');
}

function raw(): Database.Database {
  return new Database(path);
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe('sqlite schema', () => {
  it('creates a WAL database at the current schema version', async () => {
    const store = openStore();
    await store.commit([{ type: 'put', namespace: 'meta', key: 'k', value: bytes('v') }]);
    await store.close();
    const db = raw();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version FROM parley_schema').pluck().get()).toBe(SQLITE_SCHEMA_VERSION);
    const indexes = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'`)
      .pluck()
      .all();
    expect(indexes).toContain('records_expiry');
    db.close();
  });

  it('refuses a database from a newer schema with ERR_STORE_SCHEMA and leaves it unchanged', async () => {
    const store = openStore();
    await store.commit([{ type: 'put', namespace: 'sessions', key: 's', value: bytes('v') }]);
    await store.close();
    const db = raw();
    db.prepare('UPDATE parley_schema SET version = ?').run(SQLITE_SCHEMA_VERSION + 1);
    db.close();

    const error = await errorOf(() => createSqliteStore({ path }));
    expect(error.code).toBe('ERR_STORE_SCHEMA');
    expect(error.message).toMatch(/newer Parley/);
    expect(error.message).toMatch(/Upgrade @parley\/storage-adapters/);
    expect(error.details).toMatchObject({
      found: SQLITE_SCHEMA_VERSION + 1,
      supported: SQLITE_SCHEMA_VERSION,
    });
    const after = raw();
    expect(after.prepare('SELECT version FROM parley_schema').pluck().get()).toBe(SQLITE_SCHEMA_VERSION + 1);
    expect(after.prepare('SELECT count(*) FROM records').pluck().get()).toBe(1);
    after.close();
  });

  it('refuses a SQLite file that is not a Parley store', async () => {
    const db = raw();
    db.exec('CREATE TABLE something_else (x)');
    db.close();
    const error = await errorOf(() => createSqliteStore({ path }));
    expect(error.code).toBe('ERR_STORE_SCHEMA');
    expect(error.message).toMatch(/not a Parley store/);
  });

  it('refuses a file that is not a database with ERR_STORE_FAILURE saying to restore a backup', async () => {
    writeFileSync(path, Buffer.alloc(8192, 0x42));
    const error = await errorOf(() => createSqliteStore({ path }));
    expect(error.code).toBe('ERR_STORE_FAILURE');
    expect(error.message).toMatch(/restore it from a backup/);
  });

  it('reports a missing directory as ERR_STORE_FAILURE', async () => {
    const error = await errorOf(() => createSqliteStore({ path: join(directory, 'missing', 'x.db') }));
    expect(error.code).toBe('ERR_STORE_FAILURE');
    expect(error.message).toMatch(/directory/);
  });

  it('refuses bad options with ERR_INVALID_ARGUMENT', async () => {
    expect((await errorOf(() => createSqliteStore({ path: '' }))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await errorOf(() => createSqliteStore({ path, busyTimeoutMs: -1 }))).code).toBe(
      'ERR_INVALID_ARGUMENT',
    );
    const notBoolean = { path, groupCommit: 'yes' } as unknown as Parameters<typeof createSqliteStore>[0];
    expect((await errorOf(() => createSqliteStore(notBoolean))).code).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('sqlite group commit', () => {
  const put = (key: string, value = key) =>
    ({ type: 'put', namespace: 'messages', key, value: bytes(value) }) as const;

  /** Frames in the WAL now (each transaction appends the pages it changed, ending in a commit frame). */
  function walFrames(file: string): number {
    const db = new Database(file);
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    db.close();
    return row!.log;
  }

  it('commits called together share one transaction, each answered with its own versions', async () => {
    const frames: Record<string, number> = {};
    for (const groupCommit of [true, false]) {
      const file = join(directory, `group-${groupCommit}.db`);
      const store = openStore({ path: file, groupCommit });
      await store.commit([put('first')]);
      const before = walFrames(file);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => store.commit([put(`k${i}`), put(`other${i}`)])),
      );
      frames[String(groupCommit)] = walFrames(file) - before;
      const versions = results.flatMap((result) => result.versions.map((entry) => entry.version));
      expect(new Set(versions).size).toBe(80);
      for (const [i, result] of results.entries()) {
        expect(result.versions.map((entry) => entry.key)).toEqual([`k${i}`, `other${i}`]);
        expect((await store.get('messages', `k${i}`))?.version).toBe(result.versions[0]!.version);
      }
    }
    // One transaction writes each changed page once; forty write their pages forty times.
    expect(frames.true! * 10).toBeLessThan(frames.false!);
  });

  it('a conflict in a group fails that commit alone, checked against the commits queued before it', async () => {
    const store = openStore();
    const existing = await store.commit([put('shared', 'v0')]);
    const base = existing.versions[0]!.version;
    const outcomes = await Promise.allSettled([
      store.commit([put('shared', 'a')], {
        expectVersions: [{ namespace: 'messages', key: 'shared', version: base }],
      }),
      // Read the same version as the first, so it lost the race: nothing of it may land.
      store.commit([put('shared', 'b'), put('b-only')], {
        expectVersions: [{ namespace: 'messages', key: 'shared', version: base }],
      }),
      store.commit([put('c-only')]),
      store.commit([put('fresh')], { expectVersions: [{ namespace: 'messages', key: 'fresh', version: 0 }] }),
      store.commit([put('fresh', 'again')], {
        expectVersions: [{ namespace: 'messages', key: 'fresh', version: 0 }],
      }),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'rejected',
    ]);
    for (const at of [1, 4]) {
      const reason = (outcomes[at] as PromiseRejectedResult).reason;
      expect(isParleyError(reason, 'ERR_STORE_CONFLICT')).toBe(true);
    }
    expect(new TextDecoder().decode((await store.get('messages', 'shared'))?.value)).toBe('a');
    expect(await store.get('messages', 'b-only')).toBeUndefined();
    expect(await store.get('messages', 'c-only')).toBeDefined();
    expect(new TextDecoder().decode((await store.get('messages', 'fresh'))?.value)).toBe('fresh');
  });

  it('a commit that fails mid-write in a group is rolled back alone', async () => {
    const store = openStore({
      testHooks: {
        beforeWrite: (op) => {
          if (op.type === 'put' && op.key === 'poison') throw new Error('injected');
        },
      },
    });
    const outcomes = await Promise.allSettled([
      store.commit([put('before')]),
      store.commit([put('half'), put('poison')]),
      store.commit([put('after')]),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const reason = (outcomes[1] as PromiseRejectedResult).reason;
    expect(isParleyError(reason, 'ERR_STORE_FAILURE')).toBe(true);
    const keys = (await store.list('messages')).map((record) => record.key);
    expect(keys).toEqual(['after', 'before']);
  });

  it('a failure that would pass on a second try still fails its commit; two failing commits fail alone', async () => {
    const failures = new Map<string, number>();
    const store = openStore({
      testHooks: {
        beforeWrite: (op) => {
          // Each poisoned key fails the first time it is written, never again.
          if (op.type === 'put' && op.key.startsWith('poison') && !failures.has(op.key)) {
            failures.set(op.key, 1);
            throw new Error('injected');
          }
        },
      },
    });
    const outcomes = await Promise.allSettled([
      store.commit([put('one')]),
      store.commit([put('half-1'), put('poison-1')]),
      store.commit([put('two')]),
      store.commit([put('half-2'), put('poison-2')]),
      store.commit([put('three')]),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect([...failures.keys()]).toEqual(['poison-1', 'poison-2']);
    const keys = (await store.list('messages')).map((record) => record.key);
    expect(keys).toEqual(['one', 'three', 'two']);
    const versions = outcomes.flatMap((outcome) =>
      outcome.status === 'fulfilled' ? outcome.value.versions.map((entry) => entry.version) : [],
    );
    for (const [i, key] of ['one', 'two', 'three'].entries()) {
      expect((await store.get('messages', key))?.version).toBe(versions[i]);
    }
  });

  it('the beforeWrite test hook sees the operations the caller passed (the same objects), grouped or not', async () => {
    for (const groupCommit of [true, false]) {
      const seen: WriteOperation[] = [];
      const store = openStore({
        path: join(directory, `hooks-${groupCommit}.db`),
        groupCommit,
        testHooks: { beforeWrite: (op) => seen.push(op) },
      });
      const mutation: WriteOperation[] = [put('a'), { type: 'delete', namespace: 'messages', key: 'b' }];
      await store.commit(mutation);
      expect(seen).toHaveLength(2);
      expect(seen[0]).toBe(mutation[0]);
      expect(seen[1]).toBe(mutation[1]);
    }
  });

  it('close applies the commits already called before it closes the file', async () => {
    const store = createSqliteStore({ path });
    const pending = store.commit([put('late')]);
    await store.close();
    await expect(pending).resolves.toMatchObject({ versions: [{ key: 'late' }] });
    const again = openStore();
    expect(await again.get('messages', 'late')).toBeDefined();
  });
});

describe('sqlite faults', () => {
  it('reports a corrupted record as ERR_INVALID_RECORD and keeps the rest readable', async () => {
    const store = openStore();
    await store.commit([
      { type: 'put', namespace: 'sessions', key: 'bad', value: bytes('x') },
      { type: 'put', namespace: 'sessions', key: 'good', value: bytes('y') },
    ]);
    const db = raw();
    db.prepare(`UPDATE records SET value = 'not a blob' WHERE key = ?`).run(Buffer.from('\0b\0a\0d'));
    db.close();

    const error = await errorOf(store.get('sessions', 'bad'));
    expect(error.code).toBe('ERR_INVALID_RECORD');
    expect(error.message).toMatch(/restore the database from a backup|delete that record/);
    expect(error.details).toMatchObject({ namespace: 'sessions', reason: 'value is not a BLOB' });
    expect((await errorOf(store.list('sessions'))).code).toBe('ERR_INVALID_RECORD');
    expect(new TextDecoder().decode((await store.get('sessions', 'good'))?.value)).toBe('y');

    // The advice works: deleting the record makes the namespace readable again.
    await store.commit([{ type: 'delete', namespace: 'sessions', key: 'bad' }]);
    expect((await store.list('sessions')).map((r) => r.key)).toEqual(['good']);
  });

  it('reports a corrupted version as ERR_INVALID_RECORD', async () => {
    const store = openStore();
    await store.commit([{ type: 'put', namespace: 'prekeys', key: 'p', value: bytes('x') }]);
    const db = raw();
    db.prepare('UPDATE records SET version = 0').run();
    db.close();
    expect((await errorOf(store.getMany('prekeys', ['p']))).details.reason).toBe(
      'version is not a positive integer',
    );
  });

  it('a commit waiting on another connection’s lock fails typed after busyTimeoutMs and writes nothing', async () => {
    const store = openStore({ busyTimeoutMs: 0 });
    await store.commit([{ type: 'put', namespace: 'sessions', key: 's', value: bytes('1') }]);
    const other = raw();
    other.exec('BEGIN IMMEDIATE');
    const error = await errorOf(
      store.commit([
        { type: 'put', namespace: 'sessions', key: 's', value: bytes('2') },
        { type: 'put', namespace: 'messages', key: 'm', value: bytes('m') },
      ]),
    );
    expect(error.code).toBe('ERR_STORE_FAILURE');
    expect(error.details).toMatchObject({ sqliteCode: 'SQLITE_BUSY', retryable: true });
    expect(error.message).toMatch(/busyTimeoutMs/);
    expect(error.message).toMatch(/nothing was written/);
    other.exec('ROLLBACK');
    other.close();
    expect(new TextDecoder().decode((await store.get('sessions', 's'))?.value)).toBe('1');
    expect(await store.get('messages', 'm')).toBeUndefined();
    await store.commit([{ type: 'put', namespace: 'sessions', key: 's', value: bytes('3') }]);
    expect(new TextDecoder().decode((await store.get('sessions', 's'))?.value)).toBe('3');
  });

  it('a failure injected mid-commit leaves the file exactly as before', async () => {
    let failAt: number | undefined;
    const store = openStore({
      testHooks: {
        beforeWrite: (_op, index) => {
          if (index === failAt) throw new Error('injected');
        },
      },
    });
    await store.commit([{ type: 'put', namespace: 'sessions', key: 's', value: bytes('old') }]);
    const before = raw();
    const snapshot = () =>
      before.prepare('SELECT namespace, key, value, version, expires_at FROM records ORDER BY id').all();
    const sequence = () =>
      before.prepare(`SELECT value FROM parley_state WHERE name = 'sequence'`).pluck().get();
    const rows = snapshot();
    const seq = sequence();
    failAt = 2;
    const error = await errorOf(
      store.commit([
        { type: 'put', namespace: 'sessions', key: 's', value: bytes('new') },
        { type: 'put', namespace: 'messages', key: 'm1', value: bytes('1') },
        { type: 'put', namespace: 'messages', key: 'm2', value: bytes('2') },
      ]),
    );
    expect(error.code).toBe('ERR_STORE_FAILURE');
    expect(error.message).toMatch(/rolled back; nothing was written/);
    expect(snapshot()).toEqual(rows);
    expect(sequence()).toBe(seq);
    before.close();
  });
});

describe('sqlite sweeping', () => {
  function contains(file: string, needle: Buffer): boolean {
    try {
      return readFileSync(file).includes(needle);
    } catch {
      return false;
    }
  }

  it('leaves no trace of swept values in the database file or the WAL', async () => {
    const clock = createFakeClock(1_000_000);
    const store = openStore({ clock });
    const marker = `PARLEY-SWEEP-MARKER-${Math.random().toString(36).slice(2)}`;
    const needle = Buffer.from(marker);
    const small = bytes(marker);
    const large = new Uint8Array(200_000);
    for (let offset = 0; offset + small.length <= large.length; offset += 4096) large.set(small, offset);
    await store.commit([
      { type: 'put', namespace: 'messages', key: 'small', value: small, expiresAt: 1_000_100 },
      { type: 'put', namespace: 'messages', key: 'large', value: large, expiresAt: 1_000_100 },
      { type: 'put', namespace: 'messages', key: 'keep', value: bytes('unrelated') },
    ]);
    // The marker is in the WAL now; a checkpoint (via a sweep that removes an unrelated record)
    // also copies it into the main file, so the scan below is known to see it.
    await store.commit([
      { type: 'put', namespace: 'meta', key: 'x', value: bytes('x'), expiresAt: 1_000_050 },
    ]);
    clock.set(1_000_050);
    expect(await store.sweepExpired(clock.now())).toBe(1);
    expect(contains(path, needle)).toBe(true);

    clock.set(1_000_100);
    expect(await store.sweepExpired(clock.now())).toBe(2);
    expect(contains(path, needle)).toBe(false);
    expect(contains(`${path}-wal`, needle)).toBe(false);
    expect(new TextDecoder().decode((await store.get('messages', 'keep'))?.value)).toBe('unrelated');
  });

  it('an overwritten value leaves no trace after the next sweep either', async () => {
    const clock = createFakeClock(0);
    const store = openStore({ clock });
    const needle = Buffer.from(`PARLEY-OLD-SESSION-${Math.random().toString(36).slice(2)}`);
    await store.commit([{ type: 'put', namespace: 'sessions', key: 's', value: needle }]);
    await store.commit([{ type: 'put', namespace: 'sessions', key: 's', value: bytes('replacement') }]);
    await store.commit([{ type: 'put', namespace: 'meta', key: 'tick', value: bytes('t'), expiresAt: 1 }]);
    clock.set(1);
    expect(await store.sweepExpired(1)).toBe(1);
    expect(contains(path, needle)).toBe(false);
    expect(contains(`${path}-wal`, needle)).toBe(false);
  });
});
