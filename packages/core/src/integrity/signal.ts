/**
 * What the transport side reads about a business: a level, the reasons, and counts. Every
 * field is a closed literal union or `Unbranded` number/string, so a `PhoneNumber`,
 * `Pseudonym`, `DeviceId` or `MessageContent` cannot be put into one (test/privacy-*).
 */
import type { Unbranded } from '../privacy/branded.js';

export type IntegrityLevel = 'ok' | 'warn' | 'throttle' | 'block';
export type IntegrityRule = 'contact-share' | 'new-recipients' | 'delivery-failures' | 'spam-reports';

export interface IntegrityReason {
  readonly rule: IntegrityRule;
  readonly level: Exclude<IntegrityLevel, 'ok'>;
  /** Human-readable, numbers only, e.g. "messaged 85 % of known contacts within 1 h". */
  readonly message: Unbranded<string>;
  readonly observed: Unbranded<number>;
  readonly threshold: Unbranded<number>;
}

/** Counts only. Approximate where noted (sketch estimates, rounded). */
export interface IntegritySnapshot {
  readonly activityWindowMs: Unbranded<number>;
  readonly qualityWindowMs: Unbranded<number>;
  /** Messages the business sent within the activity window. */
  readonly sent: Unbranded<number>;
  /** Distinct recipients within the activity window (estimate). */
  readonly distinctRecipients: Unbranded<number>;
  /** Distinct recipients who had not written within the reply window (estimate). */
  readonly unsolicitedRecipients: Unbranded<number>;
  /** Unsolicited recipients not messaged within the lookback (estimate, fill-corrected). */
  readonly newRecipients: Unbranded<number>;
  /** Distinct people in either direction within the contacts window, or the gateway's count. */
  readonly knownContacts: Unbranded<number>;
  /** unsolicitedRecipients / knownContacts, 0…1. */
  readonly contactShare: Unbranded<number>;
  readonly delivered: Unbranded<number>;
  readonly failed: Unbranded<number>;
  readonly spamReports: Unbranded<number>;
  readonly failureRate: Unbranded<number>;
  readonly spamRate: Unbranded<number>;
}

export interface IntegritySignal {
  readonly businessId: Unbranded<string>;
  readonly level: IntegrityLevel;
  /** Worst first. Empty when `ok`. */
  readonly reasons: readonly IntegrityReason[];
  /** Set when `level` is `throttle`: the send rate the gateway should hold the business to. */
  readonly throttleRatePerMinute?: Unbranded<number> | undefined;
  readonly snapshot: IntegritySnapshot;
  /** Clock time the signal was computed at. */
  readonly at: Unbranded<number>;
}

/** The transport side's view (the network), separate from the business API and statistics. */
export interface IntegritySignals {
  signal(businessId: string): IntegritySignal;
}
