import { isParleyError, ParleyError } from '../../errors.js';
import type { CommitResult, ExpectedVersion, Namespace, WriteOperation } from '../../storage/contract.js';
import type { BusinessContext, GatewayContext } from '../context.js';
import { DAY_MS } from '../options.js';
import type { MessageId } from '../types.js';
import { contactKey, dueKey, messageIndexKey, messageKey, outboxKey, personIndexKey } from './layout.js';
import {
  decodeMessageIndex,
  decodeMessageRecord,
  encodeMessageIndex,
  encodeMessageRecord,
  encodeOutboxEntry,
  encodeTimestamp,
  type MessageRecord,
  type OutboxEntry,
} from './records.js';

/** The message record, its id index, the person index, its outbox entry and the contact's activity. */
export function messageWrites(
  ctx: BusinessContext,
  id: MessageId,
  record: MessageRecord,
  now: number,
  first: Pick<OutboxEntry, 'nextAttemptAt' | 'claimedBy'>,
): WriteOperation[] {
  const biz = ctx.id;
  return [
    sealedPut(ctx, 'messages', messageKey(biz, id), encodeMessageRecord(record), record.deadline),
    put(
      'meta',
      messageIndexKey(id),
      encodeMessageIndex({ businessId: biz, deadline: record.deadline }),
      record.deadline + INDEX_GRACE_MS,
    ),
    put('meta', personIndexKey(biz, record.pseudonym, id), new Uint8Array(0), record.deadline),
    ...outboxPut(biz, id, { direction: record.direction, deadline: record.deadline, ...first }),
    sealedPut(ctx, 'meta', contactKey(biz, record.pseudonym), encodeTimestamp(now)),
  ];
}

/**
 * The outbox entry and a hint in the time index of due work. Hints are never updated in
 * place: `runDue` deletes a hint once it is spent or its entry moved to another time.
 *
 * Neither expires in the store: the entry is the only record that the message still waits for
 * its final status, so it goes only in the commit that reports that status (sent, failed,
 * delivered, or `expire` with `expired`/`dropped`), or with an erasure. With a store expiry a
 * gateway that did not tick for longer than the grace (down, or idle) lost the entry, and the
 * message stayed `accepted` for good. A hint left behind by a deleted entry is due by the
 * entry's deadline at the latest, and `runDue` deletes it then. Neither holds content.
 */
export function outboxPut(biz: string, id: MessageId, entry: OutboxEntry): WriteOperation[] {
  return [
    put('outbox', outboxKey(biz, id), encodeOutboxEntry(entry)),
    put('outbox', dueKey(dueAt(entry), biz, id), new Uint8Array(0)),
  ];
}

export async function readMessage(
  g: GatewayContext,
  ctx: BusinessContext,
  id: MessageId,
): Promise<{ record: MessageRecord; version: number } | undefined> {
  const key = messageKey(ctx.id, id);
  const stored = await g.store.get('messages', key);
  if (!stored) return undefined;
  return {
    record: decodeMessageRecord(ctx.sealer.open('messages', key, stored.value)),
    version: stored.version,
  };
}

export async function messageIndex(
  g: GatewayContext,
  id: MessageId,
): Promise<{ businessId: string; deadline: number }> {
  const stored = typeof id === 'string' ? await g.store.get('meta', messageIndexKey(id)) : undefined;
  if (!stored)
    throw new ParleyError('ERR_NOT_FOUND', 'no such message (never sent, erased, or long expired)');
  return decodeMessageIndex(stored.value);
}

export function sealedPut(
  ctx: BusinessContext,
  namespace: Namespace,
  key: string,
  bytes: Uint8Array,
  expiresAt?: number,
): WriteOperation {
  return put(namespace, key, ctx.sealer.seal(namespace, key, bytes), expiresAt);
}

export async function readSealed(
  g: GatewayContext,
  ctx: BusinessContext,
  namespace: Namespace,
  key: string,
): Promise<Uint8Array | undefined> {
  const stored = await g.store.get(namespace, key);
  return stored ? ctx.sealer.open(namespace, key, stored.value) : undefined;
}

/** Commits when the record is still at `version`; false when someone else (erasure, expiry) got there first. */
export async function commitIfUnchanged(
  g: GatewayContext,
  writes: WriteOperation[],
  namespace: Namespace,
  key: string,
  version: number,
): Promise<boolean> {
  try {
    await g.store.commit(writes, { expectVersions: [{ namespace, key, version }] });
    return true;
  } catch (error) {
    if (isParleyError(error, 'ERR_STORE_CONFLICT')) return false;
    throw error;
  }
}

/** Commits when every expectation holds; undefined when another writer got there first. */
export async function commitExpecting(
  g: GatewayContext,
  writes: WriteOperation[],
  expectVersions: readonly ExpectedVersion[],
): Promise<CommitResult | undefined> {
  try {
    return await g.store.commit(writes, { expectVersions });
  } catch (error) {
    if (isParleyError(error, 'ERR_STORE_CONFLICT')) return undefined;
    throw error;
  }
}

/** The message id index outlives the message so a late retransmit is told "expired", not "unknown". */
export const INDEX_GRACE_MS = 31 * DAY_MS;

export function put(
  namespace: Namespace,
  key: string,
  value: Uint8Array,
  expiresAt?: number,
): WriteOperation {
  return { type: 'put', namespace, key, value, expiresAt };
}

export function del(namespace: Namespace, key: string): WriteOperation {
  return { type: 'delete', namespace, key };
}

/** When an outbox entry next needs attention: its next attempt, or its expiry if sooner. */
export function dueAt(entry: OutboxEntry): number {
  return Math.min(entry.nextAttemptAt, entry.deadline);
}
