/**
 * `commit` on PostgreSQL: one transaction on one connection for one commit or a group of them
 * (group commit, see postgres.ts), in two round trips (`pg` pipeline mode sends each batch
 * without waiting between statements):
 *
 *   1. BEGIN; advisory locks (see postgres-locks.ts) on every record the commits check or write;
 *      the expected records' versions, read FOR UPDATE after the locks are held; versions for the
 *      puts from the store-wide sequence.
 *   2. (each commit's versions checked here, in JavaScript and in call order, against the
 *      database and the commits before it; a mismatch leaves that commit out with
 *      ERR_STORE_CONFLICT) what the remaining commits leave behind — one DELETE and one upsert,
 *      each record once, with its last write; the commit id; COMMIT.
 *
 * READ COMMITTED is enough: the record locks serialize every commit touching a record (checked
 * or written), and each statement sees everything committed before it started, so the version
 * check reads the state left by the previous lock holder. A serialization failure or deadlock
 * (not expected with ordered locks, but a server may still report one) is ERR_STORE_CONFLICT.
 *
 * Outcome unknown: if the connection dies after the second round trip was sent, COMMIT may or may
 * not have happened. The transaction is never sent again. Instead a fresh connection ends the old
 * session if it is still inside this transaction (found by the transaction's application_name),
 * takes the same locks (which the old transaction held until it ended), and looks for the commit
 * id that the transaction wrote: present, its commits happened and their versions are returned;
 * absent, nothing was written and the callers may retry.
 */
import { randomBytes } from 'node:crypto';
import { ParleyError } from '@parley/core';
import type {
  CommitResult,
  ExpectedVersion,
  Mutation,
  Namespace,
  StoreTestHooks,
  WriteOperation,
} from '@parley/core/storage';
import { conflictError } from '@parley/core/storage';
import type pg from 'pg';
import { isConnectionLoss } from './postgres-errors.js';
import { type LockPlan, lockStatement, planLocks } from './postgres-locks.js';
import { parseVersion, recordId } from './postgres-rows.js';
import type { Tables } from './postgres-schema.js';
import { encodeKey } from './utf16-keys.js';

export interface CommitContext {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly tables: Tables;
  /** Maps a failure of `action` to a typed error; `outcome` says what happened to the data. */
  readonly failure: (error: unknown, action: string, outcome: string) => ParleyError;
  readonly beforeWrite?: StoreTestHooks['beforeWrite'];
}

const NOTHING_WRITTEN = 'the commit was rolled back; nothing was written.';
/** How long the resolver waits for the old session to end after asking it to. */
const TERMINATE_WAIT_MS = 5_000;

interface Encoded {
  /** The caller's operation (what the test hooks see). */
  readonly op: WriteOperation;
  readonly key: Buffer;
  /** namespace + key: the record's identity inside a transaction. */
  readonly id: string;
  /** A put's value, copied when `commit` was called (the caller may reuse its buffer). */
  readonly value: Uint8Array | undefined;
}

interface Expected extends ExpectedVersion {
  readonly encoded: Buffer;
  readonly id: string;
}

/** One caller's commit, taken at the call: its operations and expectations, values copied. */
export interface StagedCommit {
  readonly ops: readonly Encoded[];
  readonly expected: readonly Expected[];
}

/** What became of one commit of a transaction. */
export type CommitOutcome = { readonly versions: PutVersion[] } | { readonly error: ParleyError };

type PutVersion = { namespace: Namespace; key: string; version: number };

/** Thrown by the first round trip when the connection died before anything could commit. */
class NotSent {
  constructor(readonly error: unknown) {}
}

/** The server refused a write statement: the transaction rolled back, nothing was written. */
class Refused {
  constructor(readonly error: ParleyError) {}
}

/** Before any await: the values and versions as the caller passed them. */
export function stageCommit(mutation: Mutation, expectations: readonly ExpectedVersion[]): StagedCommit {
  return {
    ops: mutation.map((op) => {
      const key = encodeKey(op.key);
      const value = op.type === 'put' ? op.value.slice() : undefined;
      return { op, key, id: recordId(op.namespace, key), value };
    }),
    expected: expectations.map((e) => {
      const encoded = encodeKey(e.key);
      return { ...e, encoded, id: recordId(e.namespace, encoded) };
    }),
  };
}

export async function commitMutation(
  ctx: CommitContext,
  mutation: Mutation,
  expectations: readonly ExpectedVersion[],
  now: number,
): Promise<CommitResult> {
  if (mutation.length === 0) {
    if (expectations.length > 0) await checkOnly(ctx, expectations, now);
    return { versions: [] };
  }
  const [outcome] = await commitBatch(ctx, [stageCommit(mutation, expectations)], now);
  if ('error' in outcome!) throw outcome.error;
  return { versions: outcome!.versions };
}

/**
 * Commits in one transaction (group commit), in order: each sees the ones before it, and each
 * is all-or-nothing on its own — a version conflict or a fault before its first write leaves it
 * out and fails it alone. A write the server refuses rolls back the transaction; then each
 * commit runs again in a transaction of its own, so the one at fault fails alone. Rejects only
 * when every commit failed the same way (the connection, the locks, an outcome in doubt).
 */
export async function commitBatch(
  ctx: CommitContext,
  batch: readonly StagedCommit[],
  now: number,
): Promise<CommitOutcome[]> {
  try {
    return await attemptTwice(ctx, batch, now);
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    if (batch.length === 1) return [{ error: error.error }];
  }
  const outcomes: CommitOutcome[] = [];
  for (const staged of batch) {
    try {
      outcomes.push(...(await attemptTwice(ctx, [staged], now)));
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      outcomes.push({ error: error.error });
    }
  }
  return outcomes;
}

async function attemptTwice(
  ctx: CommitContext,
  batch: readonly StagedCommit[],
  now: number,
): Promise<CommitOutcome[]> {
  try {
    return await attempt(ctx, batch, now);
  } catch (error) {
    if (!(error instanceof NotSent)) throw error;
    // The pool handed out a connection that had died (a restarted server, a cut idle socket) before
    // COMMIT was sent: nothing can have been written, so one more attempt on a new connection is safe.
    try {
      return await attempt(ctx, batch, now);
    } catch (again) {
      throw again instanceof NotSent ? ctx.failure(again.error, 'committing', 'nothing was written.') : again;
    }
  }
}

async function attempt(
  ctx: CommitContext,
  batch: readonly StagedCommit[],
  now: number,
): Promise<CommitOutcome[]> {
  const ops = batch.flatMap((staged) => staged.ops);
  const expected = [...new Map(batch.flatMap((s) => s.expected).map((e) => [e.id, e])).values()];
  const plan = planLocks(ctx.schema, [
    ...ops.map((o) => ({ namespace: o.op.namespace, key: o.key })),
    ...expected.map((e) => ({ namespace: e.namespace, key: e.encoded })),
  ]);
  const puts = ops.filter((encoded) => encoded.op.type === 'put').length;
  const commitId = randomBytes(16);
  // Visible in pg_stat_activity while (and only while) this transaction runs.
  const tag = `parley-commit-${commitId.toString('hex')}`;

  const client = await connect(ctx, 'committing', 'nothing was written.');
  let broken = false;
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  const release = () => {
    client.removeListener('error', onError);
    client.release(broken ? true : undefined);
  };
  const rollback = async () => {
    await client.query('ROLLBACK').catch(() => (broken = true));
    release();
  };

  // ── Round trip 1: transaction, locks, current versions, new versions ──
  const first = await Promise.allSettled([
    client.query('BEGIN'),
    client.query(lockStatement(ctx.schema, plan), [tag]),
    expected.length === 0
      ? Promise.resolve(undefined)
      : client.query<{ namespace: string; key: Buffer; version: string }>(
          `SELECT namespace, key, version FROM ${ctx.tables.records}
           WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))
             AND (expires_at IS NULL OR expires_at > $3)
           FOR UPDATE`,
          [expected.map((e) => e.namespace), expected.map((e) => e.encoded), now],
        ),
    puts === 0
      ? Promise.resolve(undefined)
      : client.query<{ v: string }>(
          `SELECT nextval('${ctx.tables.sequence}') AS v FROM generate_series(1, $1)`,
          [puts],
        ),
  ]);
  const firstError = first.find((r) => r.status === 'rejected')?.reason;
  if (firstError !== undefined) {
    // COMMIT was not sent: whatever the server did with this transaction, it cannot commit it.
    if (isConnectionLoss(firstError)) {
      broken = true;
      release();
      throw new NotSent(firstError);
    }
    await rollback();
    throw ctx.failure(firstError, 'committing', NOTHING_WRITTEN);
  }
  const current = (first[2] as PromiseFulfilledResult<pg.QueryResult | undefined>).value;
  const sequence = (first[3] as PromiseFulfilledResult<pg.QueryResult<{ v: string }> | undefined>).value;
  /** Each record's version as the commits so far leave it (0: absent or expired). */
  const versionOf = new Map<string, number>();
  for (const row of current?.rows ?? []) {
    versionOf.set(recordId(row.namespace, row.key as Buffer), parseVersion(row.version) ?? -1);
  }
  const newVersions = (sequence?.rows ?? []).map((row) => parseVersion(row.v)!);

  // ── Checked in order, in JavaScript: what each commit leaves, per record (the last write wins) ──
  const outcomes: CommitOutcome[] = [];
  const writes = new Map<string, { readonly encoded: Encoded; readonly version: number }>();
  let used = 0;
  for (const staged of batch) {
    const conflict = staged.expected.find((e) => (versionOf.get(e.id) ?? 0) !== e.version);
    if (conflict !== undefined) {
      outcomes.push({ error: conflictError('postgres', conflict, versionOf.get(conflict.id) ?? 0) });
      continue;
    }
    try {
      for (const [index, encoded] of staged.ops.entries()) ctx.beforeWrite?.(encoded.op, index);
    } catch (error) {
      outcomes.push({ error: ctx.failure(error, 'committing', NOTHING_WRITTEN) });
      continue;
    }
    const versions: PutVersion[] = [];
    for (const encoded of staged.ops) {
      const { op } = encoded;
      const version = op.type === 'put' ? newVersions[used++]! : 0;
      const live = op.type === 'put' && (op.expiresAt === undefined || op.expiresAt > now);
      versionOf.set(encoded.id, live ? version : 0);
      writes.set(encoded.id, { encoded, version });
      if (op.type === 'put') versions.push({ namespace: op.namespace, key: op.key, version });
    }
    outcomes.push({ versions });
  }
  if (writes.size === 0) {
    await rollback();
    return outcomes;
  }

  // ── Round trip 2: writes, commit id, COMMIT ──
  const net = [...writes.values()];
  const pending = [
    writeDeletes(
      ctx,
      client,
      net.filter((w) => w.encoded.op.type === 'delete'),
    ),
    writePuts(
      ctx,
      client,
      net.filter((w) => w.encoded.op.type === 'put'),
    ),
    client.query(`INSERT INTO ${ctx.tables.commits} (id) VALUES ($1)`, [commitId]),
  ];
  const commit = client.query('COMMIT');
  const settled = await Promise.allSettled([...pending, commit]);
  const failed = settled.find((r) => r.status === 'rejected')?.reason;
  if (failed === undefined) {
    const tagOfCommit = (settled[settled.length - 1] as PromiseFulfilledResult<pg.QueryResult>).value.command;
    release();
    // COMMIT of a transaction that failed earlier answers ROLLBACK; every statement succeeded here,
    // so this cannot happen — but never report a rolled-back commit as written.
    if (tagOfCommit !== 'COMMIT')
      throw ctx.failure(new Error(`COMMIT answered ${tagOfCommit}`), 'committing', NOTHING_WRITTEN);
    return outcomes;
  }
  if (!isConnectionLoss(failed)) {
    // The server refused a statement before COMMIT: the transaction is aborted and COMMIT rolls it back.
    if (settled.some((r) => r.status === 'rejected' && isConnectionLoss(r.reason))) broken = true;
    release();
    throw new Refused(ctx.failure(failed, 'committing', NOTHING_WRITTEN));
  }
  broken = true;
  const pid = (client as unknown as { processID: number | null }).processID;
  release();
  const committed = await resolveOutcome(ctx, { commitId, tag, pid, plan }).catch((error: unknown) => {
    throw unknownOutcome(ctx, failed, error);
  });
  if (committed) return outcomes;
  const lost = ctx.failure(
    failed,
    'committing',
    'the connection was lost during the commit; a fresh connection verified that it was not applied: nothing was written.',
  );
  return outcomes.map((outcome) => ('error' in outcome ? outcome : { error: lost }));
}

type NetWrite = { readonly encoded: Encoded; readonly version: number };

function writeDeletes(ctx: CommitContext, client: pg.PoolClient, deletes: readonly NetWrite[]) {
  if (deletes.length === 0) return Promise.resolve(undefined);
  return client.query(
    `DELETE FROM ${ctx.tables.records} WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))`,
    [deletes.map((w) => w.encoded.op.namespace), deletes.map((w) => w.encoded.key)],
  );
}

/** Each record once (the net write per record), so ON CONFLICT never meets a row twice. */
function writePuts(ctx: CommitContext, client: pg.PoolClient, puts: readonly NetWrite[]) {
  if (puts.length === 0) return Promise.resolve(undefined);
  const t = ctx.tables;
  const expiry = (w: NetWrite) => (w.encoded.op.type === 'put' ? (w.encoded.op.expiresAt ?? null) : null);
  const upsert = `ON CONFLICT (namespace, key) DO UPDATE
     SET value = EXCLUDED.value, version = EXCLUDED.version, expires_at = EXCLUDED.expires_at`;
  if (puts.length === 1) {
    // One row: plain parameters, so the value travels as binary rather than hex in an array literal.
    const [w] = puts as [NetWrite];
    return client.query(
      `INSERT INTO ${t.records} (namespace, key, value, version, expires_at) VALUES ($1, $2, $3, $4, $5) ${upsert}`,
      [w.encoded.op.namespace, w.encoded.key, toBuffer(w.encoded.value!), w.version, expiry(w)],
    );
  }
  return client.query(
    `INSERT INTO ${t.records} (namespace, key, value, version, expires_at)
     SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bigint[], $5::float8[]) ${upsert}`,
    [
      puts.map((w) => w.encoded.op.namespace),
      puts.map((w) => w.encoded.key),
      puts.map((w) => toBuffer(w.encoded.value!)),
      puts.map((w) => w.version),
      puts.map(expiry),
    ],
  );
}

/** `pg` sends Buffers as bytea: a view of the copy taken at the call (stageCommit). */
function toBuffer(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

async function connect(ctx: CommitContext, action: string, outcome: string): Promise<pg.PoolClient> {
  try {
    return await ctx.pool.connect();
  } catch (error) {
    throw ctx.failure(error, action, outcome);
  }
}

/** Expectations without writes: one consistent read, nothing to lock. */
async function checkOnly(
  ctx: CommitContext,
  expectations: readonly ExpectedVersion[],
  now: number,
): Promise<void> {
  const keys = expectations.map((e) => encodeKey(e.key));
  let rows: { namespace: string; key: Buffer; version: string }[];
  try {
    rows = (
      await ctx.pool.query(
        `SELECT namespace, key, version FROM ${ctx.tables.records}
         WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))
           AND (expires_at IS NULL OR expires_at > $3)`,
        [expectations.map((e) => e.namespace), keys, now],
      )
    ).rows;
  } catch (error) {
    throw ctx.failure(error, 'committing', 'nothing was written.');
  }
  expectations.forEach((e, i) => {
    const row = rows.find((r) => r.namespace === e.namespace && Buffer.compare(r.key, keys[i]!) === 0);
    const actual = row === undefined ? 0 : (parseVersion(row.version) ?? -1);
    if (actual !== e.version) throw conflictError('postgres', e, actual);
  });
}

interface InDoubt {
  readonly commitId: Buffer;
  readonly tag: string;
  readonly pid: number | null;
  readonly plan: LockPlan;
}

/** True if the in-doubt transaction committed, false if it did not; throws if it cannot tell. */
export async function resolveOutcome(
  ctx: Pick<CommitContext, 'pool' | 'schema' | 'tables'>,
  doubt: InDoubt,
): Promise<boolean> {
  const client = await ctx.pool.connect();
  let broken = false;
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    if (doubt.pid !== null) {
      // Only while that session is still inside this very transaction (its tag reverts at the end).
      await client.query(
        `SELECT pg_terminate_backend(pid, ${TERMINATE_WAIT_MS}) FROM pg_stat_activity
         WHERE pid = $1 AND application_name = $2`,
        [doubt.pid, doubt.tag],
      );
    }
    await client.query('BEGIN');
    try {
      // The old transaction held these locks until it ended: once we hold them, it is over.
      await client.query(lockStatement(ctx.schema, doubt.plan), ['parley-commit-resolver']);
      const found = await client.query(`SELECT 1 FROM ${ctx.tables.commits} WHERE id = $1`, [doubt.commitId]);
      return (found.rowCount ?? 0) > 0;
    } finally {
      await client.query('ROLLBACK').catch(() => (broken = true));
    }
  } catch (error) {
    if (isConnectionLoss(error)) broken = true;
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken ? true : undefined);
  }
}

function unknownOutcome(ctx: CommitContext, lost: unknown, resolving: unknown): ParleyError {
  const resolution = ctx.failure(resolving, 'checking the outcome of a commit', '');
  return new ParleyError(
    'ERR_STORE_FAILURE',
    'PostgreSQL: the connection was lost after COMMIT was sent, and checking whether it was applied failed too ' +
      `(${resolution.message}). The commit may or may not have been written: re-read the records it wrote ` +
      '(their versions) before deciding to retry; never replay it blindly',
    { store: 'postgres', action: 'committing', outcome: 'unknown', setting: 'url', retryable: false },
    { cause: ctx.failure(lost, 'committing', '') },
  );
}
