/**
 * What "the rest of the platform" receives: counts per business and day. Every field is a
 * closed literal union, a `Day`, a `Category` or an `Unbranded` number/string, so none of
 * `PhoneNumber`, `Pseudonym`, `DeviceId` or `MessageContent` can be assigned into a snapshot
 * (proved by `@ts-expect-error` in test/privacy-snapshot-types.test.ts).
 */
import type { Unbranded } from '../privacy/branded.js';
import type { Category } from './category.js';
import type { Day } from './day.js';

export interface CategoryStatistics {
  readonly category: Category;
  readonly messagesIn: Unbranded<number>;
  readonly messagesOut: Unbranded<number>;
}

export interface BusinessStatistics {
  readonly businessId: Unbranded<string>;
  readonly day: Day;
  /** Messages people sent to the business. */
  readonly messagesIn: Unbranded<number>;
  /** Messages the business sent (accepted for sending). */
  readonly messagesOut: Unbranded<number>;
  readonly delivered: Unbranded<number>;
  readonly failed: Unbranded<number>;
  readonly expired: Unbranded<number>;
  readonly sessionsEstablished: Unbranded<number>;
  /**
   * Group messages, counted once per message whatever the number of members (they are in
   * `messagesIn` / `messagesOut` too; the breakdown covers 1:1 messages). No member is kept.
   */
  readonly groupMessagesIn: Unbranded<number>;
  readonly groupMessagesOut: Unbranded<number>;
  /**
   * By category, each describing at least k people; the rest is folded into "other" (and
   * if "other" alone would describe fewer than k, the smallest category joins it).
   */
  readonly breakdown: readonly CategoryStatistics[];
}

export interface StatisticsSnapshot {
  readonly day: Day;
  /** The small-count threshold the breakdowns honour. */
  readonly k: Unbranded<number>;
  readonly businesses: readonly BusinessStatistics[];
}

export type ConversationOpener = 'business' | 'person';

export interface BusinessBilling {
  readonly businessId: Unbranded<string>;
  readonly day: Day;
  /** Delivered messages sent while the person had not written within the last 24 h. */
  readonly businessInitiatedDelivered: Unbranded<number>;
  /** 24-hour conversation windows opened this day (per person, counted, never listed). */
  readonly conversationsOpened: Unbranded<number>;
  readonly conversationsOpenedBy: { readonly [opener in ConversationOpener]: Unbranded<number> };
  /** Group messages the business sent that reached at least one member device: billed per message. */
  readonly groupMessagesDelivered: Unbranded<number>;
}

export interface BillingSnapshot {
  readonly day: Day;
  readonly businesses: readonly BusinessBilling[];
}

/** The non-personal statistics interface: the only one "the rest of the platform" gets. */
export interface StatisticsExport {
  snapshot(day: Day): StatisticsSnapshot;
  /** Days with statistics still retained, oldest first. */
  days(): readonly Day[];
}

/** Billing counters per business and day. */
export interface BillingExport {
  snapshot(day: Day): BillingSnapshot;
}
