/**
 * Advisory lock keys. Every commit takes, inside its transaction, an exclusive advisory lock per
 * record it checks or writes — existing or not, so "must not exist" (`version: 0`) holds against
 * a concurrent insert, which row locks alone cannot express — plus a shared lock on the whole
 * store. A commit touching more than `MAX_RECORD_LOCKS` records takes the store lock exclusively
 * instead, which bounds the server's shared lock table use per transaction (an erasure deletes
 * thousands of records). Keys are taken in ascending order, so two commits never deadlock on them.
 */
import { createHash } from 'node:crypto';

/**
 * Above this many distinct records a commit locks the whole store. PostgreSQL sizes its shared
 * lock table from max_locks_per_transaction (64 by default) × connections; staying at that
 * average keeps many concurrent commits from exhausting it.
 */
export const MAX_RECORD_LOCKS = 64;

function hashKey(parts: readonly (string | Uint8Array)[]): bigint {
  const hash = createHash('sha256');
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    // Length-prefixed so ("ab", "c") and ("a", "bc") differ.
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  }
  return hash.digest().readBigInt64BE(0);
}

/** Lock of one record (namespace + encoded key) of the store in `schema`. */
export function recordLockKey(schema: string, namespace: string, key: Uint8Array): bigint {
  return hashKey(['parley/record', schema, namespace, key]);
}

/** The store-wide lock: shared by ordinary commits, exclusive for very large ones. */
export function storeLockKey(schema: string): bigint {
  return hashKey(['parley/store', schema]);
}

/** Serializes schema migrations of instances starting together. */
export function migrationLockKey(schema: string): bigint {
  return hashKey(['parley/migrate', schema]);
}

export interface LockPlan {
  /** Store lock mode: shared for ordinary commits, exclusive above MAX_RECORD_LOCKS records. */
  readonly store: 'shared' | 'exclusive';
  /** Record lock keys in ascending order (empty when the store lock is exclusive). */
  readonly records: readonly bigint[];
}

export function planLocks(
  schema: string,
  records: readonly { namespace: string; key: Uint8Array }[],
): LockPlan {
  const keys = [...new Set(records.map((r) => recordLockKey(schema, r.namespace, r.key)))];
  if (keys.length > MAX_RECORD_LOCKS) return { store: 'exclusive', records: [] };
  return { store: 'shared', records: keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) };
}

/**
 * One statement taking the plan's locks left to right (PostgreSQL evaluates a target list in
 * order). The keys are our own integers, so they are written as literals. `$1` sets the
 * transaction's application_name (see `commitTag` in postgres-commit.ts).
 */
export function lockStatement(schema: string, plan: LockPlan): string {
  const calls = [
    plan.store === 'shared'
      ? `pg_advisory_xact_lock_shared(${storeLockKey(schema)})`
      : `pg_advisory_xact_lock(${storeLockKey(schema)})`,
    ...plan.records.map((key) => `pg_advisory_xact_lock(${key})`),
  ];
  return `SELECT set_config('application_name', $1, true), ${calls.join(', ')}`;
}
