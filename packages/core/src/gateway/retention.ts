import { isParleyError, ParleyError } from '../errors.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import { allBusinesses, business, numbers } from './businesses.js';
import { type BusinessContext, type GatewayContext, personQueueKey } from './context.js';
import { handOver, newEvent, statusEvent } from './durable/event-outbox.js';
import {
  contactKey,
  contactPrefix,
  devicesKey,
  framePrefix,
  messageIndexKey,
  messageKey,
  outboxKey,
  personIndexPrefix,
  retryLimitPrefix,
  seenPrefix,
  timestampPrefix,
} from './durable/layout.js';
import { deleteBlobs, personMediaErasure } from './durable/media-store.js';
import { del } from './durable/message-store.js';
import { type Direction, decodeTimestamp } from './durable/records.js';
import type { GroupErasure } from './groups.js';
import {
  commitExpectingWithTallies,
  commitWithTallies,
  foldTally,
  journalKnownContacts,
  newTally,
} from './tally.js';
import type { MessageId } from './types.js';
import { assertPhoneNumber } from './validation.js';

/**
 * A message whose deadline passed before it was handed over: its outbox entry goes, with the
 * `expired` (outbound) or `dropped` (inbound) event in the same commit. The message record
 * itself is already expired (the store no longer returns it), so the event lists no devices.
 */
export async function expire(
  g: GatewayContext,
  businessId: string,
  id: MessageId,
  direction: Direction,
): Promise<void> {
  const ctx = await business(g, businessId);
  const event =
    direction === 'outbound'
      ? statusEvent(g, ctx, id, 'expired', { devices: [] }, 'ERR_RETENTION_EXPIRED')
      : newEvent(g, ctx, { type: 'dropped', businessId, messageId: id, attempts: 0 });
  // The entry's own version guards against a second instance expiring it too.
  const entry = await g.store.get('outbox', outboxKey(businessId, id));
  if (!entry) return;
  const tallies =
    direction === 'outbound' ? [newTally(g, ctx, { kind: 'expired', at: g.clock.now(), messageId: id })] : [];
  const committed = await commitExpectingWithTallies(
    g,
    [del('outbox', outboxKey(businessId, id)), event.write],
    tallies,
    [{ namespace: 'outbox', key: outboxKey(businessId, id), version: entry.version }],
  );
  if (!committed) return;
  g.log('info', 'message expired before it could be handed over', {
    businessId,
    messageId: id,
    direction,
  });
  await handOver(g, [event.pending]);
}

export async function erase(g: GatewayContext, businessId: string, phoneNumber: string): Promise<void> {
  g.assertOpen();
  assertPhoneNumber(phoneNumber, 'phoneNumber');
  const ctx = await business(g, businessId);
  const pseudonym = g.pseudonym(ctx, phoneNumber);
  // After any send to this person under way: it cannot rebuild a session once this ran.
  await g.queue.run(personQueueKey(businessId, pseudonym), () => erasePseudonym(g, ctx, pseudonym, true));
  // The stored statistics windows must not keep the person either (not only after the next
  // tick): the journal, with the erasure in it, is folded at once.
  await foldTally(g, ctx);
  g.log('info', 'a person’s data was erased', { businessId });
}

export async function erasePseudonym(
  g: GatewayContext,
  ctx: BusinessContext,
  pseudonym: string,
  withMessages: boolean,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await erasePseudonymOnce(g, ctx, pseudonym, withMessages);
      return;
    } catch (error) {
      // A group or one of its messages changed while the erasure was read: read it again.
      if (!isParleyError(error, 'ERR_STORE_CONFLICT') || attempt >= ERASE_ATTEMPTS) throw error;
    }
  }
}

/** Erasures read again after a conflict with a concurrent group change before giving up. */
const ERASE_ATTEMPTS = 8;

async function erasePseudonymOnce(
  g: GatewayContext,
  ctx: BusinessContext,
  pseudonym: string,
  withMessages: boolean,
): Promise<void> {
  const biz = ctx.id;
  const writes: WriteOperation[] = [];
  const expectVersions: ExpectedVersion[] = [];
  let blobIds: string[] = [];
  let groups: GroupErasure | undefined;
  if (withMessages) {
    const prefix = personIndexPrefix(biz, pseudonym);
    for (const entry of await g.store.list('meta', { prefix })) {
      const id = entry.key.slice(prefix.length);
      writes.push(
        del('messages', messageKey(biz, id)),
        del('outbox', outboxKey(biz, id)),
        del('meta', messageIndexKey(id)),
        del('meta', entry.key),
      );
      for (const frame of await g.store.list('outbox', { prefix: framePrefix(biz, id) })) {
        writes.push(del('outbox', frame.key));
      }
    }
    // Which message each timestamp named, what went to each device: only for decryption errors.
    for (const entry of await g.store.list('meta', { prefix: timestampPrefix(biz, pseudonym) }))
      writes.push(del('meta', entry.key));
    const media = await personMediaErasure(g, biz, pseudonym);
    writes.push(...media.writes);
    blobIds = media.blobIds;
    // Out of the business's groups in the same commit (each group's chain rotates after it).
    groups = await g.groupHooks?.erase(ctx, pseudonym);
    if (groups) {
      writes.push(...groups.writes);
      expectVersions.push(...groups.expect);
    }
  }
  for (const entry of await g.store.list('meta', { prefix: seenPrefix(biz, pseudonym) }))
    writes.push(del('meta', entry.key));
  writes.push(del('meta', devicesKey(biz, pseudonym)), del('meta', contactKey(biz, pseudonym)));
  for (const number of await numbers(g, biz)) {
    const records = g.sessions(ctx, number).records;
    for (const entry of await g.store.list('sessions', { prefix: records.sessionPrefix(pseudonym) })) {
      writes.push(del('sessions', entry.key));
    }
    writes.push(del('identities', records.remoteIdentityKey(pseudonym)));
    for (const entry of await g.store.list('meta', {
      prefix: retryLimitPrefix(biz, number, pseudonym),
    })) {
      writes.push(del('meta', entry.key));
    }
  }
  // Statistics drop the person's billing windows when the journal's fold reaches this event.
  // (Integrity keeps nothing per person: keyed hashes folded into shared sketches.)
  await commitWithTallies(
    g,
    writes,
    [newTally(g, ctx, { kind: 'forget', at: g.clock.now(), person: pseudonym })],
    expectVersions.length > 0 ? { expectVersions } : undefined,
  );
  // After the commit: a blob whose record is gone is noise (its key went with the record).
  await deleteBlobs(g, blobIds);
  // The session managers may still hold the person's decoded sessions in memory.
  for (const sessions of ctx.numbers.values()) sessions.forgetName(pseudonym);
  await groups?.rotate();
}

export async function sweep(g: GatewayContext): Promise<SweepResult> {
  g.assertOpen();
  const now = g.clock.now();
  let inactive = 0;
  for (const ctx of await allBusinesses(g)) {
    const prefix = contactPrefix(ctx.id);
    const contacts = await g.store.list('meta', { prefix });
    let active = contacts.length;
    for (const contact of contacts) {
      const last = decodeTimestamp(ctx.sealer.open('meta', contact.key, contact.value));
      if (last + g.inactivityMs > now) continue;
      active -= 1;
      const pseudonym = contact.key.slice(prefix.length);
      await g.queue.run(personQueueKey(ctx.id, pseudonym), () => erasePseudonym(g, ctx, pseudonym, false));
      inactive += 1;
    }
    await journalKnownContacts(g, ctx, active);
  }
  const records = await g.store.sweepExpired(now);
  const blobs = (await g.media?.blobStore.sweepExpired(now)) ?? 0;
  const periodKeys = await g.periodKeys.destroyExpired();
  if (records > 0 || periodKeys > 0 || inactive > 0 || blobs > 0)
    g.log('info', 'retention sweep', { records, blobs, periodKeys, inactive });
  return { records, blobs, periodKeys, inactive };
}

export interface SweepResult {
  /** Expired records deleted from the message store. */
  readonly records: number;
  /** Expired media blobs deleted from the blob store (0 without media). */
  readonly blobs: number;
  /** Period keys destroyed in the vault store. */
  readonly periodKeys: number;
  /** People whose protocol state was deleted for inactivity. */
  readonly inactive: number;
}

export function expired(id: MessageId): ParleyError {
  return new ParleyError(
    'ERR_RETENTION_EXPIRED',
    'the message passed its retention deadline; it can no longer be sent',
    {
      messageId: id,
    },
  );
}
