/**
 * Per-business integrity counters and the signals derived from them.
 *
 * State per business is a fixed set of typed arrays (see `stateBytes`), whatever the traffic:
 * bucket rings for counts and HyperLogLog distinct counts, generational bitmaps for "seen
 * within". Pseudonyms and message ids only ever enter as keyed hashes under a per-instance
 * key, folded into shared bits and registers that expire with their window — there is no
 * per-person entry for an erasure to find, and nothing outlives the longest window.
 */

import type { RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { ParleyError } from '../errors.js';
import { isPseudonym, type Pseudonym } from '../privacy/branded.js';
import type { Clock } from '../storage/contract.js';
import { BucketRing } from './bucket-ring.js';
import { GenerationalBitmap } from './generational-bitmap.js';
import { evaluateRules } from './rules.js';
import type {
  IntegrityLevel,
  IntegrityReason,
  IntegritySignal,
  IntegritySignals,
  IntegritySnapshot,
} from './signal.js';
import { HashDomain, SKETCH_KEY_LENGTH, SketchKey } from './sketch-key.js';
import { type IntegrityConfig, type IntegrityConfigInput, resolveIntegrityConfig } from './thresholds.js';

// Counter and sketch slots of the rings.
const SENT = 0;
const NEW_RECIPIENTS = 1;
const ALL_RECIPIENTS = 0;
const UNSOLICITED_RECIPIENTS = 1;
const DELIVERED = 0;
const FAILED = 1;
const SPAM_REPORTS = 2;
/** Past 99 % fill a "new" hit is too rare to scale up honestly; the count then under-reads. */
const MAX_CORRECTED_FILL = 0.99;
const MAX_BUSINESS_ID_LENGTH = 256;
const MAX_MESSAGE_ID_LENGTH = 256;

/**
 * Asks the gateway whether a message was delivered to the reporting person. The gateway's
 * message records are the ground truth and already expire with retention, so integrity keeps
 * no (message, person) pairs of its own.
 */
export type DeliveryVerifier = (query: {
  readonly businessId: string;
  readonly messageId: string;
  readonly reporter: Pseudonym;
}) => boolean | Promise<boolean>;

export interface IntegrityMonitorOptions {
  readonly clock: Clock;
  readonly wasDeliveredTo: DeliveryVerifier;
  readonly config?: IntegrityConfigInput;
  /**
   * 32-byte key for the keyed hashes. Give one (wrapped by the key provider, like the
   * pseudonym key) to restore sketches across restarts; by default a fresh random key per
   * instance, and a restore then keeps counts but drops the key-dependent sketches.
   */
  readonly sketchKey?: Uint8Array;
  readonly random?: RandomSource;
}

export type SpamReportOutcome = 'counted' | 'not-delivered' | 'duplicate';

/** What `checkSend` allows. `block` is never returned: it throws `ERR_INTEGRITY_BLOCKED`. */
export interface SendPermit {
  readonly level: Exclude<IntegrityLevel, 'block'>;
  readonly reasons: readonly IntegrityReason[];
  /** Set for `throttle`: hold this business to this many sends per minute … */
  readonly throttleRatePerMinute?: number | undefined;
  /** … that is, at least this long between two of its sends. */
  readonly minIntervalMs?: number | undefined;
}

/** One business's counters. Exported for the codec; not part of the package surface. */
export class BusinessCounters {
  readonly activity: BucketRing;
  readonly quality: BucketRing;
  readonly contacts: BucketRing;
  /** Recipients this business messaged within the lookback ("new" = not in here). */
  readonly messaged: GenerationalBitmap;
  /** People who wrote to this business within the reply window. */
  readonly wroteIn: GenerationalBitmap;
  /** Message ids already reported. */
  readonly reported: GenerationalBitmap;
  knownContactsOverride: number | undefined;

  constructor(config: IntegrityConfig) {
    this.activity = new BucketRing(config.activityWindow, 2, 2, config.hllPrecision);
    this.quality = new BucketRing(config.qualityWindow, 3);
    this.contacts = new BucketRing(config.contactsWindow, 0, 1, config.hllPrecision);
    this.messaged = new GenerationalBitmap({ ...config.recipientLookback, positions: 1 });
    this.wroteIn = new GenerationalBitmap({ ...config.replyWindow, positions: 1 });
    this.reported = new GenerationalBitmap({ ...config.reportDedup, positions: 2 });
  }

  advance(now: number): void {
    this.activity.advance(now);
    this.quality.advance(now);
    this.contacts.advance(now);
    this.messaged.advance(now);
    this.wroteIn.advance(now);
    this.reported.advance(now);
  }

  /** Bytes of state: the typed arrays, which are all there is besides a few numbers. */
  stateBytes(): number {
    let bytes = 0;
    for (const ring of [this.activity, this.quality, this.contacts])
      bytes += ring.counters.byteLength + ring.registers.byteLength;
    for (const bitmap of [this.messaged, this.wroteIn, this.reported]) bytes += bitmap.words.byteLength;
    return bytes;
  }
}

function checkBusinessId(businessId: unknown): asserts businessId is string {
  if (typeof businessId !== 'string' || businessId.length === 0 || businessId.length > MAX_BUSINESS_ID_LENGTH)
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"businessId" expected 1 to ${MAX_BUSINESS_ID_LENGTH} characters`,
      {
        field: 'businessId',
      },
    );
}

function checkPseudonym(value: unknown, field: string): asserts value is Pseudonym {
  if (!isPseudonym(value))
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected a pseudonym (not a phone number)`, {
      field,
    });
}

export class IntegrityMonitor implements IntegritySignals {
  readonly config: IntegrityConfig;
  readonly #clock: Clock;
  readonly #verify: DeliveryVerifier;
  readonly #key: SketchKey;
  readonly #businesses = new Map<string, BusinessCounters>();

  constructor(options: IntegrityMonitorOptions) {
    this.config = resolveIntegrityConfig(options.config);
    this.#clock = options.clock;
    if (typeof options.wasDeliveredTo !== 'function')
      throw new ParleyError('ERR_CONFIGURATION', '"wasDeliveredTo" expected a function', {
        field: 'wasDeliveredTo',
      });
    this.#verify = options.wasDeliveredTo;
    this.#key = new SketchKey(options.sketchKey ?? (options.random ?? defaultRandom)(SKETCH_KEY_LENGTH));
  }

  /** The business sent a message to `recipient` (call once per message, not per device). */
  recordSent(event: { readonly businessId: string; readonly recipient: Pseudonym }): void {
    checkBusinessId(event.businessId);
    checkPseudonym(event.recipient, 'recipient');
    const counters = this.#counters(event.businessId);
    const hash = this.#key.hash(HashDomain.person, event.recipient);
    counters.activity.add(SENT);
    counters.activity.addToSketch(ALL_RECIPIENTS, hash);
    counters.contacts.addToSketch(0, hash);
    const fill = counters.messaged.fill();
    const firstInLookback = counters.messaged.add(hash);
    if (counters.wroteIn.has(hash)) return;
    counters.activity.addToSketch(UNSOLICITED_RECIPIENTS, hash);
    // A truly new recipient reads as "seen" with probability `fill`; scaling each observed one
    // by 1 / (1 − fill) keeps the count unbiased as the bitmap fills.
    if (firstInLookback) counters.activity.add(NEW_RECIPIENTS, 1 / (1 - Math.min(fill, MAX_CORRECTED_FILL)));
  }

  /** A person wrote to the business (opens the reply window; counts toward known contacts). */
  recordReceived(event: { readonly businessId: string; readonly sender: Pseudonym }): void {
    checkBusinessId(event.businessId);
    checkPseudonym(event.sender, 'sender');
    const counters = this.#counters(event.businessId);
    const hash = this.#key.hash(HashDomain.person, event.sender);
    counters.wroteIn.add(hash);
    counters.contacts.addToSketch(0, hash);
  }

  /** An outbound message reached status `delivered`. */
  recordDelivered(event: { readonly businessId: string }): void {
    checkBusinessId(event.businessId);
    this.#counters(event.businessId).quality.add(DELIVERED);
  }

  /** An outbound message reached status `failed` (not `expired`: that is the person being offline). */
  recordFailed(event: { readonly businessId: string }): void {
    checkBusinessId(event.businessId);
    this.#counters(event.businessId).quality.add(FAILED);
  }

  /**
   * A person reported a message as spam (through the transport). Counts only if the gateway
   * confirms the message was delivered to that person, and only the first report of a message.
   * The reporter's pseudonym is passed to the verifier and not kept.
   */
  async recordSpamReport(report: {
    readonly businessId: string;
    readonly messageId: string;
    readonly reporterPseudonym: Pseudonym;
  }): Promise<SpamReportOutcome> {
    checkBusinessId(report.businessId);
    checkPseudonym(report.reporterPseudonym, 'reporterPseudonym');
    if (
      typeof report.messageId !== 'string' ||
      report.messageId.length === 0 ||
      report.messageId.length > MAX_MESSAGE_ID_LENGTH
    )
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        `"messageId" expected 1 to ${MAX_MESSAGE_ID_LENGTH} characters`,
        {
          field: 'messageId',
        },
      );
    if (this.wasReported(report.businessId, report.messageId)) return 'duplicate';
    const delivered = await this.#verify({
      businessId: report.businessId,
      messageId: report.messageId,
      reporter: report.reporterPseudonym,
    });
    if (delivered !== true) return 'not-delivered';
    // Re-checked after the await: two reports of one message racing through the verifier.
    return this.countSpamReport(report.businessId, report.messageId) ? 'counted' : 'duplicate';
  }

  /** Whether a report of this message was already counted (within the report dedup window). */
  wasReported(businessId: string, messageId: string): boolean {
    checkBusinessId(businessId);
    return this.#counters(businessId).reported.has(this.#key.hash(HashDomain.message, messageId));
  }

  /**
   * Counts a verified spam report (the caller checked the delivery); false when this message
   * was already reported. For a gateway that verifies and de-duplicates reports itself.
   */
  countSpamReport(businessId: string, messageId: string): boolean {
    checkBusinessId(businessId);
    const counters = this.#counters(businessId);
    const hash = this.#key.hash(HashDomain.message, messageId);
    if (counters.reported.has(hash)) return false;
    counters.reported.add(hash);
    counters.quality.add(SPAM_REPORTS);
    return true;
  }

  /**
   * The gateway's own count of the business's contacts (e.g. people with a session), if it
   * has one; `undefined` goes back to the estimate from traffic. The larger of the two is used.
   */
  setKnownContacts(businessId: string, count: number | undefined): void {
    checkBusinessId(businessId);
    if (count !== undefined && (!Number.isSafeInteger(count) || count < 0))
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"count" expected a non-negative integer', {
        field: 'count',
      });
    this.#counters(businessId).knownContactsOverride = count;
  }

  /**
   * Call before handing a business's message to the transport. Returns the level (and for
   * `throttle` the rate to pace this business to); throws `ERR_INTEGRITY_BLOCKED` on `block`.
   */
  checkSend(businessId: string): SendPermit {
    const signal = this.signal(businessId);
    if (signal.level === 'block') {
      const first = signal.reasons[0]!;
      throw new ParleyError('ERR_INTEGRITY_BLOCKED', `sends refused by integrity rules: ${first.message}`, {
        businessId,
        rule: first.rule,
      });
    }
    if (signal.level !== 'throttle') return { level: signal.level, reasons: signal.reasons };
    const rate = this.config.thresholds.throttleRatePerMinute;
    return {
      level: 'throttle',
      reasons: signal.reasons,
      throttleRatePerMinute: rate,
      minIntervalMs: 60_000 / rate,
    };
  }

  signal(businessId: string): IntegritySignal {
    checkBusinessId(businessId);
    const now = this.#clock.now();
    const counters = this.#businesses.get(businessId);
    counters?.advance(now);
    const snapshot = counters ? this.#snapshot(counters) : emptyIntegritySnapshot(this.config);
    const { level, reasons } = evaluateRules(snapshot, this.config.thresholds);
    return {
      businessId,
      level,
      reasons,
      throttleRatePerMinute: level === 'throttle' ? this.config.thresholds.throttleRatePerMinute : undefined,
      snapshot,
      at: now,
    };
  }

  /** Bytes of counter state held for one business (0 if none): fixed by the configuration. */
  stateBytes(businessId: string): number {
    return this.#businesses.get(businessId)?.stateBytes() ?? 0;
  }

  /** Drops a business's counters (business deregistered). */
  forgetBusiness(businessId: string): void {
    this.#businesses.delete(businessId);
  }

  /** For the codec: the live counters of a business, created on first use. */
  countersFor(businessId: string): BusinessCounters {
    checkBusinessId(businessId);
    return this.#counters(businessId);
  }

  get sketchKeyFingerprint(): Uint8Array {
    return this.#key.fingerprint;
  }

  #counters(businessId: string): BusinessCounters {
    let counters = this.#businesses.get(businessId);
    if (!counters) {
      counters = new BusinessCounters(this.config);
      this.#businesses.set(businessId, counters);
    }
    counters.advance(this.#clock.now());
    return counters;
  }

  #snapshot(counters: BusinessCounters): IntegritySnapshot {
    const unsolicited = Math.round(counters.activity.distinct(UNSOLICITED_RECIPIENTS));
    const estimate = Math.round(counters.contacts.distinct(0));
    const knownContacts = Math.max(estimate, counters.knownContactsOverride ?? 0);
    const delivered = counters.quality.sum(DELIVERED);
    const failed = counters.quality.sum(FAILED);
    const spamReports = counters.quality.sum(SPAM_REPORTS);
    return {
      activityWindowMs: this.config.activityWindow.durationMs,
      qualityWindowMs: this.config.qualityWindow.durationMs,
      sent: counters.activity.sum(SENT),
      distinctRecipients: Math.round(counters.activity.distinct(ALL_RECIPIENTS)),
      unsolicitedRecipients: unsolicited,
      newRecipients: Math.round(counters.activity.sum(NEW_RECIPIENTS)),
      knownContacts,
      contactShare: knownContacts === 0 ? 0 : Math.min(1, unsolicited / knownContacts),
      delivered,
      failed,
      spamReports,
      failureRate: delivered + failed === 0 ? 0 : failed / (delivered + failed),
      // Reports can outlive the deliveries they refer to in the window; never above 100 %.
      spamRate: spamReports === 0 ? 0 : spamReports / Math.max(delivered, spamReports),
    };
  }
}

/**
 * The monitor for the gateway, and the transport side's read-only view of it. Hand `signals`
 * to the network and nothing else: it cannot record, only read levels, reasons and counts.
 */
export function createIntegrity(options: IntegrityMonitorOptions): {
  readonly monitor: IntegrityMonitor;
  readonly signals: IntegritySignals;
} {
  const monitor = new IntegrityMonitor(options);
  return { monitor, signals: { signal: (businessId: string) => monitor.signal(businessId) } };
}

/** The snapshot of a business with no traffic in its windows. */
export function emptyIntegritySnapshot(config: IntegrityConfig): IntegritySnapshot {
  return {
    activityWindowMs: config.activityWindow.durationMs,
    qualityWindowMs: config.qualityWindow.durationMs,
    sent: 0,
    distinctRecipients: 0,
    unsolicitedRecipients: 0,
    newRecipients: 0,
    knownContacts: 0,
    contactShare: 0,
    delivered: 0,
    failed: 0,
    spamReports: 0,
    failureRate: 0,
    spamRate: 0,
  };
}
