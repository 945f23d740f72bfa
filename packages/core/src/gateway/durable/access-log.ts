import { ByteReader, ByteWriter } from '../../binary.js';
import { fromHex, toHex, utf8 } from '../../bytes.js';
import { constantTimeEqual } from '../../crypto/constant-time.js';
import { type ErrorCode, isParleyError, ParleyError } from '../../errors.js';
import { CommitRetry } from '../../session/commit-retry.js';
import type { GatewayContext } from '../context.js';
import { ACCESS_LOG_KEY, accessHeadKey, accessRecordKey, accessRecordPrefix } from './layout.js';
import { put } from './message-store.js';
import { loadOrCreateKey } from './wrapped-keys.js';

/**
 * The access log: one record for every operation done on behalf of a business through a
 * scoped handle (`gateway.forBusiness`) — when, which principal, which operation, the message
 * id, the person only as the business's pseudonym, the outcome. Never content, never a phone
 * number.
 *
 * Records are chained per business: each carries its sequence number, the previous record's
 * time and MAC, and its own MAC (HMAC-SHA256 under a gateway-wide log key that the key
 * provider wraps), and a head record holds the newest sequence number and MAC. `verify` finds
 * an edited record (its MAC), a removed one (a gap in the sequence or a broken link), a removed
 * tail (the head), and a removed oldest record that had not yet expired (the next record names
 * its time). Someone with write access to the store but without the key provider cannot forge a
 * consistent chain. Records expire after `accessLog.retentionMs` (default 90 days — longer than
 * messages, so an audit outlives what it audits).
 *
 * Appends are serialized per business in the process (those made meanwhile share the next
 * commit) and by the head's version across instances. A record is appended after its
 * operation, with the outcome: a crash between the two loses the records not yet written (the
 * operations' own records remain).
 */

export type AccessOperation =
  | 'send'
  | 'retransmit'
  | 'status'
  | 'erase'
  | 'numbers'
  | 'usage'
  | 'on-message'
  | 'on-event'
  | 'access-log'
  | 'upload-media'
  | 'download-media'
  | 'media-info'
  | 'delete-media'
  | 'group-create'
  | 'group-add'
  | 'group-remove'
  | 'group-send'
  | 'group-info'
  | 'group-delete';

export const ACCESS_OPERATIONS: readonly AccessOperation[] = [
  'send',
  'retransmit',
  'status',
  'erase',
  'numbers',
  'usage',
  'on-message',
  'on-event',
  'access-log',
  // Appended: a record stores its operation's index in this list.
  'upload-media',
  'download-media',
  'media-info',
  'delete-media',
  'group-create',
  'group-add',
  'group-remove',
  'group-send',
  'group-info',
  'group-delete',
];

/** What the caller of an operation tells the log. */
export interface AccessNote {
  /** The message id, or for media operations the media id. */
  messageId?: string | undefined;
  /** The person, as the business's pseudonym. */
  person?: string | undefined;
  /** The group, for a group operation. */
  group?: string | undefined;
  /** People a group operation changed: one record each (instead of `person`). */
  people?: string[] | undefined;
}

export interface AccessRecord {
  readonly seq: number;
  readonly at: number;
  readonly principal: string;
  readonly operation: AccessOperation;
  readonly businessId: string;
  /** The message concerned; for media operations the media id (`f…`). */
  readonly messageId: string | undefined;
  /** The person concerned, as the business's pseudonym (never a phone number). */
  readonly person: string | undefined;
  /** The group concerned (group operations; a random id, naming no one). */
  readonly group?: string | undefined;
  /** `ok`, or the error code the operation ended with (`ERR_UNEXPECTED`: not a Parley error). */
  readonly outcome: 'ok' | ErrorCode | 'ERR_UNEXPECTED';
  /** Time of the record before (0 for the first). */
  readonly previousAt: number;
  /** MAC of the record before, hex (zeros for the first). */
  readonly previousMac: string;
  /** HMAC-SHA256 over everything above, hex. */
  readonly mac: string;
}

export interface AccessLogQuery {
  /** Records at or after this time (epoch ms). */
  readonly since?: number;
  /** Records before this time. */
  readonly until?: number;
  readonly principal?: string;
  readonly operation?: AccessOperation;
  /** At most this many, oldest first (default: all). */
  readonly limit?: number;
}

export interface AccessLogVerification {
  readonly ok: boolean;
  /** Records checked. */
  readonly records: number;
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
  /** The first problem found. */
  readonly problem?: { readonly seq: number; readonly reason: string } | undefined;
}

export interface AccessLogExport {
  readonly businessId: string;
  readonly head: { readonly seq: number; readonly mac: string } | undefined;
  readonly records: readonly AccessRecord[];
}

/** The operator's view of the access log (per business). */
export interface AccessLog {
  query(businessId: string, query?: AccessLogQuery): Promise<AccessRecord[]>;
  verify(businessId: string): Promise<AccessLogVerification>;
  export(businessId: string): Promise<AccessLogExport>;
}

const RECORD_FORMAT = 1;
/** Format 2: a record of a group operation, with its group (records of other operations stay format 1). */
const GROUP_RECORD_FORMAT = 2;
const MAC_LENGTH = 32;
const ZERO_MAC = new Uint8Array(MAC_LENGTH);
/** How long an append may keep losing the chain head to other instances before it fails. */
const APPEND_BUDGET_MS = 30_000;
export const ACCESS_LOG_KEY_CONTEXT = 'parley/access-log/mac-key';

interface Head {
  readonly seq: number;
  readonly at: number;
  readonly mac: Uint8Array;
}

/** What an operation tells the log; the chain fields are added when the record is written. */
export type AccessFields = Omit<AccessRecord, 'seq' | 'at' | 'previousAt' | 'previousMac' | 'mac'>;

/** Appends of one business waiting for their commit: all of them chain in one. */
export interface AccessAppendBatch {
  readonly entries: AccessFields[];
  /** False once its commit began: later appends start the next batch. */
  taking: boolean;
  written: Promise<void>;
}

/** Records per append commit (with the head: at most 33 records, under PostgreSQL's 64-record lock plan). */
const MAX_APPEND_BATCH = 32;

/**
 * Appends a record. Appends of one business made while its previous commit is under way are
 * written together, chained in call order, in one commit (one head update for all of them);
 * each caller's promise settles with that commit.
 */
export function appendAccess(g: GatewayContext, fields: AccessFields): Promise<void> {
  if (!g.accessLogRetentionMs) return Promise.resolve();
  const { businessId } = fields;
  const waiting = g.accessAppends.get(businessId);
  if (waiting?.taking && waiting.entries.length < MAX_APPEND_BATCH) {
    waiting.entries.push(fields);
    return waiting.written;
  }
  const batch: AccessAppendBatch = { entries: [fields], taking: true, written: Promise.resolve() };
  g.accessAppends.set(businessId, batch);
  batch.written = g.queue.run(`access-log/${businessId}`, () => {
    batch.taking = false;
    if (g.accessAppends.get(businessId) === batch) g.accessAppends.delete(businessId);
    return writeAppends(g, businessId, batch.entries);
  });
  return batch.written;
}

async function writeAppends(g: GatewayContext, businessId: string, entries: readonly AccessFields[]) {
  const key = await accessLogKey(g);
  const retentionMs = g.accessLogRetentionMs;
  // Instances appending at once race for the head: a loser waits a jittered, growing delay
  // and chains onto the winner's records. The budget is long: records are written after the
  // operations they log, and giving up would report operations that happened as failed.
  const schedule = new CommitRetry(g.clock, g.random, { budgetMs: APPEND_BUDGET_MS }).start();
  for (;;) {
    const stored = await g.store.get('meta', accessHeadKey(businessId));
    let head = stored ? decodeHead(stored.value) : undefined;
    const now = g.clock.now();
    const writes = entries.map((fields) => {
      const at = Math.max(now, head?.at ?? 0);
      const seq = (head?.seq ?? 0) + 1;
      const body = encodeBody({
        ...fields,
        seq,
        at,
        previousAt: head?.at ?? 0,
        previousMac: head?.mac ?? ZERO_MAC,
      });
      const mac = g.crypto.hmacSha256(key, body);
      head = { seq, at, mac };
      const record = new ByteWriter(body.length + MAC_LENGTH).fixed(body).fixed(mac).finish();
      return put('meta', accessRecordKey(businessId, seq), record, at + retentionMs);
    });
    try {
      await g.store.commit([...writes, put('meta', accessHeadKey(businessId), encodeHead(head!))], {
        expectVersions: [
          { namespace: 'meta', key: accessHeadKey(businessId), version: stored?.version ?? 0 },
        ],
      });
      return;
    } catch (error) {
      // Another instance appended first: chain onto its records.
      if (!isParleyError(error, 'ERR_STORE_CONFLICT') || !(await schedule.backOff())) throw error;
    }
  }
}

function accessLogKey(g: GatewayContext): Promise<Uint8Array> {
  g.accessLogKey ??= loadOrCreateKey(g, ACCESS_LOG_KEY, ACCESS_LOG_KEY_CONTEXT);
  g.accessLogKey.catch(() => {
    g.accessLogKey = undefined;
  });
  return g.accessLogKey;
}

export function createAccessLog(g: GatewayContext): AccessLog {
  return Object.freeze({
    query: (businessId: string, query: AccessLogQuery = {}) => queryAccess(g, businessId, query),
    verify: (businessId: string) => verifyAccess(g, businessId),
    export: (businessId: string) => exportAccess(g, businessId),
  });
}

export async function queryAccess(
  g: GatewayContext,
  businessId: string,
  query: AccessLogQuery = {},
): Promise<AccessRecord[]> {
  checkQuery(query);
  const out: AccessRecord[] = [];
  for (const stored of await g.store.list('meta', { prefix: accessRecordPrefix(businessId) })) {
    const record = decodeRecord(stored.value, businessId);
    if (query.since !== undefined && record.at < query.since) continue;
    if (query.until !== undefined && record.at >= query.until) continue;
    if (query.principal !== undefined && record.principal !== query.principal) continue;
    if (query.operation !== undefined && record.operation !== query.operation) continue;
    out.push(record);
    if (query.limit !== undefined && out.length >= query.limit) break;
  }
  return out;
}

export async function verifyAccess(g: GatewayContext, businessId: string): Promise<AccessLogVerification> {
  const key = await accessLogKey(g);
  const listed = await g.store.list('meta', { prefix: accessRecordPrefix(businessId) });
  const headRecord = await g.store.get('meta', accessHeadKey(businessId));
  const head = headRecord && decodeHead(headRecord.value);
  const now = g.clock.now();
  const result = (
    problem?: { seq: number; reason: string },
    records = listed.length,
  ): AccessLogVerification => ({
    ok: problem === undefined,
    records,
    firstSeq: listed.length > 0 ? seqOf(listed[0]!.key) : undefined,
    lastSeq: listed.length > 0 ? seqOf(listed.at(-1)!.key) : undefined,
    problem,
  });
  let previous: { seq: number; at: number; mac: Uint8Array } | undefined;
  for (const [index, stored] of listed.entries()) {
    const seq = seqOf(stored.key);
    // The MAC first: any change to a record, readable or not, is an edit.
    const bytes = stored.value;
    const body = bytes.subarray(0, Math.max(0, bytes.length - MAC_LENGTH));
    if (
      bytes.length < MAC_LENGTH ||
      !constantTimeEqual(g.crypto.hmacSha256(key, body), bytes.subarray(body.length))
    ) {
      return result({ seq, reason: 'record edited (MAC does not match)' }, index);
    }
    let record: AccessRecord;
    try {
      record = decodeRecord(bytes, businessId);
    } catch {
      return result({ seq, reason: 'unreadable record' }, index);
    }
    if (record.seq !== seq)
      return result({ seq, reason: 'record moved (sequence number does not match)' }, index);
    if (previous) {
      if (seq !== previous.seq + 1) return result({ seq: previous.seq + 1, reason: 'record removed' }, index);
      if (record.previousAt !== previous.at || record.previousMac !== toHex(previous.mac)) {
        return result({ seq, reason: 'chain broken (previous MAC does not match)' }, index);
      }
    } else if (seq > 1 && record.previousAt + g.accessLogRetentionMs > now) {
      // The record before the oldest one should still be here: it has not expired yet.
      return result({ seq: seq - 1, reason: 'record removed before its expiry' }, index);
    }
    previous = { seq, at: record.at, mac: fromHex(record.mac) };
  }
  if (head) {
    if (!previous) {
      if (head.at + g.accessLogRetentionMs > now) return result({ seq: head.seq, reason: 'records removed' });
    } else if (head.seq !== previous.seq || !constantTimeEqual(head.mac, previous.mac)) {
      return result({ seq: previous.seq + 1, reason: 'newest records removed (head does not match)' });
    }
  } else if (previous) {
    return result({ seq: previous.seq, reason: 'head record missing' });
  }
  return result();
}

export async function exportAccess(g: GatewayContext, businessId: string): Promise<AccessLogExport> {
  const headRecord = await g.store.get('meta', accessHeadKey(businessId));
  const head = headRecord && decodeHead(headRecord.value);
  return {
    businessId,
    head: head && { seq: head.seq, mac: toHex(head.mac) },
    records: await queryAccess(g, businessId),
  };
}

export function outcomeOf(error: unknown): AccessRecord['outcome'] {
  return isParleyError(error) ? error.code : 'ERR_UNEXPECTED';
}

function checkQuery(query: AccessLogQuery): void {
  if (typeof query !== 'object' || query === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"query" expected an object', { field: 'query' });
  }
  for (const field of ['since', 'until', 'limit'] as const) {
    const value = query[field];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected a non-negative integer`, { field });
    }
  }
  if (query.operation !== undefined && !ACCESS_OPERATIONS.includes(query.operation)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"operation" expected an access-log operation', {
      field: 'operation',
    });
  }
}

// ── Encoding ──────────────────────────────────────────────────────────────────────

function encodeBody(
  fields: Omit<AccessRecord, 'mac' | 'previousMac'> & { readonly previousMac: Uint8Array },
): Uint8Array {
  const w = new ByteWriter(160)
    .u8(fields.group === undefined ? RECORD_FORMAT : GROUP_RECORD_FORMAT)
    .u64(fields.seq)
    .u64(fields.at)
    .bytes(utf8(fields.principal))
    .u8(ACCESS_OPERATIONS.indexOf(fields.operation))
    .bytes(utf8(fields.businessId))
    .bytes(utf8(fields.messageId ?? ''))
    .bytes(utf8(fields.person ?? ''));
  if (fields.group !== undefined) w.bytes(utf8(fields.group));
  return w.bytes(utf8(fields.outcome)).u64(fields.previousAt).fixed(fields.previousMac).finish();
}

export function decodeRecord(bytes: Uint8Array, businessId: string): AccessRecord {
  const r = new ByteReader(bytes, 'access log');
  const format = r.u8();
  if (format !== RECORD_FORMAT && format !== GROUP_RECORD_FORMAT) r.fail('unknown format');
  const seq = r.u64();
  const at = r.u64();
  const principal = r.text();
  const operation = ACCESS_OPERATIONS[r.u8()] ?? r.fail('unknown operation');
  const recordBusiness = r.text();
  if (recordBusiness !== businessId) r.fail('record of another business');
  const messageId = r.text();
  const person = r.text();
  const group = format === GROUP_RECORD_FORMAT ? r.text() : undefined;
  const outcome = r.text() as AccessRecord['outcome'];
  const previousAt = r.u64();
  const previousMac = toHex(r.fixed(MAC_LENGTH));
  const mac = toHex(r.fixed(MAC_LENGTH));
  r.end();
  return {
    seq,
    at,
    principal,
    operation,
    businessId,
    messageId: messageId === '' ? undefined : messageId,
    person: person === '' ? undefined : person,
    ...(group === undefined ? {} : { group }),
    outcome,
    previousAt,
    previousMac,
    mac,
  };
}

function encodeHead(head: Head): Uint8Array {
  return new ByteWriter(49).u8(RECORD_FORMAT).u64(head.seq).u64(head.at).fixed(head.mac).finish();
}

function decodeHead(bytes: Uint8Array): Head {
  const r = new ByteReader(bytes, 'access log head');
  if (r.u8() !== RECORD_FORMAT) r.fail('unknown format');
  const seq = r.u64();
  const at = r.u64();
  const mac = r.fixed(MAC_LENGTH);
  r.end();
  return { seq, at, mac };
}

function seqOf(key: string): number {
  return Number(key.slice(key.lastIndexOf('/') + 1));
}
