import { toHex } from '../bytes.js';
import { DEFAULT_PADDING_BLOCK } from '../content/padding.js';
import { defaultCrypto } from '../crypto/default.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { pooledRandom } from '../crypto/random-pool.js';
import { ParleyError } from '../errors.js';
import type { IntegrityMonitor } from '../integrity/monitor.js';
import type { IntegrityLevel } from '../integrity/signal.js';
import { type IntegrityConfig, resolveIntegrityConfig } from '../integrity/thresholds.js';
import type { RecordSealer } from '../session/record-sealer.js';
import { SessionManager } from '../session/session-manager.js';
import { acceptIdentityChanges } from '../session/trust.js';
import { UnverifiedWorkBudget } from '../session/unverified-work.js';
import { createStatistics, type UsageLedger } from '../stats/ledger.js';
import { type Clock, type Store, systemClock } from '../storage/contract.js';
import type { SenderKeyFormat } from '../wire/sender-key-format.js';
import { type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.js';
import { KeyedQueue } from './cache/keyed-queue.js';
import { PlaintextLeases } from './cache/plaintext-leases.js';
import type { TallyRefreshes, TallyView } from './cache/tally-view.js';
import { ViewClock } from './cache/view-clock.js';
import type { AccessAppendBatch } from './durable/access-log.js';
import { sessionScope } from './durable/layout.js';
import { DEFAULT_PERIOD_MS, PeriodKeys } from './durable/period-keys.js';
import type { BusinessConfig } from './durable/records.js';
import type { GroupHooks } from './group-hooks.js';
import type { KeyProvider } from './key-provider.js';
import { errorCode, type GatewayLogger, type LogFields, type LogLevel, logTo } from './logger.js';
import { type GatewayMedia, resolveMediaOptions } from './media-options.js';
import {
  checkGatewayOptions,
  DEFAULT_ACCESS_LOG_RETENTION_MS,
  DEFAULT_CLAIM_LEASE_MS,
  DEFAULT_DEVICE_REFRESH_MS,
  DEFAULT_INACTIVITY_MS,
  DEFAULT_KYBER_PREKEY_BATCH,
  DEFAULT_KYBER_PREKEY_LOW_WATER,
  DEFAULT_MAX_SEND_ATTEMPTS,
  DEFAULT_PLAINTEXT_TTL_MS,
  DEFAULT_PREKEY_BATCH,
  DEFAULT_PREKEY_LOW_WATER,
  DEFAULT_REDELIVERY_LIMIT_MS,
  DEFAULT_RETRY_REQUEST_INTERVAL_MS,
  DEFAULT_SIGNED_PREKEY_GRACE_MS,
  DEFAULT_SIGNED_PREKEY_ROTATION_MS,
  type GatewayOptions,
  type GatewayStatisticsOptions,
} from './options.js';
import { derivePseudonym } from './pseudonym.js';
import type {
  Directory,
  EventHandler,
  GatewayEvent,
  MessageHandler,
  MessageId,
  PlatformExport,
  Transport,
} from './types.js';
import { assertPhoneNumber, positive } from './validation.js';

export interface BusinessContext {
  readonly id: string;
  readonly config: BusinessConfig;
  readonly retentionMs: number;
  readonly sealer: RecordSealer;
  readonly pseudonymKey: Uint8Array;
  readonly numbers: Map<string, SessionManager>;
}

/** Work on one person of one business (sending, erasure) runs one at a time. */
export function personQueueKey(businessId: string, pseudonym: string): string {
  return `person/${businessId}/${pseudonym}`;
}

/**
 * The state every part of the gateway shares: options, stores, caches and handlers, plus
 * the small cross-cutting helpers (sessions, pseudonyms, events, logging, background work).
 * The `Gateway` class owns one and hands it to the module functions (inbound, outbound, …).
 */
export class GatewayContext {
  readonly store: Store;
  readonly vaultStore: Store;
  readonly keyProvider: KeyProvider;
  readonly transport: Transport;
  readonly directory: Directory;
  readonly crypto: CryptoProvider;
  readonly random: RandomSource;
  readonly clock: Clock;
  readonly paddingBlock: number | false;
  /** The network's sender-key format for group messages. */
  readonly groupFormat: SenderKeyFormat;
  /** Group work the 1:1 paths hand over (registered by the Gateway; see group-hooks.ts). */
  groupHooks: GroupHooks | undefined;
  readonly periodKeys: PeriodKeys;
  readonly redeliveryLimitMs: number;
  readonly redeliveryBackoff: BackoffPolicy;
  readonly maxSendAttempts: number;
  readonly sendBackoff: BackoffPolicy;
  readonly retryRequestIntervalMs: number;
  readonly inactivityMs: number;
  readonly deviceRefreshMs: number;
  readonly preKeyBatch: number;
  readonly preKeyLowWater: number;
  readonly signedRotationMs: number;
  readonly signedGraceMs: number;
  readonly kyberBatch: number;
  readonly kyberLowWater: number;
  readonly leases: PlaintextLeases;
  /** Blob store, media host and limits; undefined: the gateway was made without `media`. */
  readonly media: GatewayMedia | undefined;
  /** One budget of pre-MAC key derivation for all business numbers (session/unverified-work.ts). */
  readonly unverifiedWork: UnverifiedWorkBudget;
  readonly businesses = new Map<string, Promise<BusinessContext>>();
  readonly messageHandlers = new Map<string, MessageHandler>();
  readonly eventHandlers = new Map<string, Set<EventHandler>>();
  readonly errorHandlers = new Set<(error: unknown) => void>();
  readonly queue = new KeyedQueue();
  /** Access-log appends per business waiting for their shared commit (durable/access-log.ts). */
  readonly accessAppends = new Map<string, AccessAppendBatch>();
  /**
   * First deliveries of one person's messages (per business), one after another in the order
   * they were received: a slow first delivery does not let the next message overtake it.
   */
  readonly arrivals = new KeyedQueue();
  readonly inFlight = new Set<Promise<unknown>>();
  readonly logger: GatewayLogger | undefined;
  readonly integrityConfig: IntegrityConfig | undefined;
  /**
   * This instance's VIEW of the integrity counters (see tally.ts: the truth is the folded state
   * and the tally journal in the store). Set once the sketch key is unwrapped.
   */
  monitor: IntegrityMonitor | undefined;
  monitorLoading: Promise<IntegrityMonitor> | undefined;
  /** Reads before the monitor exists: every business at `ok`, nothing counted. */
  emptyMonitor: IntegrityMonitor | undefined;
  /** Last level seen per business (to log changes). */
  readonly integrityLevels = new Map<string, IntegrityLevel>();
  /** Contacts count last journaled by this instance, per business (to journal changes only). */
  readonly knownContacts = new Map<string, number>();
  /** This instance's view of statistics and billing (see tally.ts). */
  readonly ledger: UsageLedger | undefined;
  statisticsKeyLoading: Promise<void> | undefined;
  /** The unwrapped integrity sketch key and statistics tag key, once loaded (for folds). */
  integritySketchKey: Uint8Array | undefined;
  statisticsTagKey: Uint8Array | undefined;
  /** The statistics settings, for the folds' own ledgers. */
  readonly statisticsOptions: GatewayStatisticsOptions = {};
  /** Event time while the view applies a journal event (see cache/view-clock.ts). */
  readonly viewClock: ViewClock;
  /** Per business: what the view was built on and which journal events it holds (tally.ts). */
  readonly tallyViews = new Map<string, TallyView>();
  /** Per business: the refresh under way and the one queued behind it (tally.ts). */
  readonly tallyRefreshes = new Map<string, TallyRefreshes>();
  /** Orders the journal events this instance writes within one millisecond. */
  tallySequence = 0;
  readonly platformExport: PlatformExport | undefined;
  /**
   * Run once for each business as it is loaded into this instance (restoring what the
   * instance keeps of it in memory); registered by the Gateway, so that loading a business
   * depends on no concern that needs one.
   */
  readonly onBusinessLoaded: ((ctx: BusinessContext) => Promise<void>)[] = [];
  /** Event records handed over without a handler throwing, to delete in the next batch. */
  readonly forgettingEvents = new Set<string>();
  /** Orders the event records this process writes within one millisecond. */
  eventSequence = 0;
  /** This instance's id in claims on due work (random; another instance over the store has its own). */
  readonly instanceId: string;
  /** How long a claim on due work lasts before another instance may take the work over. */
  readonly claimLeaseMs: number;
  /** How long access-log records are kept; 0: no access log. */
  readonly accessLogRetentionMs: number;
  /** The access-log MAC key, unwrapped on first use. */
  accessLogKey: Promise<Uint8Array> | undefined;
  closed = false;

  constructor(options: GatewayOptions) {
    checkGatewayOptions(options);
    this.store = options.store;
    this.vaultStore = options.vaultStore;
    this.keyProvider = options.keyProvider;
    this.transport = options.transport;
    this.directory = options.directory;
    this.crypto = options.crypto ?? defaultCrypto();
    const source = options.random ?? defaultRandom;
    const drawn: unknown = source(8);
    // The first draw: a random source that does not return bytes is a configuration mistake.
    if (!(drawn instanceof Uint8Array) || drawn.length !== 8) {
      throw new ParleyError(
        'ERR_CONFIGURATION',
        '"random" expected a random source: (length) => Uint8Array of that length',
        { field: 'random' },
      );
    }
    this.instanceId = toHex(drawn);
    // Drawn from a pool filled in large blocks (one native call serves many requests), the same
    // pool the session managers use for this source: one stream, in order.
    this.random = pooledRandom(source);
    this.clock = options.clock ?? systemClock;
    this.unverifiedWork = new UnverifiedWorkBudget(this.clock);
    this.paddingBlock = options.padding === false ? false : (options.padding ?? DEFAULT_PADDING_BLOCK);
    this.groupFormat = options.groups?.format ?? 'signal';
    const periodMs = positive(options.periodMs ?? DEFAULT_PERIOD_MS, 'periodMs');
    this.periodKeys = new PeriodKeys({
      vaultStore: this.vaultStore,
      keyProvider: this.keyProvider,
      random: this.random,
      clock: this.clock,
      periodMs,
    });
    this.redeliveryLimitMs = positive(
      options.redelivery?.limitMs ?? DEFAULT_REDELIVERY_LIMIT_MS,
      'redelivery.limitMs',
    );
    this.redeliveryBackoff = options.redelivery?.backoff ?? DEFAULT_BACKOFF;
    this.maxSendAttempts = positive(
      options.sending?.maxAttempts ?? DEFAULT_MAX_SEND_ATTEMPTS,
      'sending.maxAttempts',
    );
    this.sendBackoff = options.sending?.backoff ?? DEFAULT_BACKOFF;
    this.retryRequestIntervalMs = positive(
      options.retryRequestIntervalMs ?? DEFAULT_RETRY_REQUEST_INTERVAL_MS,
      'retryRequestIntervalMs',
    );
    this.inactivityMs = positive(options.inactivityMs ?? DEFAULT_INACTIVITY_MS, 'inactivityMs');
    this.deviceRefreshMs = positive(
      options.devices?.refreshMs ?? DEFAULT_DEVICE_REFRESH_MS,
      'devices.refreshMs',
    );
    this.preKeyBatch = positive(options.preKeys?.batchSize ?? DEFAULT_PREKEY_BATCH, 'preKeys.batchSize');
    this.preKeyLowWater = options.preKeys?.lowWaterMark ?? DEFAULT_PREKEY_LOW_WATER;
    this.signedRotationMs = positive(
      options.preKeys?.signedRotationMs ?? DEFAULT_SIGNED_PREKEY_ROTATION_MS,
      'preKeys.signedRotationMs',
    );
    this.signedGraceMs = positive(
      options.preKeys?.signedGraceMs ?? DEFAULT_SIGNED_PREKEY_GRACE_MS,
      'preKeys.signedGraceMs',
    );
    this.kyberBatch = positive(
      options.preKeys?.kyberBatchSize ?? DEFAULT_KYBER_PREKEY_BATCH,
      'preKeys.kyberBatchSize',
    );
    this.kyberLowWater = options.preKeys?.kyberLowWaterMark ?? DEFAULT_KYBER_PREKEY_LOW_WATER;
    this.leases = new PlaintextLeases(
      this.clock,
      positive(options.plaintextTtlMs ?? DEFAULT_PLAINTEXT_TTL_MS, 'plaintextTtlMs'),
    );
    this.logger = options.logger;
    this.media = resolveMediaOptions(options.media);
    this.claimLeaseMs = positive(options.claims?.leaseMs ?? DEFAULT_CLAIM_LEASE_MS, 'claims.leaseMs');
    this.accessLogRetentionMs =
      options.accessLog === false
        ? 0
        : positive(
            options.accessLog?.retentionMs ?? DEFAULT_ACCESS_LOG_RETENTION_MS,
            'accessLog.retentionMs',
          );
    if (options.integrity !== false) {
      // Resolved here so a bad threshold is a configuration error at construction.
      this.integrityConfig = resolveIntegrityConfig(options.integrity ?? {});
    }
    this.viewClock = new ViewClock(this.clock);
    if (options.statistics !== false) {
      this.statisticsOptions = options.statistics ?? {};
      const { recorder, statistics, billing } = createStatistics({
        ...options.statistics,
        clock: this.viewClock,
        random: this.random,
      });
      this.ledger = recorder;
      this.platformExport = Object.freeze({ statistics, billing });
    }
  }

  sessions(ctx: BusinessContext, number: string): SessionManager {
    let sessions = ctx.numbers.get(number);
    if (!sessions) {
      sessions = new SessionManager({
        store: this.store,
        crypto: this.crypto,
        random: this.random,
        clock: this.clock,
        scope: sessionScope(ctx.id, number),
        trust: acceptIdentityChanges,
        sealer: ctx.sealer,
        unverifiedWork: this.unverifiedWork,
      });
      ctx.numbers.set(number, sessions);
    }
    return sessions;
  }

  pseudonym(ctx: BusinessContext, phoneNumber: string): string {
    assertPhoneNumber(phoneNumber, 'phoneNumber');
    return derivePseudonym(this.crypto, ctx.pseudonymKey, phoneNumber);
  }

  /** Events that are not durable (identity changes): handed to the handlers once, now. */
  emit(businessId: string, event: GatewayEvent): void {
    for (const handler of this.eventHandlers.get(businessId) ?? []) {
      try {
        const result = handler(event);
        if (result instanceof Promise) result.catch((error: unknown) => this.reportError(error));
      } catch (error) {
        this.reportError(error);
      }
    }
  }

  newEventId(): string {
    return `e${toHex(this.random(12))}`;
  }

  reportError(error: unknown): void {
    this.log('error', 'background work failed', { code: errorCode(error) });
    for (const handler of this.errorHandlers) handler(error);
  }

  log(level: LogLevel, message: string, fields?: LogFields): void {
    logTo(this.logger, level, message, fields);
  }

  track(work: Promise<unknown>): void {
    const tracked = work
      .catch((error) => this.reportError(error))
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  newMessageId(): MessageId {
    return `m${toHex(this.random(16))}` as MessageId;
  }

  assertOpen(): void {
    if (this.closed) throw new ParleyError('ERR_CLOSED', 'the gateway is closed');
  }
}
