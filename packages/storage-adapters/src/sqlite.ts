/**
 * SQLite store on better-sqlite3 (an optional peer dependency: only this entry point imports
 * it). One file holds every namespace; `:memory:` gives a throwaway database.
 *
 * - WAL journal, `synchronous=FULL` (a commit that returned survives power loss),
 *   `secure_delete=ON` (freed cells and pages are zeroed), and `sweepExpired` ends with a
 *   TRUNCATE checkpoint so swept bytes are gone from both the database file and the WAL.
 * - Group commit: the commits called during one turn of the event loop are applied together,
 *   in call order, in one `BEGIN IMMEDIATE` transaction (so one WAL sync for all of them). Each
 *   is still all-or-nothing: its version checks run before its first write and see the commits
 *   queued before it, so a conflict leaves nothing of it behind; a commit that fails after it
 *   began writing fails alone (the others run again, each in a savepoint). No commit resolves
 *   before the transaction holding it is durable. `groupCommit: false` gives every commit a
 *   transaction of its own, run at once.
 * - The transaction takes the write lock first, then checks versions, then writes, so two
 *   processes sharing the file cannot interleave a check and a write. Waiting for the lock is
 *   bounded by `busyTimeoutMs`.
 * - Keys are stored as UTF-16BE blobs: byte order then equals JavaScript string order (the
 *   order the contract promises), and lone surrogates survive (UTF-8 text would merge them).
 * - better-sqlite3 is synchronous, so each call blocks the event loop for the duration of one
 *   statement or transaction; that is also what makes a commit atomic within this process.
 */

import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type Clock,
  type CommitOptions,
  type CommitResult,
  isParleyError,
  type ListedRecord,
  type ListOptions,
  type Mutation,
  type Namespace,
  ParleyError,
  type Store,
  type StoredRecord,
  systemClock,
} from '@parley/core';
import {
  assertKey,
  assertKeys,
  assertNamespace,
  assertOptionalClock,
  assertOptionalString,
  checkExpectations,
  checkListOptions,
  checkMutation,
  checkSweepNow,
  closedError,
  conflictError,
  ExpiryClock,
  type StoreTestHooks,
  stagedMutation,
} from '@parley/core/storage';
import Database from 'better-sqlite3';
import { encodeKey, keyFromBytes, prefixSuccessor } from './utf16-keys.js';

export interface SqliteStoreOptions {
  /** Database file, or `':memory:'` for a private in-memory database. */
  readonly path: string;
  readonly clock?: Clock;
  readonly region?: string;
  /** How long a statement waits for another connection's lock before failing. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /**
   * Apply the commits of one event-loop turn in one transaction (one sync to disk), each still
   * atomic on its own. Default true; false runs every commit in a transaction of its own.
   */
  readonly groupCommit?: boolean;
  /** Testing only: see `StoreTestHooks` (fault injection inside the commit transaction). */
  readonly testHooks?: StoreTestHooks;
}

interface QueuedCommit {
  /** Copied at the call; `caller` is what the caller passed (what the test hooks see). */
  readonly mutation: Mutation;
  readonly caller: Mutation;
  readonly options: CommitOptions;
  readonly resolve: (result: CommitResult) => void;
  readonly reject: (error: unknown) => void;
  versions?: CommitResult['versions'];
  error?: unknown;
}

/** Schema version this build writes. Bump it and append to MIGRATIONS together. */
export const SQLITE_SCHEMA_VERSION = 1;

/** MIGRATIONS[i] upgrades a database from schema i to schema i + 1. Never edit a shipped entry. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE parley_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
   INSERT INTO parley_schema (id, version) VALUES (1, 0);
   CREATE TABLE parley_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO parley_state (name, value) VALUES ('sequence', 0);
   CREATE TABLE records (
     id INTEGER PRIMARY KEY,
     namespace TEXT NOT NULL,
     key BLOB NOT NULL,
     value BLOB NOT NULL,
     version INTEGER NOT NULL,
     expires_at INTEGER,
     UNIQUE (namespace, key)
   );
   CREATE INDEX records_expiry ON records (expires_at) WHERE expires_at IS NOT NULL;`,
];

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
const LIVE = '(expires_at IS NULL OR expires_at > @now)';

interface Row {
  readonly id: number;
  readonly key?: unknown;
  readonly value: unknown;
  readonly version: unknown;
  readonly expires_at: unknown;
}

export function createSqliteStore(options: SqliteStoreOptions): Store {
  if (
    options === null ||
    typeof options !== 'object' ||
    typeof options.path !== 'string' ||
    options.path === ''
  ) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"path" expected a file path or ":memory:"', {
      field: 'path',
    });
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"busyTimeoutMs" expected a non-negative integer', {
      field: 'busyTimeoutMs',
    });
  }
  assertOptionalClock(options.clock, 'clock');
  assertOptionalString(options.region, 'region', 'a region name such as "eu"');
  if (options.groupCommit !== undefined && typeof options.groupCommit !== 'boolean') {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"groupCommit" expected true or false', {
      field: 'groupCommit',
    });
  }
  const groupCommit = options.groupCommit ?? true;
  const inMemory = options.path === ':memory:';
  const expiry = new ExpiryClock(options.clock ?? systemClock);
  const beforeWrite = options.testHooks?.beforeWrite;
  const db = openDatabase(options.path, busyTimeoutMs, inMemory);
  let closed = false;

  const statements = {
    get: db.prepare(
      `SELECT id, value, version, expires_at FROM records WHERE namespace = @ns AND key = @key AND ${LIVE}`,
    ),
    listAll: db.prepare(
      `SELECT id, key, value, version, expires_at FROM records
       WHERE namespace = @ns AND key >= @lower AND ${LIVE} ORDER BY key LIMIT @limit`,
    ),
    listRange: db.prepare(
      `SELECT id, key, value, version, expires_at FROM records
       WHERE namespace = @ns AND key >= @lower AND key < @upper AND ${LIVE} ORDER BY key LIMIT @limit`,
    ),
    version: db
      .prepare(`SELECT version FROM records WHERE namespace = @ns AND key = @key AND ${LIVE}`)
      .pluck(),
    upsert: db.prepare(
      `INSERT INTO records (namespace, key, value, version, expires_at) VALUES (@ns, @key, @value, @version, @expiresAt)
       ON CONFLICT (namespace, key) DO UPDATE SET
         value = excluded.value, version = excluded.version, expires_at = excluded.expires_at`,
    ),
    delete: db.prepare('DELETE FROM records WHERE namespace = @ns AND key = @key'),
    readSequence: db.prepare(`SELECT value FROM parley_state WHERE name = 'sequence'`).pluck(),
    writeSequence: db.prepare(`UPDATE parley_state SET value = @value WHERE name = 'sequence'`),
    sweep: db.prepare('DELETE FROM records WHERE expires_at <= @bound'),
  };

  const readMany = db.transaction((ns: Namespace, keys: readonly string[], now: number) => {
    const out = new Map<string, StoredRecord>();
    for (const key of keys) {
      const row = statements.get.get({ ns, key: encodeKey(key), now }) as Row | undefined;
      if (row !== undefined) out.set(key, decodeRow(row, ns));
    }
    return out;
  });

  /**
   * Checks one commit's versions, then writes it, numbering its puts from `sequence`; returns
   * the versions and the sequence after it. Every check comes before the first write, so a
   * conflict leaves nothing of the commit behind.
   */
  function applyOne(
    mutation: Mutation,
    commitOptions: CommitOptions,
    now: number,
    sequence: number,
    caller: Mutation = mutation,
  ) {
    for (const expected of checkExpectations(commitOptions.expectVersions)) {
      const current = statements.version.get({ ns: expected.namespace, key: encodeKey(expected.key), now });
      const actual = typeof current === 'number' ? current : 0;
      if (actual !== expected.version) throw conflictError('sqlite', expected, actual);
    }
    let next = sequence;
    const versions: { namespace: Namespace; key: string; version: number }[] = [];
    mutation.forEach((op, index) => {
      beforeWrite?.(caller[index]!, index);
      if (op.type === 'delete') {
        statements.delete.run({ ns: op.namespace, key: encodeKey(op.key) });
        return;
      }
      next += 1;
      statements.upsert.run({
        ns: op.namespace,
        key: encodeKey(op.key),
        value: op.value,
        version: next,
        expiresAt: op.expiresAt ?? null,
      });
      versions.push({ namespace: op.namespace, key: op.key, version: next });
    });
    return { versions, sequence: next };
  }

  const applyCommit = db.transaction((mutation: Mutation, commitOptions: CommitOptions, now: number) => {
    const { versions, sequence } = applyOne(mutation, commitOptions, now, readSequence());
    statements.writeSequence.run({ value: sequence });
    return versions;
  });

  // Called inside a transaction, better-sqlite3 runs this in a savepoint: a throw rolls back
  // that commit's writes alone.
  const applyIsolated = db.transaction(applyOne);

  /**
   * A batch in one transaction; the store-wide sequence is read and written once. Fast path
   * (`isolate` false): no savepoints — a conflict is found before its commit writes anything;
   * any other failure aborts the whole transaction (`Isolate`) and fails that commit; the
   * others run again with a savepoint each, so that a further failure rolls back only its own
   * commit. An error after which SQLite has ended the transaction itself (some I/O and
   * out-of-memory errors) fails them all.
   */
  const applyBatch = db.transaction((batch: readonly QueuedCommit[], now: number, isolate: boolean) => {
    let sequence = readSequence();
    for (const entry of batch) {
      try {
        const apply = isolate ? applyIsolated : applyOne;
        const applied = apply(entry.mutation, entry.options, now, sequence, entry.caller);
        entry.versions = applied.versions;
        sequence = applied.sequence;
      } catch (error) {
        if (!db.inTransaction) throw error;
        entry.error = error;
        if (!isolate && !isParleyError(error, 'ERR_STORE_CONFLICT')) throw new Isolate(entry);
      }
    }
    statements.writeSequence.run({ value: sequence });
  });

  function readSequence(): number {
    return Number(statements.readSequence.get());
  }

  let queue: QueuedCommit[] = [];
  let flushScheduled = false;

  function flush(): void {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    const now = expiry.now();
    try {
      try {
        applyBatch.immediate(batch, now, false);
      } catch (error) {
        if (!(error instanceof Isolate)) throw error;
        // The failed commit keeps its error; the others run again, each in a savepoint.
        const others = batch.filter((entry) => entry !== error.failed);
        for (const entry of others) {
          entry.versions = undefined;
          entry.error = undefined;
        }
        applyBatch.immediate(others, now, true);
      }
    } catch (error) {
      const failure = commitFailure(error);
      for (const entry of batch) entry.reject(failure);
      return;
    }
    for (const entry of batch) {
      if (entry.versions !== undefined) entry.resolve({ versions: entry.versions });
      else entry.reject(commitFailure(entry.error));
    }
  }

  const sweep = db.transaction((bound: number) => statements.sweep.run({ bound }).changes);

  function assertOpen(): void {
    if (closed) throw closedError('sqlite', 'open the database again with createSqliteStore to continue');
  }

  return {
    kind: 'sqlite',
    location: inMemory ? undefined : `sqlite:${fileLocation(options.path)}`,
    region: options.region,

    async get(namespace, key) {
      assertOpen();
      assertNamespace(namespace);
      assertKey(key, 'key');
      const row = run('reading', () =>
        statements.get.get({ ns: namespace, key: encodeKey(key), now: expiry.now() }),
      );
      return row === undefined ? undefined : decodeRow(row as Row, namespace);
    },

    async getMany(namespace, keys) {
      assertOpen();
      assertNamespace(namespace);
      assertKeys(keys);
      const now = expiry.now();
      return run('reading', () => readMany.deferred(namespace, keys, now));
    },

    async list(namespace, listOptions: ListOptions = {}) {
      assertOpen();
      assertNamespace(namespace);
      const { prefix, limit } = checkListOptions(listOptions);
      if (limit === 0) return [];
      const lower = encodeKey(prefix);
      const upper = prefixSuccessor(lower);
      const params = {
        ns: namespace,
        lower,
        upper,
        now: expiry.now(),
        limit: Number.isFinite(limit) ? limit : -1,
      };
      const rows = run('listing', () =>
        upper === undefined
          ? statements.listAll.all({ ns: params.ns, lower, now: params.now, limit: params.limit })
          : statements.listRange.all(params),
      ) as Row[];
      return rows.map(
        (row): ListedRecord => ({ key: decodeKey(row, namespace), ...decodeRow(row, namespace) }),
      );
    },

    async commit(mutation: Mutation, commitOptions: CommitOptions = {}): Promise<CommitResult> {
      assertOpen();
      checkMutation(mutation);
      const expectVersions = checkExpectations(commitOptions.expectVersions);
      if (!groupCommit) {
        try {
          return { versions: applyCommit.immediate(mutation, commitOptions, expiry.now()) };
        } catch (error) {
          throw commitFailure(error);
        }
      }
      // Applied later in this turn: copies taken now (a caller may reuse or zero its buffers).
      const staged = stagedMutation(mutation);
      return new Promise<CommitResult>((resolve, reject) => {
        queue.push({ mutation: staged, caller: mutation, options: { expectVersions }, resolve, reject });
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      });
    },

    async sweepExpired(now) {
      assertOpen();
      checkSweepNow(now);
      const removed = run('sweeping', () => sweep.immediate(expiry.sweepBound(now)));
      // secure_delete zeroed the freed cells; TRUNCATE copies the zeroed pages into the main file
      // and cuts the WAL (which still holds the old page images) to zero bytes. If another
      // connection is reading, SQLite cannot truncate now; the next sweep's checkpoint will.
      if (!inMemory && removed > 0) run('checkpointing', () => db.pragma('wal_checkpoint(TRUNCATE)'));
      return removed;
    },

    async close() {
      if (closed) return;
      closed = true;
      // Commits already accepted are applied before the database closes.
      flush();
      db.close();
    },
  };
}

/** Aborts a batch's fast path: a commit failed after it began writing (see applyBatch). */
class Isolate extends Error {
  constructor(readonly failed: QueuedCommit) {
    super('a commit of the batch failed after it began writing');
  }
}

function commitFailure(error: unknown): ParleyError {
  if (error instanceof ParleyError) return error;
  return storeFailure(error, 'committing', 'the commit was rolled back; nothing was written.');
}

function run<T>(action: string, body: () => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof ParleyError) throw error;
    throw storeFailure(error, action, '');
  }
}

function openDatabase(path: string, busyTimeoutMs: number, inMemory: boolean): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: busyTimeoutMs });
  } catch (error) {
    throw storeFailure(
      error,
      'opening',
      `check that the directory of the database file exists and is writable.`,
    );
  }
  try {
    if (!inMemory) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof ParleyError) throw error;
    throw storeFailure(error, 'opening', '');
  }
}

function migrate(db: Database.Database): void {
  const upgrade = db.transaction(() => {
    const hasSchemaTable =
      db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'parley_schema'`).get() !==
      undefined;
    let version = 0;
    if (hasSchemaTable) {
      version = Number(db.prepare('SELECT version FROM parley_schema WHERE id = 1').pluck().get());
    } else {
      const tables = db.prepare(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).pluck().get();
      if (Number(tables) > 0) {
        throw new ParleyError(
          'ERR_STORE_SCHEMA',
          'this SQLite file holds tables but is not a Parley store; point "path" at a new or a Parley database file',
          { store: 'sqlite' },
        );
      }
    }
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new ParleyError(
        'ERR_STORE_SCHEMA',
        'the schema version row is unreadable; restore the database from a backup',
        {
          store: 'sqlite',
        },
      );
    }
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new ParleyError(
        'ERR_STORE_SCHEMA',
        `the database uses schema ${version}, written by a newer Parley; this version understands up to schema ` +
          `${SQLITE_SCHEMA_VERSION}. Upgrade @parley/storage-adapters (the file was not changed)`,
        { store: 'sqlite', found: version, supported: SQLITE_SCHEMA_VERSION },
      );
    }
    for (let from = version; from < SQLITE_SCHEMA_VERSION; from++) {
      db.exec(MIGRATIONS[from]!);
      db.prepare('UPDATE parley_schema SET version = ? WHERE id = 1').run(from + 1);
    }
  });
  // IMMEDIATE: two processes opening a fresh file at once must not both run the migrations.
  upgrade.immediate();
}

function decodeKey(row: Row, namespace: Namespace): string {
  const key = row.key instanceof Uint8Array ? keyFromBytes(row.key) : undefined;
  if (key === undefined) throw corrupted(row, namespace, 'key is not UTF-16 bytes');
  return key;
}

function decodeRow(row: Row, namespace: Namespace): StoredRecord {
  if (!(row.value instanceof Uint8Array)) throw corrupted(row, namespace, 'value is not a BLOB');
  if (typeof row.version !== 'number' || !Number.isSafeInteger(row.version) || row.version <= 0) {
    throw corrupted(row, namespace, 'version is not a positive integer');
  }
  if (row.expires_at !== null && (typeof row.expires_at !== 'number' || !Number.isFinite(row.expires_at))) {
    throw corrupted(row, namespace, 'expires_at is not a number');
  }
  return {
    value: new Uint8Array(row.value),
    version: row.version,
    expiresAt: row.expires_at === null ? undefined : row.expires_at,
  };
}

function corrupted(row: Row, namespace: Namespace, reason: string): ParleyError {
  return new ParleyError(
    'ERR_INVALID_RECORD',
    `a stored record in "${namespace}" is corrupted (${reason}); restore the database from a backup, ` +
      'or delete that record (commit a delete of its key) so Parley can re-create it',
    { store: 'sqlite', namespace, rowid: row.id, reason },
  );
}

function storeFailure(error: unknown, action: string, outcome: string): ParleyError {
  const code =
    typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'UNKNOWN';
  let advice: string;
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED') {
    advice =
      'another connection held the database lock longer than busyTimeoutMs; retry, or raise busyTimeoutMs';
  } else if (code === 'SQLITE_FULL') {
    advice = 'the disk is full; free space and retry';
  } else if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    advice = 'the database file is damaged or not a SQLite database; restore it from a backup';
  } else if (
    code === 'SQLITE_CANTOPEN' ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_IOERR')
  ) {
    advice = 'SQLite could not read or write the file; check the path, permissions and disk, then retry';
  } else {
    advice = 'retry; if it keeps failing, check the database file and disk';
  }
  return new ParleyError(
    'ERR_STORE_FAILURE',
    `SQLite failed while ${action} (${code}); ${outcome ? `${outcome} ` : ''}${advice}`,
    {
      store: 'sqlite',
      action,
      sqliteCode: code,
      retryable: code.startsWith('SQLITE_BUSY') || code === 'SQLITE_LOCKED',
    },
    { cause: error },
  );
}

/** The file's canonical path (symlinks and relative segments resolved), so one file is one location. */
function fileLocation(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}
