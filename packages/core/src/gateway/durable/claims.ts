import type { ExpectedVersion, WriteOperation } from '../../storage/contract.js';
import type { GatewayContext } from '../context.js';
import type { MessageId } from '../types.js';
import { dueKey, outboxKey } from './layout.js';
import { commitExpecting, del, dueAt, outboxPut } from './message-store.js';
import { decodeOutboxEntry, type OutboxEntry } from './records.js';

/**
 * Claims on due work, so that several gateway instances over one store never work on one
 * message at once. A claim is the outbox entry itself: the instance that takes it writes its id
 * and moves the entry's due time to the end of its lease, with a compare-and-swap on the
 * entry's version — exactly one instance wins. While the claim lasts no one else touches the
 * message; when the work is done the same instance replaces the entry (next attempt, or none)
 * expecting the version it claimed. An instance that dies mid-claim simply lets the lease run
 * out: the entry is due again at its end (a hint in the due-time index says so) and another
 * instance claims it.
 *
 * The lease is measured on each instance's injected clock, so instances are assumed to agree
 * on the time to well within `claims.leaseMs` (NTP does); a clock far ahead would claim
 * leases early, never lose work.
 */

export interface Claim {
  readonly entry: OutboxEntry;
  /** The entry's version after the claim: the commit that ends the work expects it. */
  readonly version: number;
  /** True when taken now (due work); false for the claim the creating commit wrote. */
  readonly taken: boolean;
}

/**
 * The outbox entry of a message this instance will work on at once (written in the same commit
 * as the message: no second commit to claim it).
 */
export function claimedEntry(
  g: GatewayContext,
  entry: Pick<OutboxEntry, 'direction' | 'deadline'>,
): OutboxEntry {
  return { ...entry, nextAttemptAt: g.clock.now() + g.claimLeaseMs, claimedBy: g.instanceId };
}

/**
 * Takes a due entry for this instance: the claim, `'expired'` when the entry's deadline passed
 * (the caller reports the expiry), or undefined when it is not due, held by another instance,
 * gone, or another instance claimed it first.
 */
export async function claimDue(
  g: GatewayContext,
  biz: string,
  id: MessageId,
): Promise<Claim | { readonly expired: OutboxEntry } | undefined> {
  const key = outboxKey(biz, id);
  const stored = await g.store.get('outbox', key);
  if (!stored) return undefined;
  const entry = decodeOutboxEntry(stored.value);
  const now = g.clock.now();
  if (entry.deadline <= now) return { expired: entry };
  // Our own claim from the commit that created the work (send, an inbound frame).
  if (entry.claimedBy === g.instanceId && entry.nextAttemptAt > now) {
    return { entry, version: stored.version, taken: false };
  }
  if (entry.nextAttemptAt > now) return undefined;
  const claimed: OutboxEntry = { ...entry, nextAttemptAt: now + g.claimLeaseMs, claimedBy: g.instanceId };
  const writes = [...outboxPut(biz, id, claimed)];
  // The entry's old hint is spent by `runDue` (its entry moved to another time).
  const result = await commitExpecting(g, writes, [{ namespace: 'outbox', key, version: stored.version }]);
  if (!result) return undefined;
  const version = result.versions.find((written) => written.key === key)?.version;
  return version === undefined ? undefined : { entry: claimed, version, taken: true };
}

/**
 * The writes that end a claim: its hint in the due-time index goes, and the entry is either
 * replaced by the next attempt (unclaimed) or deleted. Commit them expecting `claim.version`.
 */
export function releaseWrites(
  biz: string,
  id: MessageId,
  claim: Claim,
  next: number | undefined,
): ReturnType<typeof outboxPut> {
  const writes = [del('outbox', dueKey(dueAt(claim.entry), biz, id))];
  if (next === undefined) writes.push(del('outbox', outboxKey(biz, id)));
  else writes.push(...outboxPut(biz, id, { ...claim.entry, nextAttemptAt: next, claimedBy: '' }));
  return writes;
}

/**
 * What a delivery receipt does to its message's outbox entry and the device's stored frame.
 * An instance holding a live claim may be in the middle of an attempt that read the record
 * before the receipt (the device still pending there): it must find the stored frame and
 * resend those bytes, never encrypt again. So while a claim is live the frame and the entry
 * stay (the holder's attempt ends them); otherwise the device's frame goes now, and the entry
 * with its due-time hint once `nothingLeft` (nothing is left to send). The entry's version is
 * expected, so a claim taken meanwhile makes the receipt's commit read again.
 */
export async function receiptOutboxChanges(
  g: GatewayContext,
  biz: string,
  id: MessageId,
  options: { readonly frameKey: string; readonly nothingLeft: boolean },
): Promise<{ readonly writes: WriteOperation[]; readonly expect: ExpectedVersion[] }> {
  const key = outboxKey(biz, id);
  const entry = await g.store.get('outbox', key);
  if (!entry) return { writes: [del('outbox', options.frameKey)], expect: [] };
  const due = decodeOutboxEntry(entry.value);
  const expect: ExpectedVersion[] = [{ namespace: 'outbox', key, version: entry.version }];
  if (due.claimedBy !== '' && due.nextAttemptAt > g.clock.now()) return { writes: [], expect };
  const writes = [del('outbox', options.frameKey)];
  if (options.nothingLeft) writes.push(del('outbox', key), del('outbox', dueKey(dueAt(due), biz, id)));
  return { writes, expect };
}
