/**
 * Rows of `parley_records` to records and back. Keys are stored as UTF-16BE bytes (utf16-keys.ts,
 * as in the SQLite adapter): bytea compares bytewise, which for UTF-16BE is JavaScript's
 * code-unit order, and `\u0000` or lone surrogates — which PostgreSQL text refuses — survive.
 */
import { type Namespace, ParleyError, type StoredRecord } from '@parley/core';
import { keyFromBytes } from './utf16-keys.js';

export interface RecordRow {
  readonly key?: unknown;
  readonly value: unknown;
  readonly version: unknown;
  readonly expires_at: unknown;
}

export function decodeKey(row: RecordRow, namespace: Namespace): string {
  const key = row.key instanceof Uint8Array ? keyFromBytes(row.key) : undefined;
  if (key === undefined) throw corrupted(namespace, 'key is not UTF-16 bytes');
  return key;
}

/** namespace + encoded key: one record's identity, as a map key. */
export function recordId(namespace: string, key: Buffer): string {
  return `${namespace}\u0000${key.toString('hex')}`;
}

/** `pg` returns bigint columns as decimal strings; versions must be positive safe integers. */
export function parseVersion(raw: unknown): number | undefined {
  const version = typeof raw === 'string' ? Number(raw) : raw;
  return typeof version === 'number' && Number.isSafeInteger(version) && version > 0 ? version : undefined;
}

export function decodeRow(row: RecordRow, namespace: Namespace): StoredRecord {
  if (!(row.value instanceof Uint8Array)) throw corrupted(namespace, 'value is not bytea');
  const version = parseVersion(row.version);
  if (version === undefined) throw corrupted(namespace, 'version is not a positive integer');
  const expiresAt = row.expires_at;
  if (expiresAt !== null && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) {
    throw corrupted(namespace, 'expires_at is not a finite number');
  }
  return {
    // A plain Uint8Array of its own (not pg's Buffer, which may share a pooled ArrayBuffer).
    value: new Uint8Array(row.value),
    version,
    expiresAt: expiresAt === null ? undefined : expiresAt,
  };
}

function corrupted(namespace: Namespace, reason: string): ParleyError {
  return new ParleyError(
    'ERR_INVALID_RECORD',
    `a stored record in "${namespace}" is corrupted (${reason}); restore the database from a backup, ` +
      'or delete that record (commit a delete of its key) so Parley can re-create it',
    { store: 'postgres', namespace, reason },
  );
}
