/**
 * PostgreSQL store on `pg` (an optional peer dependency: only this entry point imports it).
 * Several processes and machines can share one database; every guarantee of the store contract
 * holds across them:
 *
 * - `commit` is one transaction with per-record advisory locks and version checks; a commit whose
 *   connection is lost after COMMIT was sent is resolved by looking up its commit id, never
 *   replayed (postgres-commit.ts).
 * - The `get` calls of one turn of the event loop are answered by one query (one round trip
 *   and one connection instead of one each); each still sees what had committed before it was
 *   called.
 * - Group commit: the commits called during one turn of the event loop share that transaction
 *   (at most `MAX_GROUP` of them), applied in call order, each all-or-nothing and checked against
 *   the ones before it. No commit resolves before the transaction holding it has committed;
 *   `close()` commits what was already called. `groupCommit: false` runs each one alone, at once.
 * - Versions come from a store-wide sequence, so they never repeat, across instances and restarts.
 * - Expiry is judged against the highest clock value this instance has seen, on every read and
 *   version check; `sweepExpired` deletes in bounded batches, skipping rows a commit holds.
 * - Opening migrates the schema once under an advisory lock and refuses a newer schema
 *   (postgres-schema.ts).
 * - Every failure is a ParleyError naming the setting to look at; the password never appears
 *   (postgres-errors.ts).
 */
import {
  type CommitOptions,
  type CommitResult,
  type ListedRecord,
  type ListOptions,
  type Mutation,
  type Namespace,
  type ParleyError,
  type Store,
  type StoredRecord,
  systemClock,
} from '@parley/core';
import {
  assertKey,
  assertKeys,
  assertNamespace,
  checkExpectations,
  checkListOptions,
  checkMutation,
  checkSweepNow,
  closedError,
  ExpiryClock,
} from '@parley/core/storage';
import pg from 'pg';
import {
  type CommitContext,
  type CommitOutcome,
  commitBatch,
  commitMutation,
  type StagedCommit,
  stageCommit,
} from './postgres-commit.js';
import { isConnectionLoss, storeError } from './postgres-errors.js';
import {
  type CheckedPostgresOptions,
  checkPostgresOptions,
  type PostgresStoreOptions,
} from './postgres-options.js';
import { decodeKey, decodeRow, type RecordRow, recordId } from './postgres-rows.js';
import { migrate, tablesOf } from './postgres-schema.js';
import { encodeKey, prefixSuccessor } from './utf16-keys.js';

export type { PostgresPoolOptions, PostgresStoreOptions, PostgresTestHooks } from './postgres-options.js';
export { POSTGRES_SCHEMA_VERSION } from './postgres-schema.js';

/**
 * Commit ids are kept this long, for resolving commits whose connection died after COMMIT was
 * sent. Resolution happens inside the failed `commit` call, within seconds (bounded by the
 * statement and connect timeouts); ten minutes is a wide margin. `sweepExpired` prunes older ones.
 */
const COMMIT_ID_RETENTION = '10 minutes';
/** Client-side margin over the server's statement timeout before a silent socket is given up. */
const READ_TIMEOUT_MARGIN_MS = 5_000;

const LIVE = '(expires_at IS NULL OR expires_at > $now)';
/**
 * Commits per group transaction. Above 64 distinct records a transaction takes the store lock
 * exclusively (postgres-locks.ts), so a full group runs alone; this bounds how long it holds it.
 */
const MAX_GROUP = 256;

/** A `get` waiting for this turn's read (one query for all of them). */
interface QueuedRead {
  readonly namespace: Namespace;
  readonly key: Buffer;
  readonly resolve: (record: StoredRecord | undefined) => void;
  readonly reject: (error: unknown) => void;
}

interface QueuedCommit {
  readonly staged: StagedCommit;
  readonly resolve: (result: CommitResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Opens (and migrates) the store. Rejects with ERR_INVALID_ARGUMENT for bad options,
 * ERR_CONFIGURATION for a refused login or a missing database, ERR_STORE_FAILURE for an
 * unreachable server, ERR_STORE_SCHEMA for a schema from a newer Parley, ERR_RESIDENCY for a
 * region other than the one recorded.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const checked = checkPostgresOptions(options);
  const expiry = new ExpiryClock(options.clock ?? systemClock);
  const hooks = options.testHooks;
  const tables = tablesOf(checked.schema);
  const pool = createPool(checked, options);
  const failure = (error: unknown, action: string, outcome = ''): ParleyError =>
    storeError(error, {
      target: checked.target,
      schema: checked.schema,
      action,
      outcome,
      statementTimeoutMs: checked.statementTimeoutMs,
    });

  let region: string | undefined;
  try {
    const client = await pool.connect();
    let broken = false;
    client.on('error', () => {
      broken = true;
    });
    try {
      region = (await migrate(client, checked.schema, checked.region)).region;
    } catch (error) {
      if (isConnectionLoss(error)) broken = true;
      throw error;
    } finally {
      client.release(broken ? true : undefined);
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw failure(error, 'opening', 'nothing was changed.');
  }

  const commitContext: CommitContext = {
    pool,
    schema: checked.schema,
    tables,
    failure,
    beforeWrite: hooks?.beforeWrite,
  };
  let closed = false;
  let queue: QueuedCommit[] = [];
  let flushScheduled = false;
  const running = new Set<Promise<void>>();
  let reads: QueuedRead[] = [];

  /** Answers this turn's `get` calls with one query. */
  function flushReads(): void {
    const group = reads;
    reads = [];
    if (group.length === 0) return;
    const wanted = [...new Map(group.map((entry) => [recordId(entry.namespace, entry.key), entry])).values()];
    const answer = (rows: (RecordRow & { namespace: string; key: Buffer })[]) => {
      const found = new Map(rows.map((row) => [recordId(row.namespace, row.key), row]));
      for (const entry of group) {
        const row = found.get(recordId(entry.namespace, entry.key));
        try {
          // Decoded per caller: two callers of one key get copies of their own.
          entry.resolve(row === undefined ? undefined : decodeRow(row, entry.namespace));
        } catch (error) {
          entry.reject(error);
        }
      }
    };
    track(
      read<RecordRow & { namespace: string; key: Buffer }>(
        'reading',
        `SELECT namespace, key, value, version, expires_at FROM ${tables.records}
         WHERE (namespace, key) IN (SELECT * FROM unnest($ns::text[], $key::bytea[])) AND ${LIVE}`,
        [wanted.map((entry) => entry.namespace), wanted.map((entry) => entry.key), expiry.now()],
      ).then(answer, (error: unknown) => {
        for (const entry of group) entry.reject(error);
      }),
    );
  }

  /** Keeps `close()` waiting for work already sent. */
  function track(work: Promise<void>): void {
    running.add(work);
    void work.finally(() => running.delete(work));
  }

  /** Sends the queued commits as one transaction (group commit). */
  function flush(): void {
    flushScheduled = false;
    const group = queue;
    queue = [];
    if (group.length === 0) return;
    const settle = (outcomes: CommitOutcome[]) =>
      group.forEach((entry, index) => {
        const outcome = outcomes[index]!;
        if ('error' in outcome) entry.reject(outcome.error);
        else entry.resolve({ versions: outcome.versions });
      });
    track(
      commitBatch(
        commitContext,
        group.map((entry) => entry.staged),
        expiry.now(),
      ).then(settle, (error: unknown) => {
        for (const entry of group) entry.reject(error);
      }),
    );
  }

  function assertOpen(): void {
    if (closed) throw closedError('postgres', 'open it again with createPostgresStore to continue');
  }

  /** Reads are idempotent: one retry on a new connection hides a connection the server dropped. */
  async function read<R extends pg.QueryResultRow>(
    action: string,
    text: string,
    values: unknown[],
  ): Promise<R[]> {
    const run = () => pool.query<R>(named(text), values);
    try {
      return (await run()).rows;
    } catch (error) {
      if (!isConnectionLoss(error)) throw failure(error, action);
      try {
        return (await run()).rows;
      } catch (again) {
        throw failure(again, action);
      }
    }
  }

  return {
    kind: 'postgres',
    region,

    async get(namespace, key) {
      assertOpen();
      assertNamespace(namespace);
      assertKey(key, 'key');
      return new Promise<StoredRecord | undefined>((resolve, reject) => {
        if (reads.length === 0) setImmediate(flushReads);
        reads.push({ namespace, key: encodeKey(key), resolve, reject });
      });
    },

    async getMany(namespace, keys) {
      assertOpen();
      assertNamespace(namespace);
      assertKeys(keys);
      const out = new Map<string, StoredRecord>();
      if (keys.length === 0) return out;
      const rows = await read<RecordRow>(
        'reading',
        `SELECT key, value, version, expires_at FROM ${tables.records}
         WHERE namespace = $ns AND key = ANY($keys::bytea[]) AND ${LIVE}`,
        [namespace, keys.map(encodeKey), expiry.now()],
      );
      for (const row of rows) out.set(decodeKey(row, namespace), decodeRow(row, namespace));
      return out;
    },

    async list(namespace, listOptions: ListOptions = {}) {
      assertOpen();
      assertNamespace(namespace);
      const { prefix, limit } = checkListOptions(listOptions);
      if (limit === 0) return [];
      const lower = encodeKey(prefix);
      const upper = prefixSuccessor(lower);
      // LIMIT NULL is no limit. Without an upper bound (an empty or all-0xFFFF prefix) the range is open.
      const rows = await read<RecordRow>(
        'listing',
        `SELECT key, value, version, expires_at FROM ${tables.records}
         WHERE namespace = $ns AND key >= $lower AND ($upper::bytea IS NULL OR key < $upper) AND ${LIVE}
         ORDER BY key LIMIT $limit`,
        [namespace, lower, upper ?? null, expiry.now(), Number.isFinite(limit) ? limit : null],
      );
      return rows.map(
        (row): ListedRecord => ({ key: decodeKey(row, namespace), ...decodeRow(row, namespace) }),
      );
    },

    async commit(mutation: Mutation, commitOptions: CommitOptions = {}): Promise<CommitResult> {
      assertOpen();
      checkMutation(mutation);
      const expectations = checkExpectations(commitOptions.expectVersions);
      if (!checked.groupCommit || mutation.length === 0)
        return commitMutation(commitContext, mutation, expectations, expiry.now());
      // Sent later in this turn: copies taken now (a caller may reuse or zero its buffers).
      const staged = stageCommit(mutation, expectations);
      return new Promise<CommitResult>((resolve, reject) => {
        queue.push({ staged, resolve, reject });
        if (queue.length >= MAX_GROUP) flush();
        else if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      });
    },

    async sweepExpired(now) {
      assertOpen();
      checkSweepNow(now);
      const bound = expiry.sweepBound(now);
      let removed = 0;
      // Bounded batches, each its own short transaction: a large backlog never holds locks or
      // bloats one transaction, and rows a running commit holds are skipped (the next sweep gets them).
      for (;;) {
        const deleted = await run(
          'sweeping',
          `WITH doomed AS (
             SELECT namespace, key FROM ${tables.records}
             WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
           )
           DELETE FROM ${tables.records} r USING doomed d WHERE r.namespace = d.namespace AND r.key = d.key`,
          [bound, checked.sweepBatchSize],
        );
        removed += deleted;
        hooks?.afterSweepBatch?.(deleted);
        if (deleted < checked.sweepBatchSize) break;
      }
      for (;;) {
        const pruned = await run(
          'pruning commit ids',
          `DELETE FROM ${tables.commits} WHERE id IN (
             SELECT id FROM ${tables.commits} WHERE committed_at < now() - interval '${COMMIT_ID_RETENTION}' LIMIT $1
           )`,
          [checked.sweepBatchSize],
        );
        if (pruned < checked.sweepBatchSize) break;
      }
      return removed;
    },

    async close() {
      if (closed) return;
      closed = true;
      // Reads and commits already called are sent and settled before the pool closes.
      flushReads();
      flush();
      await Promise.all(running);
      await pool.end().catch(() => undefined);
    },
  };

  async function run(action: string, text: string, values: unknown[]): Promise<number> {
    try {
      return (await pool.query(text, values)).rowCount ?? 0;
    } catch (error) {
      throw failure(error, action);
    }
  }
}

/** `$ns`, `$key`, … in the order the values are given, as `$1`, `$2`, …: readable SQL above. */
function named(text: string): string {
  const names: string[] = [];
  return text.replace(/\$([a-z]+)/g, (_, name: string) => {
    let index = names.indexOf(name);
    if (index < 0) index = names.push(name) - 1;
    return `$${index + 1}`;
  });
}

function createPool(checked: CheckedPostgresOptions, options: PostgresStoreOptions): pg.Pool {
  const timeout = checked.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString: checked.url,
    max: checked.pool.max,
    idleTimeoutMillis: checked.pool.idleTimeoutMs,
    connectionTimeoutMillis: checked.pool.connectTimeoutMs,
    maxLifetimeSeconds: Math.ceil(checked.pool.maxLifetimeMs / 1_000),
    application_name: checked.applicationName,
    ...(timeout > 0
      ? {
          statement_timeout: timeout,
          // A socket that went silent (no RST) would otherwise hang a call for the TCP timeout.
          query_timeout: timeout + READ_TIMEOUT_MARGIN_MS,
          // A session stranded inside a transaction (its client vanished) releases its locks.
          idle_in_transaction_session_timeout: timeout + READ_TIMEOUT_MARGIN_MS,
        }
      : {}),
    ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
    keepAlive: true,
    // Statements are sent without waiting for the previous answer: a commit takes two round trips.
    pipeline: true,
  });
  // An idle connection the server closed (restart, pg_terminate_backend) is reported here; the
  // pool has already dropped it, and the next call opens a new one.
  pool.on('error', () => undefined);
  return pool;
}
