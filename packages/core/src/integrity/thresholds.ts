/**
 * Integrity thresholds and windows: configuration with defaults. Each default says why that
 * number; a partner gateway tunes them per deployment (`resolveIntegrityConfig` merges).
 */
import { ParleyError } from '../errors.js';
import type { WindowOptions } from './bucket-ring.js';

/** A metric's level boundaries; a level left undefined never fires for that metric. */
export interface LevelThresholds {
  readonly warn?: number | undefined;
  readonly throttle?: number | undefined;
  readonly block?: number | undefined;
}

export interface IntegrityThresholds {
  /** Share (0…1) of known contacts sent unsolicited messages within the activity window. */
  readonly contactShare: LevelThresholds & { readonly minKnownContacts: number };
  /** Unsolicited recipients not messaged within the lookback, per activity window. */
  readonly newRecipients: LevelThresholds;
  /** failed / (delivered + failed) within the quality window. */
  readonly failureRate: LevelThresholds & { readonly minAttempts: number };
  /** Spam reports / deliveries within the quality window. */
  readonly spamRate: LevelThresholds & { readonly minReports: number };
  /** What `throttle` asks the gateway to slow a business's sends to. */
  readonly throttleRatePerMinute: number;
}

export interface SketchOptions {
  readonly lookbackMs: number;
  readonly generations: number;
  readonly bits: number;
}

export interface IntegrityConfig {
  /** Sends, distinct, new and unsolicited recipients (the fan-out rules). */
  readonly activityWindow: WindowOptions;
  /** Deliveries, failures and spam reports (the quality rules). */
  readonly qualityWindow: WindowOptions;
  /** "New recipient" = not messaged by this business within this lookback. */
  readonly recipientLookback: SketchOptions;
  /** A send to someone who wrote within this window is a reply, not unsolicited. */
  readonly replyWindow: SketchOptions;
  /** "Known contacts" = distinct people in either direction within this window. */
  readonly contactsWindow: WindowOptions;
  /** A message id reported once is remembered this long (≥ message retention). */
  readonly reportDedup: SketchOptions;
  /** HyperLogLog precision p (2^p one-byte registers per bucket). */
  readonly hllPrecision: number;
  readonly thresholds: IntegrityThresholds;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const DEFAULT_INTEGRITY_CONFIG: IntegrityConfig = {
  // One hour is the unit the abuse patterns are described in ("all contacts at once"); twelve
  // five-minute buckets let it slide smoothly and recover within five minutes of the hour.
  activityWindow: { durationMs: HOUR, buckets: 12 },
  // Spam reports trail deliveries by hours (people read later); a day relates them to the
  // deliveries that caused them. Hourly buckets.
  qualityWindow: { durationMs: DAY, buckets: 24 },
  // A week covers a weekly conversational rhythm (a salon, a weekly delivery) without
  // counting regulars as new. 2^14 bits = 2 KiB per slice, 5 slices: under 1 % false "seen"
  // up to ~165 distinct recipients in the lookback; beyond that the fill correction keeps the
  // count unbiased (it gives up only past ~95 % fill, ~50 000 recipients).
  recipientLookback: { lookbackMs: 7 * DAY, generations: 4, bits: 1 << 14 },
  // The customer-service window of business messaging: 24 h after a person writes, replies
  // are conversation, not outreach.
  replyWindow: { lookbackMs: DAY, generations: 4, bits: 1 << 13 },
  // Thirty days matches message retention: the people a business currently talks with.
  contactsWindow: { durationMs: 30 * DAY, buckets: 6 },
  // Messages are kept at most 30 days, so a report can name a message at most that old.
  // Two positions: ~0.5 % false duplicates at 300 reports a month (reports are rare).
  reportDedup: { lookbackMs: 30 * DAY, generations: 3, bits: 1 << 13 },
  // 256 registers: ±6.5 % above ~640 recipients, near exact below (linear counting).
  hllPrecision: 8,
  thresholds: {
    // Conversational businesses reach a few percent of their contacts in an hour; a quarter is
    // a campaign, half is a blast, 80 % is "everyone at once" (the pattern MISSION names).
    // Below 50 contacts a handful of replies-to-follow-ups would already be a large share.
    contactShare: { warn: 0.25, throttle: 0.5, block: 0.8, minKnownContacts: 50 },
    // Business-messaging tiers start new senders at 250 business-initiated conversations a
    // day; 250 in one hour is worth a look, 1 000 is fan-out. Block at 5 000: more than
    // a throttled sender can reach in an hour (20/min × 60 = 1 200), so it fires only when
    // sends bypass the throttle.
    newRecipients: { warn: 250, throttle: 1_000, block: 5_000 },
    // Failures are often the network's doing, so they never block; a third failing means
    // numbers that do not exist (a bought list). 50 attempts before a rate means anything.
    failureRate: { warn: 0.1, throttle: 0.3, minAttempts: 50 },
    // Bulk-sender guidance for e-mail asks for < 0.3 % complaints; people report chat spam
    // more readily, so warn at 0.5 %, throttle at 1 %, block at 2 %. Five reports minimum
    // (the same k as the statistics' small-count rule) so a few people cannot block a business.
    spamRate: { warn: 0.005, throttle: 0.01, block: 0.02, minReports: 5 },
    // One message every three seconds: a live support desk never notices, while a blast of
    // 10 000 takes over 8 hours, long enough for the quality window to see the reports.
    throttleRatePerMinute: 20,
  },
};

export interface IntegrityConfigInput {
  readonly activityWindow?: WindowOptions;
  readonly qualityWindow?: WindowOptions;
  readonly recipientLookback?: SketchOptions;
  readonly replyWindow?: SketchOptions;
  readonly contactsWindow?: WindowOptions;
  readonly reportDedup?: SketchOptions;
  readonly hllPrecision?: number;
  readonly thresholds?: {
    readonly contactShare?: Partial<IntegrityThresholds['contactShare']>;
    readonly newRecipients?: Partial<IntegrityThresholds['newRecipients']>;
    readonly failureRate?: Partial<IntegrityThresholds['failureRate']>;
    readonly spamRate?: Partial<IntegrityThresholds['spamRate']>;
    readonly throttleRatePerMinute?: number;
  };
}

function refuse(field: string, expected: string): never {
  throw new ParleyError('ERR_CONFIGURATION', `"${field}" expected ${expected}`, { field });
}

function checkWindow(window: WindowOptions, field: string): void {
  if (!Number.isSafeInteger(window.durationMs) || window.durationMs < 1)
    refuse(`${field}.durationMs`, 'a positive integer');
  // 1 440 buckets = one-minute buckets over a day: past that, counters cost more than they say.
  if (!Number.isInteger(window.buckets) || window.buckets < 1 || window.buckets > 1_440)
    refuse(`${field}.buckets`, 'an integer from 1 to 1440');
}

function checkSketch(sketch: SketchOptions, field: string): void {
  if (!Number.isSafeInteger(sketch.lookbackMs) || sketch.lookbackMs < 1)
    refuse(`${field}.lookbackMs`, 'a positive integer');
  if (!Number.isInteger(sketch.generations) || sketch.generations < 1 || sketch.generations > 64)
    refuse(`${field}.generations`, 'an integer from 1 to 64');
  // 2^24 bits = 2 MiB per slice: the ceiling that keeps "bounded" meaningful per business.
  if (
    !Number.isInteger(sketch.bits) ||
    sketch.bits < 32 ||
    sketch.bits > 1 << 24 ||
    (sketch.bits & (sketch.bits - 1)) !== 0
  )
    refuse(`${field}.bits`, 'a power of two from 32 to 2^24');
}

function checkLevels(levels: LevelThresholds, field: string, max: number): void {
  let previous = 0;
  for (const level of ['warn', 'throttle', 'block'] as const) {
    const value = levels[level];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value > 0) || value > max)
      refuse(`${field}.${level}`, `a number in (0, ${max}]`);
    if (value < previous) refuse(`${field}.${level}`, 'a value not below the lower levels');
    previous = value;
  }
}

function checkCount(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) refuse(field, 'a non-negative integer');
}

export function resolveIntegrityConfig(input: IntegrityConfigInput = {}): IntegrityConfig {
  const d = DEFAULT_INTEGRITY_CONFIG;
  const t = input.thresholds ?? {};
  const config: IntegrityConfig = {
    activityWindow: input.activityWindow ?? d.activityWindow,
    qualityWindow: input.qualityWindow ?? d.qualityWindow,
    recipientLookback: input.recipientLookback ?? d.recipientLookback,
    replyWindow: input.replyWindow ?? d.replyWindow,
    contactsWindow: input.contactsWindow ?? d.contactsWindow,
    reportDedup: input.reportDedup ?? d.reportDedup,
    hllPrecision: input.hllPrecision ?? d.hllPrecision,
    thresholds: {
      contactShare: { ...d.thresholds.contactShare, ...t.contactShare },
      newRecipients: { ...d.thresholds.newRecipients, ...t.newRecipients },
      failureRate: { ...d.thresholds.failureRate, ...t.failureRate },
      spamRate: { ...d.thresholds.spamRate, ...t.spamRate },
      throttleRatePerMinute: t.throttleRatePerMinute ?? d.thresholds.throttleRatePerMinute,
    },
  };
  checkWindow(config.activityWindow, 'activityWindow');
  checkWindow(config.qualityWindow, 'qualityWindow');
  checkWindow(config.contactsWindow, 'contactsWindow');
  checkSketch(config.recipientLookback, 'recipientLookback');
  checkSketch(config.replyWindow, 'replyWindow');
  checkSketch(config.reportDedup, 'reportDedup');
  if (!Number.isInteger(config.hllPrecision) || config.hllPrecision < 4 || config.hllPrecision > 14)
    refuse('hllPrecision', 'an integer from 4 to 14');
  const th = config.thresholds;
  checkLevels(th.contactShare, 'thresholds.contactShare', 1);
  checkLevels(th.newRecipients, 'thresholds.newRecipients', Number.MAX_SAFE_INTEGER);
  checkLevels(th.failureRate, 'thresholds.failureRate', 1);
  checkLevels(th.spamRate, 'thresholds.spamRate', 1);
  checkCount(th.contactShare.minKnownContacts, 'thresholds.contactShare.minKnownContacts');
  checkCount(th.failureRate.minAttempts, 'thresholds.failureRate.minAttempts');
  checkCount(th.spamRate.minReports, 'thresholds.spamRate.minReports');
  if (typeof th.throttleRatePerMinute !== 'number' || !(th.throttleRatePerMinute > 0))
    refuse('thresholds.throttleRatePerMinute', 'a positive number');
  return config;
}
