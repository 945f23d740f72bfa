import { ByteReader, ByteWriter } from '../../binary.js';
import { utf8 } from '../../bytes.js';
import type { WriteOperation } from '../../storage/contract.js';
import type { BusinessContext } from '../context.js';
import { DAY_MS } from '../options.js';
import { tallyJournalKey } from './layout.js';
import { sealedPut } from './message-store.js';

/**
 * The tally journal: one small record per counted event (a message sent or received, a
 * delivery, a failure, an expiry, a new session, a spam report, an erasure…), written in the
 * SAME commit as the change it counts. Integrity counters, statistics and billing are the fold
 * of this journal into each business's shared state records (`gateway/tally.ts`): whichever
 * instance did the work, and even if it died right after its commit, the event is counted —
 * exactly once, because a fold deletes the events it folded in the commit that writes the
 * folded state (compare-and-swap on the state records).
 *
 * An event names a person only by pseudonym, and the record is sealed; events live until the
 * next fold (a tick, or sooner when many pile up), at most `JOURNAL_TTL_MS`.
 */

export type TallyEvent =
  | { readonly kind: 'sent'; readonly at: number; readonly person: string; readonly messageId: string }
  | { readonly kind: 'received'; readonly at: number; readonly person: string }
  | { readonly kind: 'delivered'; readonly at: number; readonly person: string; readonly messageId: string }
  | { readonly kind: 'failed'; readonly at: number; readonly messageId: string; readonly integrity: boolean }
  | { readonly kind: 'expired'; readonly at: number; readonly messageId: string }
  | { readonly kind: 'session'; readonly at: number }
  | { readonly kind: 'spam'; readonly at: number; readonly messageId: string }
  | { readonly kind: 'contacts'; readonly at: number; readonly count: number }
  | { readonly kind: 'forget'; readonly at: number; readonly person: string }
  /**
   * A group message: one per message (statistics, billing), every member a recipient of it
   * (integrity). `people` are pseudonyms, as `person` elsewhere.
   */
  | {
      readonly kind: 'group-sent';
      readonly at: number;
      readonly messageId: string;
      readonly people: readonly string[];
    }
  | { readonly kind: 'group-delivered'; readonly at: number; readonly messageId: string }
  | { readonly kind: 'group-received'; readonly at: number };

const KINDS = [
  'sent',
  'received',
  'delivered',
  'failed',
  'expired',
  'session',
  'spam',
  'contacts',
  'forget',
  // Appended only: records store a kind's index in this list.
  'group-sent',
  'group-delivered',
  'group-received',
] as const;
const JOURNAL_FORMAT = 1;

/** An unfolded event is kept at most this long (folds run every tick; this bounds a stalled store). */
export const JOURNAL_TTL_MS = 30 * DAY_MS;

export function encodeTallyEvent(event: TallyEvent): Uint8Array {
  // A group's recipients ride in the person field (pseudonyms are hex: a comma never occurs).
  const person = 'person' in event ? event.person : 'people' in event ? event.people.join(',') : '';
  const messageId = 'messageId' in event ? event.messageId : '';
  const number = event.kind === 'contacts' ? event.count : event.kind === 'failed' && event.integrity ? 1 : 0;
  return new ByteWriter(96)
    .u8(JOURNAL_FORMAT)
    .u8(KINDS.indexOf(event.kind))
    .u64(event.at)
    .bytes(utf8(person))
    .bytes(utf8(messageId))
    .u32(number)
    .finish();
}

export function decodeTallyEvent(bytes: Uint8Array): TallyEvent {
  const r = new ByteReader(bytes, 'tally event');
  if (r.u8() !== JOURNAL_FORMAT) r.fail('unknown format');
  const kind = KINDS[r.u8()] ?? r.fail('unknown event kind');
  const at = r.u64();
  const person = r.text();
  const messageId = r.text();
  const number = r.u32();
  r.end();
  switch (kind) {
    case 'sent':
    case 'delivered':
      return { kind, at, person, messageId };
    case 'received':
    case 'forget':
      return { kind, at, person };
    case 'failed':
      return { kind, at, messageId, integrity: number === 1 };
    case 'expired':
    case 'spam':
      return { kind, at, messageId };
    case 'session':
      return { kind, at };
    case 'contacts':
      return { kind, at, count: number };
    case 'group-sent':
      return { kind, at, messageId, people: person === '' ? [] : person.split(',') };
    case 'group-delivered':
      return { kind, at, messageId };
    case 'group-received':
      return { kind, at };
  }
}

/** The journal write for one event; `seq` orders the events an instance writes in one millisecond. */
export function tallyWrite(
  ctx: BusinessContext,
  instanceId: string,
  seq: number,
  event: TallyEvent,
): { readonly key: string; readonly write: WriteOperation } {
  const key = tallyJournalKey(ctx.id, event.at, instanceId, seq);
  return { key, write: sealedPut(ctx, 'counters', key, encodeTallyEvent(event), event.at + JOURNAL_TTL_MS) };
}
