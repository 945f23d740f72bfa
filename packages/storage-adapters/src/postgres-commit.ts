/**
 * `commit` on PostgreSQL: one transaction on one connection, in two round trips (`pg` pipeline
 * mode sends each batch without waiting between statements):
 *
 *   1. BEGIN; advisory locks (see postgres-locks.ts); the expected records' versions, read
 *      FOR UPDATE after the locks are held; versions for the puts from the store-wide sequence.
 *   2. (versions checked here, in JavaScript; a mismatch rolls back with ERR_STORE_CONFLICT)
 *      the writes, grouped into as few statements as order allows; the commit id; COMMIT.
 *
 * READ COMMITTED is enough: the record locks serialize every commit touching a record (checked
 * or written), and each statement sees everything committed before it started, so the version
 * check reads the state left by the previous lock holder. A serialization failure or deadlock
 * (not expected with ordered locks, but a server may still report one) is ERR_STORE_CONFLICT.
 *
 * Outcome unknown: if the connection dies after the second batch was sent, COMMIT may or may not
 * have happened. The commit is never sent again. Instead a fresh connection ends the old session
 * if it is still inside this transaction (found by the transaction's application_name), takes the
 * same locks (which the old transaction held until it ended), and looks for the commit id that the
 * transaction wrote: present, the commit happened and its versions are returned; absent, nothing
 * was written and the caller may retry.
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
import { encodeKey, parseVersion } from './postgres-rows.js';
import type { Tables } from './postgres-schema.js';

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
  /** namespace + key, for grouping. */
  readonly id: string;
  /** A put's value, copied when `commit` was called (the caller may reuse its buffer). */
  readonly value: Uint8Array | undefined;
}

type PutVersion = { namespace: Namespace; key: string; version: number };

/** Thrown by the first round trip when the connection died before anything could commit. */
class NotSent {
  constructor(readonly error: unknown) {}
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
  // Before any await: the values as the caller passed them.
  const ops: Encoded[] = mutation.map((op) => {
    const key = encodeKey(op.key);
    const value = op.type === 'put' ? op.value.slice() : undefined;
    return { op, key, id: `${op.namespace}\u0000${key.toString('hex')}`, value };
  });
  try {
    return await attempt(ctx, ops, expectations, now);
  } catch (error) {
    if (!(error instanceof NotSent)) throw error;
    // The pool handed out a connection that had died (a restarted server, a cut idle socket) before
    // COMMIT was sent: nothing can have been written, so one more attempt on a new connection is safe.
    try {
      return await attempt(ctx, ops, expectations, now);
    } catch (again) {
      throw again instanceof NotSent ? ctx.failure(again.error, 'committing', 'nothing was written.') : again;
    }
  }
}

async function attempt(
  ctx: CommitContext,
  ops: readonly Encoded[],
  expectations: readonly ExpectedVersion[],
  now: number,
): Promise<CommitResult> {
  const expected = expectations.map((e) => ({ ...e, encoded: encodeKey(e.key) }));
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
    await client.query('ROLLBACK').catch(() => (broken = true));
    release();
    throw ctx.failure(firstError, 'committing', NOTHING_WRITTEN);
  }
  const current = (first[2] as PromiseFulfilledResult<pg.QueryResult | undefined>).value;
  const sequence = (first[3] as PromiseFulfilledResult<pg.QueryResult<{ v: string }> | undefined>).value;
  const found = new Map<string, number>();
  for (const row of current?.rows ?? []) {
    found.set(
      `${row.namespace}\u0000${(row.key as Buffer).toString('hex')}`,
      parseVersion(row.version) ?? -1,
    );
  }
  for (const e of expected) {
    const actual = found.get(`${e.namespace}\u0000${e.encoded.toString('hex')}`) ?? 0;
    if (actual !== e.version) {
      await client.query('ROLLBACK').catch(() => (broken = true));
      release();
      throw conflictError('postgres', e, actual);
    }
  }
  const versions = (sequence?.rows ?? []).map((row) => parseVersion(row.v)!);

  // ── Round trip 2: writes, commit id, COMMIT ──
  const pending: Promise<unknown>[] = [];
  const result: PutVersion[] = [];
  let injected: { error: unknown } | undefined;
  let run: Run | undefined;
  const flush = () => {
    if (run !== undefined) pending.push(writeRun(ctx, client, run));
    run = undefined;
  };
  for (const [index, encoded] of ops.entries()) {
    try {
      ctx.beforeWrite?.(encoded.op, index);
    } catch (error) {
      injected = { error };
      break;
    }
    const { op } = encoded;
    // One statement may not touch a row twice (ON CONFLICT DO UPDATE refuses it), and deletes
    // and puts must stay in mutation order: either starts a new statement.
    if (run !== undefined && (run.type !== op.type || (op.type === 'put' && run.ids.has(encoded.id))))
      flush();
    run ??= {
      type: op.type,
      ids: new Set(),
      namespaces: [],
      keys: [],
      values: [],
      versions: [],
      expiries: [],
    };
    run.ids.add(encoded.id);
    run.namespaces.push(op.namespace);
    run.keys.push(encoded.key);
    if (op.type === 'put') {
      const version = versions[result.length]!;
      run.values.push(encoded.value!);
      run.versions.push(version);
      run.expiries.push(op.expiresAt ?? null);
      result.push({ namespace: op.namespace, key: op.key, version });
    }
  }
  flush();
  if (injected !== undefined) {
    // The writes before the fault are applied inside the transaction; ROLLBACK undoes them.
    pending.push(client.query('ROLLBACK'));
    const settled = await Promise.allSettled(pending);
    if (settled.some((r) => r.status === 'rejected' && isConnectionLoss(r.reason))) broken = true;
    release();
    throw ctx.failure(injected.error, 'committing', NOTHING_WRITTEN);
  }
  pending.push(client.query(`INSERT INTO ${ctx.tables.commits} (id) VALUES ($1)`, [commitId]));
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
    return { versions: result };
  }
  if (!isConnectionLoss(failed)) {
    // The server refused a statement before COMMIT: the transaction is aborted and COMMIT rolls it back.
    if (settled.some((r) => r.status === 'rejected' && isConnectionLoss(r.reason))) broken = true;
    release();
    throw ctx.failure(failed, 'committing', NOTHING_WRITTEN);
  }
  broken = true;
  const pid = (client as unknown as { processID: number | null }).processID;
  release();
  const committed = await resolveOutcome(ctx, { commitId, tag, pid, plan }).catch((error: unknown) => {
    throw unknownOutcome(ctx, failed, error);
  });
  if (committed) return { versions: result };
  throw ctx.failure(
    failed,
    'committing',
    'the connection was lost during the commit; a fresh connection verified that it was not applied: nothing was written.',
  );
}

interface Run {
  readonly type: WriteOperation['type'];
  readonly ids: Set<string>;
  readonly namespaces: string[];
  readonly keys: Buffer[];
  readonly values: Uint8Array[];
  readonly versions: number[];
  readonly expiries: (number | null)[];
}

function writeRun(ctx: CommitContext, client: pg.PoolClient, run: Run): Promise<unknown> {
  const t = ctx.tables;
  if (run.type === 'delete') {
    return client.query(
      `DELETE FROM ${t.records} WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))`,
      [run.namespaces, run.keys],
    );
  }
  const upsert = `ON CONFLICT (namespace, key) DO UPDATE
     SET value = EXCLUDED.value, version = EXCLUDED.version, expires_at = EXCLUDED.expires_at`;
  if (run.keys.length === 1) {
    // One row: plain parameters, so the value travels as binary rather than hex in an array literal.
    return client.query(
      `INSERT INTO ${t.records} (namespace, key, value, version, expires_at) VALUES ($1, $2, $3, $4, $5) ${upsert}`,
      [run.namespaces[0], run.keys[0], toBuffer(run.values[0]!), run.versions[0], run.expiries[0]],
    );
  }
  return client.query(
    `INSERT INTO ${t.records} (namespace, key, value, version, expires_at)
     SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bigint[], $5::float8[]) ${upsert}`,
    [run.namespaces, run.keys, run.values.map(toBuffer), run.versions, run.expiries],
  );
}

/** `pg` sends Buffers as bytea; a copy also freezes the bytes at the moment of the commit. */
function toBuffer(value: Uint8Array): Buffer {
  return Buffer.from(value);
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
