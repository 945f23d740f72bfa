/**
 * Non-personal statistics and billing counters per business and UTC day.
 *
 * Per person, the ledger keeps only what billing cannot do without, keyed by a keyed 64-bit
 * tag of the pseudonym (never the pseudonym) and only for 24 hours after that person's last
 * message: when they last wrote (the customer-service window) and when their current
 * conversation opened. Breakdowns keep the tags of a category's people only while that
 * category has fewer than k of them and only until its day is over; then just the folded
 * counts remain. Exports carry counts only.
 */

import type { RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { ParleyError } from '../errors.js';
import { HashDomain, SKETCH_KEY_LENGTH, SketchKey } from '../integrity/sketch-key.js';
import { isPseudonym, type Pseudonym } from '../privacy/branded.js';
import type { Clock } from '../storage/contract.js';
import { type Category, isCategory, OTHER_CATEGORY } from './category.js';
import { type Day, day, dayOf, dayStart } from './day.js';
import { type CategoryTally, foldSmallCounts, type PeopleTally } from './small-count.js';
import type {
  BillingExport,
  BillingSnapshot,
  BusinessBilling,
  BusinessStatistics,
  CategoryStatistics,
  StatisticsExport,
  StatisticsSnapshot,
} from './snapshots.js';
import type { LedgerState, PeopleState } from './state.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface StatisticsOptions {
  readonly clock: Clock;
  /** Small-count threshold: a breakdown row describes at least this many people. Default 5. */
  readonly k?: number;
  /** Days of statistics and billing kept for export. Default 62: two full billing months. */
  readonly retainDays?: number;
  /** A conversation is this long per person. Default 24 h. */
  readonly conversationWindowMs?: number;
  /** After a person writes, the business's messages to them are replies for this long. Default 24 h. */
  readonly customerServiceWindowMs?: number;
  /** An unresolved sent message is forgotten after this. Default 30 days (message retention). */
  readonly pendingTtlMs?: number;
  /** Distinct categories per business and day; more are counted under "other". Default 64. */
  readonly maxCategories?: number;
  /** 32-byte key for people tags; default a fresh random key per instance. */
  readonly tagKey?: Uint8Array;
  readonly random?: RandomSource;
}

interface MutableTally {
  messagesIn: number;
  messagesOut: number;
  people: Set<string> | 'at-least-k';
}

class DayCounters {
  messagesIn = 0;
  messagesOut = 0;
  delivered = 0;
  failed = 0;
  expired = 0;
  sessionsEstablished = 0;
  businessInitiatedDelivered = 0;
  openedByBusiness = 0;
  openedByPerson = 0;
  groupMessagesOut = 0;
  groupMessagesIn = 0;
  groupMessagesDelivered = 0;
  /** Live tallies while the day runs; replaced by `breakdown` once it is over. */
  tallies: Map<Category, MutableTally> | undefined = new Map();
  breakdown: CategoryStatistics[] | undefined;
}

interface PersonWindows {
  lastInbound: number | undefined;
  conversationStart: number | undefined;
  touched: number;
}

class BusinessLedger {
  readonly days = new Map<Day, DayCounters>();
  /** Ordered by `touched` (re-inserted on every touch), so expiry pops from the front. */
  readonly people = new Map<string, PersonWindows>();
  /** Sent, not yet delivered/failed/expired: message id → business-initiated, ordered by send time. */
  readonly pending = new Map<string, { readonly initiated: boolean; readonly sentAt: number }>();
}

function invalid(field: string, expected: string): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected ${expected}`, { field });
}

function checkId(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256)
    throw invalid(field, '1 to 256 characters');
}

function checkPerson(value: unknown, field: string): asserts value is Pseudonym {
  if (!isPseudonym(value)) throw invalid(field, 'a pseudonym (not a phone number)');
}

function checkCategory(value: unknown): asserts value is Category | undefined {
  if (value !== undefined && !isCategory(value)) throw invalid('category', 'a Category label');
}

function positiveInteger(value: number | undefined, fallback: number, field: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min)
    throw new ParleyError('ERR_CONFIGURATION', `"${field}" expected an integer ≥ ${min}`, { field });
  return value;
}

export class UsageLedger implements StatisticsExport {
  readonly k: number;
  readonly #clock: Clock;
  readonly #retainDays: number;
  readonly #conversationMs: number;
  readonly #serviceWindowMs: number;
  readonly #pendingTtlMs: number;
  readonly #maxCategories: number;
  #key: SketchKey;
  readonly #businesses = new Map<string, BusinessLedger>();
  /** Businesses whose state changed since `takeChanged()` last listed them. */
  readonly #changed = new Set<string>();

  constructor(options: StatisticsOptions) {
    this.#clock = options.clock;
    // k = 1 would fold nothing; 2 is the least that still hides a single person.
    this.k = positiveInteger(options.k, 5, 'k', 2);
    this.#retainDays = positiveInteger(options.retainDays, 62, 'retainDays');
    this.#conversationMs = positiveInteger(options.conversationWindowMs, DAY, 'conversationWindowMs');
    this.#serviceWindowMs = positiveInteger(options.customerServiceWindowMs, DAY, 'customerServiceWindowMs');
    this.#pendingTtlMs = positiveInteger(options.pendingTtlMs, 30 * DAY, 'pendingTtlMs');
    this.#maxCategories = positiveInteger(options.maxCategories, 64, 'maxCategories');
    this.#key = new SketchKey(options.tagKey ?? (options.random ?? defaultRandom)(SKETCH_KEY_LENGTH));
  }

  /** A person's message reached the business. */
  recordReceived(event: {
    readonly businessId: string;
    readonly sender: Pseudonym;
    readonly category?: Category | undefined;
  }): void {
    checkId(event.businessId, 'businessId');
    checkPerson(event.sender, 'sender');
    checkCategory(event.category);
    const now = this.#clock.now();
    const { ledger, today } = this.#open(event.businessId, now);
    const tag = this.#tag(event.sender);
    today.messagesIn++;
    this.#count(today, event.category, tag, 'messagesIn');
    const person = this.#person(ledger, tag, now);
    person.lastInbound = now;
    if (!this.#conversationOpen(person, now)) {
      person.conversationStart = now;
      today.openedByPerson++;
    }
  }

  /** The business's message was accepted for sending (once per message, not per device). */
  recordSent(event: {
    readonly businessId: string;
    readonly messageId: string;
    readonly recipient: Pseudonym;
    readonly category?: Category | undefined;
  }): void {
    checkId(event.businessId, 'businessId');
    checkId(event.messageId, 'messageId');
    checkPerson(event.recipient, 'recipient');
    checkCategory(event.category);
    const now = this.#clock.now();
    const { ledger, today } = this.#open(event.businessId, now);
    const tag = this.#tag(event.recipient);
    today.messagesOut++;
    this.#count(today, event.category, tag, 'messagesOut');
    const initiated = !this.#inServiceWindow(ledger.people.get(tag), now);
    ledger.pending.set(event.messageId, { initiated, sentAt: now });
  }

  /** The message reached status `delivered`. `recipient` is who it was sent to. */
  recordDelivered(event: {
    readonly businessId: string;
    readonly messageId: string;
    readonly recipient: Pseudonym;
  }): void {
    checkId(event.businessId, 'businessId');
    checkId(event.messageId, 'messageId');
    checkPerson(event.recipient, 'recipient');
    const now = this.#clock.now();
    const { ledger, today } = this.#open(event.businessId, now);
    const tag = this.#tag(event.recipient);
    const pending = ledger.pending.get(event.messageId);
    ledger.pending.delete(event.messageId);
    // Without the send-time record (e.g. after a restart) the delivery time decides.
    const initiated = pending?.initiated ?? !this.#inServiceWindow(ledger.people.get(tag), now);
    today.delivered++;
    if (initiated) today.businessInitiatedDelivered++;
    const person = this.#person(ledger, tag, now);
    if (!this.#conversationOpen(person, now)) {
      person.conversationStart = now;
      today.openedByBusiness++;
    }
  }

  /**
   * A group message the business sent, once per message (whatever the number of members): no
   * recipient, no conversation window, no breakdown row — member lists stay out of statistics.
   */
  recordGroupSent(event: { readonly businessId: string; readonly messageId: string }): void {
    checkId(event.businessId, 'businessId');
    checkId(event.messageId, 'messageId');
    const now = this.#clock.now();
    const { ledger, today } = this.#open(event.businessId, now);
    today.messagesOut++;
    today.groupMessagesOut++;
    // Pending like a 1:1 message, so that a failure or expiry resolves it; never business-initiated.
    ledger.pending.set(event.messageId, { initiated: false, sentAt: now });
  }

  /** A group message reached its first member device (billed once per group message). */
  recordGroupDelivered(event: { readonly businessId: string; readonly messageId: string }): void {
    checkId(event.businessId, 'businessId');
    checkId(event.messageId, 'messageId');
    const { ledger, today } = this.#open(event.businessId, this.#clock.now());
    ledger.pending.delete(event.messageId);
    today.delivered++;
    today.groupMessagesDelivered++;
  }

  /** A member's group message reached the business (no sender kept: it opens no conversation). */
  recordGroupReceived(event: { readonly businessId: string }): void {
    checkId(event.businessId, 'businessId');
    const { today } = this.#open(event.businessId, this.#clock.now());
    today.messagesIn++;
    today.groupMessagesIn++;
  }

  recordFailed(event: { readonly businessId: string; readonly messageId: string }): void {
    this.#resolve(event, 'failed');
  }

  recordExpired(event: { readonly businessId: string; readonly messageId: string }): void {
    this.#resolve(event, 'expired');
  }

  /** A new Signal session with one of the person's devices was established. */
  recordSessionEstablished(event: { readonly businessId: string }): void {
    checkId(event.businessId, 'businessId');
    this.#open(event.businessId, this.#clock.now()).today.sessionsEstablished++;
  }

  /** Erasure: drops the person's billing windows and breakdown tags; counts already made stay. */
  forgetPerson(businessId: string, person: Pseudonym): void {
    checkId(businessId, 'businessId');
    checkPerson(person, 'person');
    const ledger = this.#businesses.get(businessId);
    if (!ledger) return;
    this.#changed.add(businessId);
    const tag = this.#tag(person);
    ledger.people.delete(tag);
    for (const counters of ledger.days.values())
      for (const tally of counters.tallies?.values() ?? [])
        if (tally.people !== 'at-least-k') tally.people.delete(tag);
  }

  snapshot(day: Day): StatisticsSnapshot {
    this.#maintainAll();
    const businesses: BusinessStatistics[] = [];
    for (const [businessId, ledger] of [...this.#businesses].sort(([a], [b]) => a.localeCompare(b))) {
      const c = ledger.days.get(day);
      if (!c) continue;
      businesses.push({
        businessId,
        day,
        messagesIn: c.messagesIn,
        messagesOut: c.messagesOut,
        delivered: c.delivered,
        failed: c.failed,
        expired: c.expired,
        sessionsEstablished: c.sessionsEstablished,
        groupMessagesIn: c.groupMessagesIn,
        groupMessagesOut: c.groupMessagesOut,
        breakdown: c.breakdown ?? foldSmallCounts(this.#tallyList(c), this.k),
      });
    }
    return { day, k: this.k, businesses };
  }

  days(): readonly Day[] {
    this.#maintainAll();
    const all = new Set<Day>();
    for (const ledger of this.#businesses.values()) for (const d of ledger.days.keys()) all.add(d);
    return [...all].sort();
  }

  /** The billing view of the same ledger. */
  readonly billing: BillingExport = {
    snapshot: (day: Day): BillingSnapshot => {
      this.#maintainAll();
      const businesses: BusinessBilling[] = [];
      for (const [businessId, ledger] of [...this.#businesses].sort(([a], [b]) => a.localeCompare(b))) {
        const c = ledger.days.get(day);
        if (!c) continue;
        businesses.push({
          businessId,
          day,
          businessInitiatedDelivered: c.businessInitiatedDelivered,
          conversationsOpened: c.openedByBusiness + c.openedByPerson,
          conversationsOpenedBy: { business: c.openedByBusiness, person: c.openedByPerson },
          groupMessagesDelivered: c.groupMessagesDelivered,
        });
      }
      return { day, businesses };
    },
  };

  /** Per-person entries currently held for a business (for tests and capacity planning). */
  heldPeople(businessId: string): number {
    const ledger = this.#businesses.get(businessId);
    if (!ledger) return 0;
    this.#maintain(ledger, this.#clock.now());
    return ledger.people.size;
  }

  // ── Persistence (see state.ts for the encoding; the gateway seals and stores it) ──

  /** Fingerprint of the people-tag key: stored with the people, so another key's tags are dropped. */
  get tagKeyFingerprint(): Uint8Array {
    return this.#key.fingerprint;
  }

  /**
   * Replaces the people-tag key (the gateway's, kept wrapped in its store, so tags still match
   * after a restart). The tags held under the old key can no longer be matched: they are dropped.
   */
  useTagKey(key: Uint8Array): void {
    const next = new SketchKey(key);
    if (next.fingerprint.every((byte, i) => byte === this.#key.fingerprint[i])) return;
    this.#key = next;
    for (const [businessId, ledger] of this.#businesses) {
      this.#changed.add(businessId);
      ledger.people.clear();
      for (const counters of ledger.days.values())
        for (const tally of counters.tallies?.values() ?? [])
          if (tally.people !== 'at-least-k') tally.people.clear();
    }
  }

  /** Expires what is due, then lists (and clears) the businesses changed since the last call. */
  takeChanged(): string[] {
    this.#maintainAll();
    const changed = [...this.#changed].filter((businessId) => this.#businesses.has(businessId));
    this.#changed.clear();
    return changed;
  }

  /** Marks businesses as changed again (e.g. when writing their state failed). */
  markChanged(businessIds: Iterable<string>): void {
    for (const businessId of businessIds) this.#changed.add(businessId);
  }

  /** Drops everything held for a business (e.g. before starting over from a corrupt record). */
  forgetBusiness(businessId: string): void {
    this.#businesses.delete(businessId);
    this.#changed.delete(businessId);
  }

  /**
   * A business's state, split by lifetime: `days` (counts, kept for `retainDays`) and
   * `people` (tags, each good until `expiresAt`: 24 h after the person's last message, or the
   * end of the day for a breakdown's tags), or undefined when no tag is held.
   */
  exportState(businessId: string): LedgerState {
    const now = this.#clock.now();
    const ledger = this.#businesses.get(businessId);
    if (!ledger) return { days: [], people: undefined };
    this.#maintain(ledger, now);
    const horizon = this.#horizon();
    const days: LedgerState['days'][number][] = [];
    let tallyTags: { day: Day; categories: { category: Category; tags: string[] }[] } | undefined;
    for (const [key, c] of ledger.days) {
      const tallies = c.tallies
        ? [...c.tallies].map(([label, tally]) => ({
            category: label,
            messagesIn: tally.messagesIn,
            messagesOut: tally.messagesOut,
            atLeastK: tally.people === 'at-least-k',
          }))
        : undefined;
      days.push({
        day: key,
        counts: [
          c.messagesIn,
          c.messagesOut,
          c.delivered,
          c.failed,
          c.expired,
          c.sessionsEstablished,
          c.businessInitiatedDelivered,
          c.openedByBusiness,
          c.openedByPerson,
        ],
        ...(c.groupMessagesOut + c.groupMessagesIn + c.groupMessagesDelivered > 0
          ? { groupCounts: [c.groupMessagesOut, c.groupMessagesIn, c.groupMessagesDelivered] as const }
          : {}),
        tallies,
        breakdown: c.breakdown,
      });
      if (!c.tallies) continue;
      const categories: { category: Category; tags: string[] }[] = [];
      for (const [label, tally] of c.tallies)
        if (tally.people !== 'at-least-k' && tally.people.size > 0)
          categories.push({ category: label, tags: [...tally.people] });
      if (categories.length > 0) tallyTags = { day: key, categories };
    }
    const people: PeopleState['people'][number][] = [];
    let expiresAt = 0;
    for (const [tag, person] of ledger.people) {
      people.push({ tag, ...person });
      expiresAt = Math.max(expiresAt, person.touched + horizon);
    }
    // Tags of a running day's breakdown go when the day is over (they were added that day).
    if (tallyTags) expiresAt = Math.max(expiresAt, dayStart(tallyTags.day) + DAY);
    const hasPeople = people.length > 0 || tallyTags !== undefined;
    return {
      days,
      people: hasPeople ? { keyFingerprint: this.#key.fingerprint, expiresAt, people, tallyTags } : undefined,
    };
  }

  /**
   * When a business's counts would all have aged out: the end of its newest day's retention;
   * undefined when no day is left (nothing to keep: the stored record should be deleted).
   */
  daysExpireAt(state: LedgerState): number | undefined {
    if (state.days.length === 0) return undefined;
    let newest = Number.NEGATIVE_INFINITY;
    for (const { day } of state.days) newest = Math.max(newest, dayStart(day));
    return newest + (this.#retainDays + 1) * DAY;
  }

  /**
   * Replaces a business's state with a stored one. People written under another tag key are
   * dropped (returns false then); what is already due expires at once.
   */
  restoreState(businessId: string, state: LedgerState): { readonly peopleKept: boolean } {
    const ledger = new BusinessLedger();
    for (const entry of state.days) {
      const c = new DayCounters();
      [
        c.messagesIn,
        c.messagesOut,
        c.delivered,
        c.failed,
        c.expired,
        c.sessionsEstablished,
        c.businessInitiatedDelivered,
        c.openedByBusiness,
        c.openedByPerson,
      ] = entry.counts;
      [c.groupMessagesOut, c.groupMessagesIn, c.groupMessagesDelivered] = entry.groupCounts ?? [0, 0, 0];
      if (entry.tallies) {
        c.tallies = new Map();
        for (const tally of entry.tallies)
          c.tallies.set(tally.category, {
            messagesIn: tally.messagesIn,
            messagesOut: tally.messagesOut,
            people: tally.atLeastK ? 'at-least-k' : new Set(),
          });
        c.breakdown = undefined;
      } else {
        c.tallies = undefined;
        c.breakdown = entry.breakdown ? [...entry.breakdown] : [];
      }
      ledger.days.set(entry.day, c);
    }
    const stored = state.people;
    const peopleKept =
      stored === undefined || stored.keyFingerprint.every((byte, i) => byte === this.#key.fingerprint[i]);
    if (stored && peopleKept) {
      for (const { tag, lastInbound, conversationStart, touched } of [...stored.people].sort(
        (a, b) => a.touched - b.touched,
      ))
        ledger.people.set(tag, { lastInbound, conversationStart, touched });
      const tallies = stored.tallyTags ? ledger.days.get(stored.tallyTags.day)?.tallies : undefined;
      for (const { category: label, tags } of stored.tallyTags?.categories ?? []) {
        const tally = tallies?.get(label);
        if (tally && tally.people !== 'at-least-k') for (const tag of tags) tally.people.add(tag);
      }
    }
    this.#businesses.set(businessId, ledger);
    this.#changed.delete(businessId);
    // Whatever expired while the state lay in the store is rewritten without it.
    if (this.#maintain(ledger, this.#clock.now()) || !peopleKept) this.#changed.add(businessId);
    return { peopleKept };
  }

  #resolve(
    event: { readonly businessId: string; readonly messageId: string },
    status: 'failed' | 'expired',
  ): void {
    checkId(event.businessId, 'businessId');
    checkId(event.messageId, 'messageId');
    const { ledger, today } = this.#open(event.businessId, this.#clock.now());
    ledger.pending.delete(event.messageId);
    today[status]++;
  }

  #tag(person: Pseudonym): string {
    const hash = this.#key.hash(HashDomain.person, person);
    return hash.high.toString(16).padStart(8, '0') + hash.low.toString(16).padStart(8, '0');
  }

  #open(businessId: string, now: number): { ledger: BusinessLedger; today: DayCounters } {
    let ledger = this.#businesses.get(businessId);
    if (!ledger) {
      ledger = new BusinessLedger();
      this.#businesses.set(businessId, ledger);
    }
    this.#changed.add(businessId);
    this.#maintain(ledger, now);
    const key = dayOf(now);
    let today = ledger.days.get(key);
    if (!today) {
      today = new DayCounters();
      ledger.days.set(key, today);
    }
    return { ledger, today };
  }

  #person(ledger: BusinessLedger, tag: string, now: number): PersonWindows {
    const person = ledger.people.get(tag) ?? {
      lastInbound: undefined,
      conversationStart: undefined,
      touched: now,
    };
    person.touched = now;
    ledger.people.delete(tag);
    ledger.people.set(tag, person);
    return person;
  }

  #inServiceWindow(person: PersonWindows | undefined, now: number): boolean {
    return person?.lastInbound !== undefined && now - person.lastInbound < this.#serviceWindowMs;
  }

  #conversationOpen(person: PersonWindows, now: number): boolean {
    return person.conversationStart !== undefined && now - person.conversationStart < this.#conversationMs;
  }

  /**
   * Counts one message in its category's tally. A day already closed — an event counted late,
   * e.g. folded from another gateway instance's journal after this ledger closed the day — keeps
   * no people any more: the message goes to its "other" row, counts only, if it has one.
   */
  #count(
    counters: DayCounters,
    label: Category | undefined,
    tag: string,
    direction: 'messagesIn' | 'messagesOut',
  ): void {
    const tallies = counters.tallies;
    if (!tallies) {
      // Only into an "other" row that exists (it already describes k people or more): a new row
      // would describe fewer. Otherwise the day's totals count it and the breakdown does not.
      const breakdown = counters.breakdown ?? [];
      const index = breakdown.findIndex((row) => row.category === OTHER_CATEGORY);
      if (index >= 0) {
        const row = breakdown[index]!;
        breakdown[index] = { ...row, [direction]: row[direction] + 1 };
      }
      return;
    }
    let key = label ?? OTHER_CATEGORY;
    if (!tallies.has(key) && tallies.size >= this.#maxCategories) key = OTHER_CATEGORY;
    let tally = tallies.get(key);
    if (!tally) {
      tally = { messagesIn: 0, messagesOut: 0, people: new Set() };
      tallies.set(key, tally);
    }
    if (tally.people !== 'at-least-k') {
      tally.people.add(tag);
      // Past k the rule no longer needs to know who: drop the tags.
      if (tally.people.size >= this.k) tally.people = 'at-least-k';
    }
    tally[direction]++;
  }

  #tallyList(counters: DayCounters): CategoryTally[] {
    return [...(counters.tallies ?? [])].map(([label, tally]) => ({
      category: label,
      messagesIn: tally.messagesIn,
      messagesOut: tally.messagesOut,
      people: tally.people as PeopleTally,
    }));
  }

  #maintainAll(): void {
    const now = this.#clock.now();
    for (const [businessId, ledger] of this.#businesses)
      if (this.#maintain(ledger, now)) this.#changed.add(businessId);
  }

  /** Expires per-person windows and pending sends, closes finished days, drops old days. */
  #maintain(ledger: BusinessLedger, now: number): boolean {
    let changed = false;
    const horizon = this.#horizon();
    for (const [tag, person] of ledger.people) {
      if (now - person.touched < horizon) break;
      ledger.people.delete(tag);
      changed = true;
    }
    for (const [messageId, pending] of ledger.pending) {
      if (now - pending.sentAt < this.#pendingTtlMs) break;
      ledger.pending.delete(messageId);
    }
    const today = dayOf(now);
    const oldest = dayStart(today) - this.#retainDays * DAY;
    for (const [key, counters] of ledger.days) {
      if (dayStart(key) <= oldest) {
        ledger.days.delete(key);
        changed = true;
      } else if (key < today && counters.tallies) {
        counters.breakdown = foldSmallCounts(this.#tallyList(counters), this.k);
        counters.tallies = undefined;
        changed = true;
      }
    }
    return changed;
  }

  #horizon(): number {
    return Math.max(this.#conversationMs, this.#serviceWindowMs);
  }
}

/**
 * The recorder for the gateway, and the two export views for the rest of the platform.
 * Hand out `statistics` and `billing` only; they have no way to record or to reach people.
 */
export function createStatistics(options: StatisticsOptions): {
  readonly recorder: UsageLedger;
  readonly statistics: StatisticsExport;
  readonly billing: BillingExport;
} {
  const recorder = new UsageLedger(options);
  return {
    recorder,
    // The platform's reading side: a day that is not a UTC date is refused, not read as empty.
    statistics: { snapshot: (d: Day) => recorder.snapshot(day(d)), days: () => recorder.days() },
    billing: { snapshot: (d: Day) => recorder.billing.snapshot(day(d)) },
  };
}
