import { toHex, utf8, wipe } from '../bytes.js';
import { defaultCrypto } from '../crypto/default.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { type ErrorCode, isParleyError, ParleyError } from '../errors.js';
import { encodeIntegrityState, restoreIntegrityState } from '../integrity/codec.js';
import {
  createIntegrity,
  type IntegrityMonitor,
  type SendPermit,
  type SpamReportOutcome,
} from '../integrity/monitor.js';
import type { IntegrityLevel, IntegritySignal, IntegritySignals } from '../integrity/signal.js';
import {
  type IntegrityConfig,
  type IntegrityConfigInput,
  resolveIntegrityConfig,
} from '../integrity/thresholds.js';
import { MAX_LOCAL_PREKEY_ID } from '../keys/prekeys.js';
import { pseudonym as brandPseudonym, type Pseudonym } from '../privacy/branded.js';
import { inspectCustom } from '../redaction.js';
import type { ProtocolAddress } from '../session/address.js';
import type { RecordSealer } from '../session/record-sealer.js';
import { type CiphertextMessage, type IdentityChange, SessionManager } from '../session/session-manager.js';
import { acceptIdentityChanges } from '../session/trust.js';
import { createStatistics, type StatisticsOptions, type UsageLedger } from '../stats/ledger.js';
import { encodeStatisticsState, restoreStatisticsState } from '../stats/state.js';
import {
  type Clock,
  type Namespace,
  type Store,
  systemClock,
  type WriteOperation,
} from '../storage/contract.js';
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import type { KeyProvider } from './key-provider.js';
import { KeyedQueue } from './keyed-queue.js';
import {
  BUSINESS_PREFIX,
  businessKey,
  contactKey,
  contactPrefix,
  DUE_PREFIX,
  devicesKey,
  dueKey,
  INTEGRITY_KEY,
  integrityStateKey,
  messageIndexKey,
  messageKey,
  numberIndexKey,
  numberKeysKey,
  numberKeysPrefix,
  outboxKey,
  personIndexKey,
  personIndexPrefix,
  retryLimitKey,
  retryLimitPrefix,
  STATISTICS_KEY,
  seenKey,
  seenPrefix,
  sessionScope,
  statisticsDaysKey,
  statisticsPeopleKey,
} from './layout.js';
import { errorCode, type GatewayLogger, type LogFields, type LogLevel, logTo } from './logger.js';
import { DEFAULT_PADDING_BLOCK, padContent, unpadContent } from './padding.js';
import { DEFAULT_PERIOD_MS, PeriodKeys } from './period-keys.js';
import { type PlaintextLease, PlaintextLeases } from './plaintext-leases.js';
import { derivePseudonym } from './pseudonym.js';
import { createAesGcmSealer } from './record-sealer.js';
import {
  type BusinessConfig,
  contentAad,
  type Direction,
  decodeBusinessConfig,
  decodeDeviceList,
  decodeMessageIndex,
  decodeMessageRecord,
  decodeNumberKeys,
  decodeOutboxEntry,
  decodeTimestamp,
  encodeBusinessConfig,
  encodeDeviceList,
  encodeMessageIndex,
  encodeMessageRecord,
  encodeNumberKeys,
  encodeOutboxEntry,
  encodeTimestamp,
  type MessageRecord,
  type NumberKeys,
  type OutboxEntry,
  openContent,
  type PreviousPreKey,
  sealContent,
} from './records.js';
import type {
  BusinessRegistration,
  DeliveryReceipt,
  Directory,
  EventHandler,
  GatewayEvent,
  InboundFrame,
  InboundMessage,
  MessageHandler,
  MessageId,
  PlatformExport,
  ReceiveOutcome,
  SendRequest,
  SignedPublicPreKey,
  SpamReport,
  Transport,
} from './types.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** MISSION.md: messages are kept at most 30 days. */
export const MAX_RETENTION_DAYS = 30;
/** The reference service's limit for redelivering to a failing webhook. */
export const DEFAULT_REDELIVERY_LIMIT_MS = 60 * 60_000;
/** One retry request per device per hour: a broken session must not turn into a reset storm. */
export const DEFAULT_RETRY_REQUEST_INTERVAL_MS = 60 * 60_000;
export const DEFAULT_MAX_SEND_ATTEMPTS = 6;
/** Protocol state of a person silent this long is deleted (longer than any retention). */
export const DEFAULT_INACTIVITY_MS = 90 * DAY_MS;
/** Signal clients upload 100 one-time prekeys and top up below a few dozen. */
export const DEFAULT_PREKEY_BATCH = 100;
export const DEFAULT_PREKEY_LOW_WATER = 25;
/**
 * Signal clients upload 100 one-time Kyber prekeys too. Each costs about 3 ms to generate
 * (Kyber-1024 key generation) and 4.8 kB sealed at rest.
 */
export const DEFAULT_KYBER_PREKEY_BATCH = 100;
export const DEFAULT_KYBER_PREKEY_LOW_WATER = 25;
/**
 * Longest time plaintext stays in use in the gateway's memory: the reference service's limit
 * for data in use outside a business's pinned region.
 */
export const DEFAULT_PLAINTEXT_TTL_MS = 60 * 60_000;
/** Signal rotates the signed prekey every 2 days… we follow libsignal-service's weekly default. */
export const DEFAULT_SIGNED_PREKEY_ROTATION_MS = 7 * DAY_MS;
/** Prekey messages built on the previous signed prekey still open this long after rotation. */
export const DEFAULT_SIGNED_PREKEY_GRACE_MS = 30 * DAY_MS;
/** Largest content `send` accepts (before padding). */
export const MAX_CONTENT_LENGTH = 64 * 1024;
/** The message id index outlives the message so a late retransmit is told "expired", not "unknown". */
const INDEX_GRACE_MS = 31 * DAY_MS;
/** Outbox entries outlive their message by this, so `tick` can still report the expiry. */
const OUTBOX_GRACE_MS = DAY_MS;
const BUSINESS_DEVICE_ID = 1;
const KEY_LENGTH = 32;
const INTEGRITY_KEY_CONTEXT = 'parley/integrity/sketch-key';
const STATISTICS_KEY_CONTEXT = 'parley/statistics/tag-key';

/** Statistics settings the gateway passes on to its ledger (see `createStatistics`). */
export type GatewayStatisticsOptions = Omit<StatisticsOptions, 'clock' | 'random' | 'tagKey'>;

export interface GatewayOptions {
  /** Protocol state, messages, queues: the "message database". */
  readonly store: Store;
  /** Wrapped period keys for crypto-shredding: a separate adapter instance (another file). */
  readonly vaultStore: Store;
  readonly keyProvider: KeyProvider;
  readonly transport: Transport;
  readonly directory: Directory;
  /** Default: the portable provider. Pass `createNodeCrypto()` from `@parley/core/node` on Node. */
  readonly crypto?: CryptoProvider;
  readonly random?: RandomSource;
  readonly clock?: Clock;
  /** Padding block size before encryption (default 160); `false` for peers that do not pad. */
  readonly padding?: number | false;
  /** Length of a retention period (one content key each). Default one day. */
  readonly periodMs?: number;
  readonly redelivery?: { readonly limitMs?: number; readonly backoff?: BackoffPolicy };
  readonly sending?: { readonly maxAttempts?: number; readonly backoff?: BackoffPolicy };
  readonly retryRequestIntervalMs?: number;
  readonly inactivityMs?: number;
  readonly preKeys?: {
    readonly batchSize?: number;
    readonly lowWaterMark?: number;
    /** The last-resort Kyber prekey is rotated (and its predecessor kept) with the signed prekey. */
    readonly signedRotationMs?: number;
    readonly signedGraceMs?: number;
    /** One-time Kyber prekeys per top-up (default 100). */
    readonly kyberBatchSize?: number;
    /** Top up one-time Kyber prekeys when the directory has fewer than this (default 25). */
    readonly kyberLowWaterMark?: number;
  };
  /**
   * Longest time (injected clock) the gateway holds a message's plaintext in memory; default
   * 60 minutes. Content is re-read from the encrypted store for every attempt; a buffer still
   * in use when the TTL runs out is zeroed at the next `tick()` and the work that held it reads
   * the content again (outbound) or counts as a failed delivery attempt (inbound handler).
   */
  readonly plaintextTtlMs?: number;
  /**
   * Runs `tick()` on a real-time interval (default every 60 s). Only the trigger is real
   * time; every deadline it evaluates comes from `clock`. `false` disables it (tests).
   */
  readonly timer?: { readonly intervalMs: number } | false;
  /**
   * Integrity monitoring of each business's sending (thresholds and windows; defaults in
   * `DEFAULT_INTEGRITY_CONFIG`). On by default; `false` turns it off. `block` refuses `send`
   * with `ERR_INTEGRITY_BLOCKED`; `throttle` spaces the business's new messages on the clock.
   * The transport side reads the signals through `integritySignals()`.
   */
  readonly integrity?: IntegrityConfigInput | false;
  /**
   * Non-personal statistics and billing counters, read through `statisticsExport()`. On by
   * default (in memory; they start over when the gateway restarts); `false` turns them off.
   */
  readonly statistics?: GatewayStatisticsOptions | false;
  /**
   * Notable events (errors, retries, drops, integrity changes) as a message and non-personal
   * fields: never content, keys, phone numbers or pseudonyms.
   */
  readonly logger?: GatewayLogger;
}

interface BusinessContext {
  readonly id: string;
  readonly config: BusinessConfig;
  readonly retentionMs: number;
  readonly sealer: RecordSealer;
  readonly pseudonymKey: Uint8Array;
  readonly numbers: Map<string, SessionManager>;
}

export interface SweepResult {
  /** Expired records deleted from the message store. */
  readonly records: number;
  /** Period keys destroyed in the vault store. */
  readonly periodKeys: number;
  /** People whose protocol state was deleted for inactivity. */
  readonly inactive: number;
}

export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options);
}

/**
 * Holds Signal-protocol sessions for many businesses and their phone numbers. Inbound frames
 * are decrypted, stored (content encrypted under a period key) and handed to the business's
 * handler; outbound messages are stored, encrypted per device and handed to the transport.
 * Background work (redeliveries, retries, prekey upkeep, retention) runs in `tick()`.
 *
 * Prekeys: each business number publishes a signed prekey, a last-resort Kyber prekey and
 * pools of one-time EC and Kyber prekeys (PQXDH, session version 4, for clients that speak it;
 * X3DH, version 3, for the others). Pools are topped up below their low-water marks; the signed
 * and the last-resort Kyber prekey rotate together and their predecessors are kept for a grace
 * period. Outbound sessions are v4 when the person's bundle carries a Kyber prekey.
 *
 * Data in use: message content is at rest only encrypted (period key), and it is opened for
 * one step at a time — to encrypt it for one device, or to hand it to the business's handler —
 * and never kept between steps or attempts: each attempt reads it again from the store.
 * Every buffer the gateway holds is under a lease that `tick()` revokes after
 * `plaintextTtlMs` (default 60 minutes, injected clock; checked once per tick): the buffer is
 * zeroed and the work that held it reads the content again (outbound) or counts as a failed
 * delivery attempt (a handler that has not returned). `plaintextInUse()` reports what is held.
 * The content handed to a handler belongs to the business once the handler settles.
 * Zeroing is best-effort: JavaScript engines may keep copies (strings, the decoder's buffers)
 * that no library can reach.
 *
 * Three audiences, three separate objects: the business uses the gateway itself; the
 * transport side reads integrity signals through `integritySignals()` (and relays people's
 * spam reports to `receiveSpamReport`); the rest of the platform gets `statisticsExport()`,
 * non-personal counts only. Every message sent is checked and counted (by the recipient's
 * pseudonym) before it is stored: `block` refuses it with `ERR_INTEGRITY_BLOCKED`, `throttle`
 * gives it a slot on the injected clock (the due-time index releases it). Integrity counters
 * and statistics and billing are persisted, sealed, in the `counters` namespace on `tick()`
 * and `close()` (restored when a business is first used). The optional `logger` gets codes,
 * ids and counts, never content, keys, phone numbers or pseudonyms.
 */
export class Gateway {
  /** A summary without keys, numbers or content (see redaction.ts). */
  toJSON(): Record<string, string | number | boolean> {
    return { type: 'Gateway', businesses: this.businesses.size, closed: this.closed };
  }

  [inspectCustom](): string {
    return `Gateway ${JSON.stringify(this.toJSON())}`;
  }

  private readonly store: Store;
  private readonly vaultStore: Store;
  private readonly keyProvider: KeyProvider;
  private readonly transport: Transport;
  private readonly directory: Directory;
  private readonly crypto: CryptoProvider;
  private readonly random: RandomSource;
  private readonly clock: Clock;
  private readonly paddingBlock: number | false;
  private readonly periodKeys: PeriodKeys;
  private readonly redeliveryLimitMs: number;
  private readonly redeliveryBackoff: BackoffPolicy;
  private readonly maxSendAttempts: number;
  private readonly sendBackoff: BackoffPolicy;
  private readonly retryRequestIntervalMs: number;
  private readonly inactivityMs: number;
  private readonly preKeyBatch: number;
  private readonly preKeyLowWater: number;
  private readonly signedRotationMs: number;
  private readonly signedGraceMs: number;
  private readonly kyberBatch: number;
  private readonly kyberLowWater: number;
  private readonly leases: PlaintextLeases;
  private readonly businesses = new Map<string, Promise<BusinessContext>>();
  private readonly messageHandlers = new Map<string, MessageHandler>();
  private readonly eventHandlers = new Map<string, Set<EventHandler>>();
  private readonly errorHandlers = new Set<(error: unknown) => void>();
  private readonly queue = new KeyedQueue();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly interval: ReturnType<typeof setInterval> | undefined;
  private readonly logger: GatewayLogger | undefined;
  private readonly integrityConfig: IntegrityConfig | undefined;
  /** Set once the sketch key is unwrapped (first business loaded). */
  private monitor: IntegrityMonitor | undefined;
  private monitorLoading: Promise<IntegrityMonitor> | undefined;
  /** Reads before the monitor exists: every business at `ok`, nothing counted. */
  private emptyMonitor: IntegrityMonitor | undefined;
  /** Businesses whose integrity counters changed since they were last written. */
  private readonly integrityDirty = new Set<string>();
  /** Last level seen per business (to log changes). */
  private readonly integrityLevels = new Map<string, IntegrityLevel>();
  /** Per business: the clock time the next throttled message may go out. */
  private readonly throttleNext = new Map<string, number>();
  /** Contacts count last given to the monitor, per business. */
  private readonly knownContacts = new Map<string, number>();
  private readonly ledger: UsageLedger | undefined;
  private statisticsKeyLoading: Promise<void> | undefined;
  /** Statistics writes run one after another, so an older state never lands after a newer one. */
  private statisticsWriting: Promise<void> = Promise.resolve();
  private readonly platformExport: PlatformExport | undefined;
  private readonly signalsReader: IntegritySignals | undefined;
  private closed = false;

  constructor(options: GatewayOptions) {
    this.store = options.store;
    this.vaultStore = options.vaultStore;
    if (options.store === options.vaultStore) {
      throw new ParleyError(
        'ERR_CONFIGURATION',
        'the vault store must be a separate adapter instance: a copy of the message store must not carry the period keys',
      );
    }
    this.keyProvider = options.keyProvider;
    this.transport = options.transport;
    this.directory = options.directory;
    this.crypto = options.crypto ?? defaultCrypto();
    this.random = options.random ?? defaultRandom;
    this.clock = options.clock ?? systemClock;
    this.paddingBlock = options.padding === false ? false : (options.padding ?? DEFAULT_PADDING_BLOCK);
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
    if (options.integrity !== false) {
      // Resolved here so a bad threshold is a configuration error at construction.
      this.integrityConfig = resolveIntegrityConfig(options.integrity ?? {});
      this.signalsReader = Object.freeze({
        signal: (businessId: string): IntegritySignal => this.readSignal(businessId),
      });
    }
    if (options.statistics !== false) {
      const { recorder, statistics, billing } = createStatistics({
        ...options.statistics,
        clock: this.clock,
        random: this.random,
      });
      this.ledger = recorder;
      this.platformExport = Object.freeze({ statistics, billing });
    }
    const timer = options.timer ?? { intervalMs: 60_000 };
    if (timer) {
      this.interval = setInterval(
        () => this.track(this.tick()),
        positive(timer.intervalMs, 'timer.intervalMs'),
      );
      (this.interval as { unref?: () => void }).unref?.();
    }
  }

  // ── Businesses and numbers ────────────────────────────────────────────────────────

  /**
   * Registers a business (idempotent for the same settings). Retention is 1–30 days
   * (default 30); a pinned region must match every store's and the key provider's region.
   */
  async registerBusiness(registration: BusinessRegistration): Promise<void> {
    this.assertOpen();
    const businessId = registration.businessId;
    assertBusinessId(businessId);
    const retentionDays = registration.retentionDays ?? MAX_RETENTION_DAYS;
    if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > MAX_RETENTION_DAYS) {
      throw new ParleyError(
        'ERR_CONFIGURATION',
        `"retentionDays" expected an integer from 1 to ${MAX_RETENTION_DAYS}`,
        {
          retentionDays: Number.isFinite(retentionDays) ? retentionDays : String(retentionDays),
        },
      );
    }
    const region = registration.region;
    if (region !== undefined && (typeof region !== 'string' || region.length === 0)) {
      throw new ParleyError('ERR_CONFIGURATION', '"region" expected a non-empty string');
    }
    this.assertResidency(businessId, region);
    const existing = await this.store.get('meta', businessKey(businessId));
    if (existing) {
      const config = decodeBusinessConfig(existing.value);
      if (config.retentionDays === retentionDays && config.region === region) return;
      throw new ParleyError('ERR_CONFIGURATION', 'business already registered with other settings', {
        retentionDays: config.retentionDays,
      });
    }
    const recordKey = this.random(KEY_LENGTH);
    const pseudonymKey = this.random(KEY_LENGTH);
    const config: BusinessConfig = {
      retentionDays,
      region,
      wrappedRecordKey: await this.keyProvider.wrapKey(recordKey, recordKeyContext(businessId)),
      wrappedPseudonymKey: await this.keyProvider.wrapKey(pseudonymKey, pseudonymKeyContext(businessId)),
    };
    wipe(recordKey, pseudonymKey);
    try {
      await this.store.commit([put('meta', businessKey(businessId), encodeBusinessConfig(config))], {
        expectVersions: [{ namespace: 'meta', key: businessKey(businessId), version: 0 }],
      });
    } catch (error) {
      if (isParleyError(error, 'ERR_STORE_CONFLICT')) return this.registerBusiness(registration);
      throw error;
    }
  }

  /**
   * Adds a phone number to a business: identity key, registration id, signed prekey, a
   * last-resort Kyber prekey and batches of one-time EC and Kyber prekeys, published to the
   * directory.
   */
  async addNumber(businessId: string, number: string): Promise<void> {
    this.assertOpen();
    assertPhoneNumber(number, 'number');
    const ctx = await this.business(businessId);
    try {
      await this.store.commit([put('meta', numberIndexKey(number), utf8(businessId))], {
        expectVersions: [{ namespace: 'meta', key: numberIndexKey(number), version: 0 }],
      });
    } catch (error) {
      if (isParleyError(error, 'ERR_STORE_CONFLICT')) {
        throw new ParleyError('ERR_CONFIGURATION', 'this number is already registered with the gateway');
      }
      throw error;
    }
    const sessions = this.sessions(ctx, number);
    await sessions.initializeIdentity();
    await sessions.generateSignedPreKey(1);
    await sessions.generateKyberPreKey(1, { lastResort: true });
    const oneTime = await sessions.generateOneTimePreKeys(1, this.preKeyBatch);
    const oneTimeKyber = await generateOneTimeKyberPreKeys(sessions, 2, this.kyberBatch);
    const keys: NumberKeys = {
      signedPreKeyId: 1,
      signedPreKeyCreatedAt: this.clock.now(),
      previousSignedPreKeys: [],
      nextSignedPreKeyId: 2,
      nextOneTimePreKeyId: nextId(1, this.preKeyBatch),
      lastResortKyberPreKeyId: 1,
      previousKyberPreKeys: [],
      nextKyberPreKeyId: nextId(2, this.kyberBatch),
      published: false,
    };
    await this.saveNumberKeys(ctx, number, keys);
    await this.publish(ctx, number, keys, oneTime, oneTimeKyber);
  }

  /** Business numbers of a business. */
  async numbers(businessId: string): Promise<string[]> {
    this.assertOpen();
    await this.business(businessId);
    const prefix = numberKeysPrefix(businessId);
    return (await this.store.list('meta', { prefix })).map((record) => record.key.slice(prefix.length));
  }

  // ── Handlers and events ───────────────────────────────────────────────────────────

  /** The business's message handler (one per business); pending messages are delivered to it. */
  onMessage(businessId: string, handler: MessageHandler): () => void {
    this.assertOpen();
    this.messageHandlers.set(businessId, handler);
    this.track(this.runDue(businessId));
    return () => {
      if (this.messageHandlers.get(businessId) === handler) this.messageHandlers.delete(businessId);
    };
  }

  /** Status changes, dropped messages and identity changes of one business. */
  onEvent(businessId: string, handler: EventHandler): () => void {
    const set = this.eventHandlers.get(businessId) ?? new Set<EventHandler>();
    this.eventHandlers.set(businessId, set);
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Failures of background work (never carry content or phone numbers). */
  onError(handler: (error: unknown) => void): () => void {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  }

  // ── Inbound ───────────────────────────────────────────────────────────────────────

  /**
   * Takes a frame from the transport: decrypts it, stores the message (atomically with the
   * session update), acknowledges the frame and starts delivery to the business's handler.
   */
  async receiveFrame(frame: InboundFrame): Promise<ReceiveOutcome> {
    this.assertOpen();
    assertFrame(frame);
    const businessId = await this.businessOfNumber(frame.to);
    const ctx = await this.business(businessId);
    const pseudonym = this.pseudonym(ctx, frame.from);
    const sessions = this.sessions(ctx, frame.to);
    const address: ProtocolAddress = { name: pseudonym, deviceId: frame.deviceId };
    const now = this.clock.now();
    const seen = seenKey(businessId, pseudonym, toHex(this.crypto.sha256(utf8(frame.frameId))).slice(0, 32));
    if (await this.store.get('meta', seen)) {
      await this.acknowledge(frame.frameId);
      return { kind: 'duplicate' };
    }
    const id = this.newMessageId();
    const deadline = now + ctx.retentionMs;
    const { period, key: periodKey } = await this.periodKeys.forDeadline(businessId, deadline);
    const knownDevices = await this.readSealed(ctx, 'meta', devicesKey(businessId, pseudonym));
    const devices = knownDevices ? decodeDeviceList(knownDevices) : [];

    let identityChange: IdentityChange | undefined;
    let newSession = false;
    try {
      const result = await sessions.decrypt(
        address,
        { type: frame.type, body: frame.body },
        {
          alsoWrite: (decrypted) => {
            const content =
              this.paddingBlock === false ? decrypted.plaintext.slice() : unpadContent(decrypted.plaintext);
            const record: MessageRecord = {
              direction: 'inbound',
              status: 'pending',
              createdAt: now,
              deadline,
              number: frame.to,
              pseudonym,
              deviceId: frame.deviceId,
              attempts: 0,
              firstAttemptAt: 0,
              devices: [],
              period,
              content: sealContent(
                this.crypto,
                this.random,
                periodKey,
                contentAad(businessId, id),
                frame.from,
                content,
              ),
            };
            // Nothing holds plaintext while the commit is awaited.
            wipe(content, decrypted.plaintext);
            const writes = [
              ...this.messageWrites(ctx, id, record, now),
              this.sealedPut(ctx, 'meta', seen, new Uint8Array(0), deadline),
            ];
            if (!devices.includes(frame.deviceId)) {
              writes.push(
                this.sealedPut(
                  ctx,
                  'meta',
                  devicesKey(businessId, pseudonym),
                  encodeDeviceList([...devices, frame.deviceId]),
                ),
              );
            }
            return writes;
          },
        },
      );
      identityChange = result.identityChange;
      newSession = result.newSession;
      wipe(result.plaintext);
    } catch (error) {
      return this.undecryptable(ctx, frame, pseudonym, error);
    }
    const sender = brandPseudonym(pseudonym);
    if (this.monitor) {
      this.monitor.recordReceived({ businessId, sender });
      this.integrityDirty.add(businessId);
    }
    this.ledger?.recordReceived({ businessId, sender });
    if (newSession) this.ledger?.recordSessionEstablished({ businessId });
    this.log('debug', 'inbound message stored', { businessId, messageId: id, newSession });
    await this.acknowledge(frame.frameId);
    if (identityChange) {
      this.log('info', 'a person’s identity key changed; the new one is accepted', { businessId });
      this.emit(businessId, {
        type: 'identity-changed',
        businessId,
        number: frame.to,
        phoneNumber: frame.from,
        deviceId: frame.deviceId,
      });
    }
    this.track(this.deliver(businessId, id));
    return { kind: 'accepted', messageId: id };
  }

  private async undecryptable(
    ctx: BusinessContext,
    frame: InboundFrame,
    pseudonym: string,
    error: unknown,
  ): Promise<ReceiveOutcome> {
    if (!isParleyError(error) || error.code.startsWith('ERR_STORE_') || error.code === 'ERR_RESIDENCY')
      throw error;
    if (error.code === 'ERR_DUPLICATE_MESSAGE') {
      this.log('debug', 'inbound frame is a duplicate', { businessId: ctx.id });
      await this.acknowledge(frame.frameId);
      return { kind: 'duplicate' };
    }
    // Rate limit: the marker expires after the interval (store expiry, injected clock).
    const limitKey = retryLimitKey(ctx.id, frame.to, pseudonym, frame.deviceId);
    let retryRequested = false;
    try {
      await this.store.commit(
        [
          this.sealedPut(
            ctx,
            'meta',
            limitKey,
            new Uint8Array(0),
            this.clock.now() + this.retryRequestIntervalMs,
          ),
        ],
        { expectVersions: [{ namespace: 'meta', key: limitKey, version: 0 }] },
      );
      retryRequested = true;
    } catch (commitError) {
      if (!isParleyError(commitError, 'ERR_STORE_CONFLICT')) throw commitError;
    }
    if (retryRequested) {
      await this.transport.requestRetry({
        from: frame.to,
        to: frame.from,
        deviceId: frame.deviceId,
        frameId: frame.frameId,
        reason: error.code,
      });
    }
    this.log('warn', 'inbound frame could not be decrypted', {
      businessId: ctx.id,
      code: error.code,
      retryRequested,
    });
    await this.acknowledge(frame.frameId);
    return { kind: 'undecryptable', reason: error.code, retryRequested };
  }

  /** One delivery attempt of a stored inbound message, if it is due. */
  private deliver(businessId: string, id: MessageId): Promise<void> {
    return this.queue.run(id, async () => {
      const handler = this.messageHandlers.get(businessId);
      if (!handler) return;
      const ctx = await this.business(businessId);
      const now = this.clock.now();
      const entryRecord = await this.store.get('outbox', outboxKey(businessId, id));
      const entry = entryRecord && decodeOutboxEntry(entryRecord.value);
      if (!entry || entry.nextAttemptAt > now) return;
      const stored = await this.readMessage(ctx, id);
      if (stored?.record.status !== 'pending') return;
      const record = stored.record;
      const periodKey = await this.periodKeys.forPeriod(businessId, record.period);
      if (!periodKey) return;
      record.attempts += 1;
      if (record.firstAttemptAt === 0) record.firstAttemptAt = now;
      const delivered = await this.callHandler(handler, () => {
        const { phoneNumber, content } = openContent(
          this.crypto,
          periodKey,
          contentAad(businessId, id),
          record.content,
        );
        return {
          id,
          businessId,
          to: record.number,
          from: phoneNumber,
          deviceId: record.deviceId,
          receivedAt: record.createdAt,
          attempt: record.attempts,
          content,
        };
      });
      // This attempt spends the entry's hint in the time index.
      const writes: WriteOperation[] = [del('outbox', dueKey(dueAt(entry), businessId, id))];
      let dropped = false;
      const limit = record.firstAttemptAt + this.redeliveryLimitMs;
      if (delivered) {
        record.status = 'delivered';
        writes.push(del('outbox', outboxKey(businessId, id)));
      } else if (now >= limit) {
        record.status = 'dropped';
        dropped = true;
        writes.push(del('outbox', outboxKey(businessId, id)));
      } else {
        const next = Math.min(now + backoffDelay(this.redeliveryBackoff, record.attempts), limit);
        writes.push(...this.outboxPut(businessId, id, 'inbound', next, record.deadline));
      }
      writes.push(
        this.sealedPut(
          ctx,
          'messages',
          messageKey(businessId, id),
          encodeMessageRecord(record),
          record.deadline,
        ),
      );
      if (await this.commitIfUnchanged(writes, 'messages', messageKey(businessId, id), stored.version)) {
        if (dropped) {
          this.log('warn', 'inbound message dropped: the handler failed until the redelivery limit', {
            businessId,
            messageId: id,
            attempts: record.attempts,
          });
          this.emit(businessId, { type: 'dropped', businessId, messageId: id, attempts: record.attempts });
        } else if (!delivered) {
          this.log('warn', 'message handler failed; redelivery scheduled', {
            businessId,
            messageId: id,
            attempt: record.attempts,
          });
        }
      }
    });
  }

  /**
   * Hands a message to the business's handler. The content buffer is the handler's once it
   * settles (the gateway keeps no reference); a handler still running when the plaintext TTL
   * runs out counts as a failed attempt and the buffer it was handed is zeroed.
   */
  private async callHandler(handler: MessageHandler, message: () => InboundMessage): Promise<boolean> {
    const opened = message();
    const lease = this.leases.acquire(opened.content);
    const settled = (async () => handler(opened))().then(
      () => true,
      // The handler's failure is the business's; the message waits for the next attempt.
      () => false,
    );
    const delivered = await Promise.race([settled, lease.expired.then(() => false)]);
    lease.handOver();
    return delivered && !lease.revoked;
  }

  // ── Outbound ──────────────────────────────────────────────────────────────────────

  /**
   * Accepts a message for a person: stored (encrypted) before this resolves, then encrypted
   * for each of the person's devices and handed to the transport in the background.
   */
  async send(request: SendRequest): Promise<MessageId> {
    this.assertOpen();
    assertPhoneNumber(request?.from, 'from');
    assertPhoneNumber(request.to, 'to');
    const given = request.content;
    if (
      !(typeof given === 'string' || given instanceof Uint8Array) ||
      (typeof given === 'string' ? utf8Length(given) : given.length) > MAX_CONTENT_LENGTH
    ) {
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        `"content" expected a string or bytes of at most ${MAX_CONTENT_LENGTH} bytes`,
      );
    }
    const businessId = await this.businessOfNumber(request.from);
    const ctx = await this.business(businessId);
    const pseudonym = this.pseudonym(ctx, request.to);
    const recipient = brandPseudonym(pseudonym);
    const id = this.newMessageId();
    const now = this.clock.now();
    const deadline = now + ctx.retentionMs;
    let notBefore = now;
    if (this.monitor) {
      // Checked and counted in one synchronous step: many concurrent sends cannot all pass
      // the check before any of them is counted.
      const permit = this.checkSend(this.monitor, businessId);
      if (permit.level === 'throttle' && permit.minIntervalMs !== undefined) {
        notBefore = Math.max(now, this.throttleNext.get(businessId) ?? now);
        this.throttleNext.set(businessId, notBefore + permit.minIntervalMs);
      }
      this.monitor.recordSent({ businessId, recipient });
      this.integrityDirty.add(businessId);
    }
    const { period, key } = await this.periodKeys.forDeadline(businessId, deadline);
    // Copied only now, after every await: sealed and zeroed in one synchronous step.
    const content = typeof given === 'string' ? utf8(given) : given.slice();
    const record: MessageRecord = {
      direction: 'outbound',
      status: 'accepted',
      createdAt: now,
      deadline,
      number: request.from,
      pseudonym,
      deviceId: 0,
      attempts: 0,
      firstAttemptAt: 0,
      devices: [],
      period,
      content: sealContent(this.crypto, this.random, key, contentAad(businessId, id), request.to, content),
    };
    wipe(content);
    await this.store.commit(this.messageWrites(ctx, id, record, now, notBefore));
    this.ledger?.recordSent({ businessId, messageId: id, recipient });
    this.emit(businessId, { type: 'status', businessId, messageId: id, status: 'accepted' });
    if (notBefore > now) {
      // Throttled: the due-time index hands it to `runDue`/`tick` at its slot.
      this.log('debug', 'send throttled by integrity rules', {
        businessId,
        messageId: id,
        delayMs: notBefore - now,
      });
    } else {
      this.track(this.processOutbound(businessId, id));
    }
    return id;
  }

  /** Sends a message again to every device that has not confirmed delivery; refused after the deadline. */
  async retransmit(messageId: string): Promise<void> {
    this.assertOpen();
    const id = messageId as MessageId;
    const index = await this.messageIndex(id);
    const ctx = await this.business(index.businessId);
    if (this.monitor) this.checkSend(this.monitor, ctx.id);
    await this.queue.run(id, async () => {
      const now = this.clock.now();
      const stored = await this.readMessage(ctx, id);
      if (!stored || index.deadline <= now) throw expired(id);
      const record = stored.record;
      if (record.direction !== 'outbound') {
        throw new ParleyError('ERR_INVALID_ARGUMENT', 'only outbound messages can be retransmitted');
      }
      for (const device of record.devices) if (device.state === 'sent') device.state = 'pending';
      record.attempts = 0;
      record.firstAttemptAt = 0;
      if (record.status !== 'delivered') record.status = 'accepted';
      const key = messageKey(ctx.id, id);
      await this.store.commit(
        [
          this.sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline),
          ...this.outboxPut(ctx.id, id, 'outbound', now, record.deadline),
        ],
        { expectVersions: [{ namespace: 'messages', key, version: stored.version }] },
      );
      if (record.status === 'accepted') {
        this.emit(ctx.id, { type: 'status', businessId: ctx.id, messageId: id, status: 'accepted' });
      }
    });
    this.track(this.processOutbound(ctx.id, id));
  }

  /** A delivery receipt from a person's device for one outbound frame. */
  async receiveReceipt(receipt: DeliveryReceipt): Promise<void> {
    this.assertOpen();
    const parsed = parseFrameId(receipt?.frameId);
    if (!parsed)
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"frameId" is not a frame id this gateway issued');
    const index = await this.store.get('meta', messageIndexKey(parsed.id));
    if (!index) return;
    const { businessId } = decodeMessageIndex(index.value);
    const ctx = await this.business(businessId);
    await this.queue.run(parsed.id, async () => {
      const stored = await this.readMessage(ctx, parsed.id);
      if (stored?.record.direction !== 'outbound') return;
      const record = stored.record;
      const device = record.devices.find((candidate) => candidate.id === parsed.deviceId);
      if (!device || device.state === 'delivered') return;
      device.state = 'delivered';
      const first = record.status !== 'delivered';
      record.status = 'delivered';
      const key = messageKey(businessId, parsed.id);
      const writes = [this.sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline)];
      if (record.devices.every((candidate) => candidate.state !== 'pending')) {
        writes.push(del('outbox', outboxKey(businessId, parsed.id)));
      }
      if ((await this.commitIfUnchanged(writes, 'messages', key, stored.version)) && first) {
        if (this.monitor) {
          this.monitor.recordDelivered({ businessId });
          this.integrityDirty.add(businessId);
        }
        this.ledger?.recordDelivered({
          businessId,
          messageId: parsed.id,
          recipient: brandPseudonym(record.pseudonym),
        });
        this.emit(businessId, { type: 'status', businessId, messageId: parsed.id, status: 'delivered' });
      }
    });
  }

  /** One sending attempt of an outbound message, if it is due. */
  private processOutbound(businessId: string, id: MessageId): Promise<void> {
    return this.queue.run(id, async () => {
      const ctx = await this.business(businessId);
      const now = this.clock.now();
      const entryRecord = await this.store.get('outbox', outboxKey(businessId, id));
      if (!entryRecord) return;
      const entry = decodeOutboxEntry(entryRecord.value);
      if (entry.deadline <= now) return this.expire(businessId, id, entry.direction);
      if (entry.nextAttemptAt > now) return;
      const stored = await this.readMessage(ctx, id);
      const periodKey = stored && (await this.periodKeys.forPeriod(businessId, stored.record.period));
      if (!stored || !periodKey) return this.expire(businessId, id, 'outbound');
      const record = stored.record;
      // A first attempt right after `send` was checked there; a throttled (deferred) message
      // and every retry are checked again here: nothing of a blocked business reaches the
      // transport after the block.
      const deferred = record.attempts > 0 || entry.nextAttemptAt > record.createdAt;
      if (deferred && this.monitor && this.readLevel(this.monitor, businessId) === 'block') {
        return this.failBlocked(ctx, id, entry, stored);
      }
      const aad = contentAad(businessId, id);
      const opened = openContent(this.crypto, periodKey, aad, record.content);
      const phoneNumber = opened.phoneNumber;
      wipe(opened.content);
      // Content is opened again for each device, right before it is encrypted, and zeroed
      // right after: nothing holds it while the directory or the transport is awaited. After
      // the TTL revoked a buffer, the record is read again from the store.
      const open: OpenContent = async (reread) => {
        let sealed = record.content;
        if (reread) {
          const again = await this.readMessage(ctx, id);
          if (!again) throw new ParleyError('ERR_NOT_FOUND', 'the message was erased or expired meanwhile');
          sealed = again.record.content;
        }
        const { content } = openContent(this.crypto, periodKey, aad, sealed);
        const lease = this.leases.acquire(content);
        const plaintext =
          this.paddingBlock === false ? content : lease.add(padContent(content, this.paddingBlock));
        return { lease, plaintext };
      };
      record.attempts += 1;
      if (record.firstAttemptAt === 0) record.firstAttemptAt = now;
      let failure: ErrorCode | undefined;
      // One person at a time: an erasure waits for this attempt, and this attempt, once it
      // runs after an erasure, finds the message gone and builds no session.
      const erased = await this.queue.run(personQueueKey(businessId, record.pseudonym), async () => {
        if (!(await this.store.get('messages', messageKey(businessId, id)))) return true;
        try {
          if (record.devices.length === 0) {
            const devices = await this.resolveDevices(ctx, phoneNumber, record.pseudonym);
            record.devices = devices.map((deviceId) => ({ id: deviceId, state: 'pending' }));
          }
          const sessions = this.sessions(ctx, record.number);
          for (const device of record.devices) {
            if (device.state !== 'pending') continue;
            try {
              const address = { name: record.pseudonym, deviceId: device.id };
              const message = await this.encryptFor(ctx, sessions, address, phoneNumber, record.number, open);
              await this.transport.send({
                frameId: `${id}.${device.id}.${record.attempts}`,
                from: record.number,
                to: phoneNumber,
                deviceId: device.id,
                type: message.type,
                body: message.body,
              });
              device.state = 'sent';
            } catch (error) {
              failure ??= failureReason(error);
            }
          }
        } catch (error) {
          failure ??= failureReason(error);
        }
        return false;
      });
      if (erased) return;
      const key = messageKey(businessId, id);
      // This attempt spends the entry's hint in the time index.
      const writes: WriteOperation[] = [del('outbox', dueKey(dueAt(entry), businessId, id))];
      let event: GatewayEvent | undefined;
      let next: number | undefined;
      const allSent =
        record.devices.length > 0 && record.devices.every((device) => device.state !== 'pending');
      if (allSent) {
        writes.push(del('outbox', outboxKey(businessId, id)));
        if (record.status !== 'delivered' && record.status !== 'sent') {
          record.status = 'sent';
          event = { type: 'status', businessId, messageId: id, status: 'sent' };
        }
      } else if (record.attempts >= this.maxSendAttempts) {
        writes.push(del('outbox', outboxKey(businessId, id)));
        if (record.status !== 'delivered') {
          record.status = 'failed';
          event = { type: 'status', businessId, messageId: id, status: 'failed', reason: failure };
        }
      } else {
        next = now + backoffDelay(this.sendBackoff, record.attempts);
        writes.push(...this.outboxPut(businessId, id, 'outbound', next, record.deadline));
      }
      writes.push(this.sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline));
      if (!(await this.commitIfUnchanged(writes, 'messages', key, stored.version))) return;
      if (event?.type === 'status' && event.status === 'failed') {
        if (this.monitor) {
          this.monitor.recordFailed({ businessId });
          this.integrityDirty.add(businessId);
        }
        this.ledger?.recordFailed({ businessId, messageId: id });
        this.log('warn', 'message failed: sending attempts exhausted', {
          businessId,
          messageId: id,
          attempts: record.attempts,
          code: failure,
        });
      } else if (next !== undefined) {
        this.log('warn', 'sending attempt failed; retry scheduled', {
          businessId,
          messageId: id,
          attempt: record.attempts,
          code: failure,
          retryInMs: next - now,
        });
      }
      if (event) this.emit(businessId, event);
    });
  }

  private async encryptFor(
    ctx: BusinessContext,
    sessions: SessionManager,
    address: ProtocolAddress,
    phoneNumber: string,
    number: string,
    open: OpenContent,
  ): Promise<CiphertextMessage> {
    if (!(await sessions.hasSession(address)))
      await this.startSession(ctx, sessions, address, phoneNumber, number);
    try {
      return await this.encryptLeased(sessions, address, open);
    } catch (error) {
      // A session the device never answered is too old to use, or it vanished: start over.
      if (!isParleyError(error, 'ERR_SESSION_EXPIRED') && !isParleyError(error, 'ERR_SESSION_NOT_FOUND'))
        throw error;
      await this.startSession(ctx, sessions, address, phoneNumber, number);
      return this.encryptLeased(sessions, address, open);
    }
  }

  /**
   * Encrypts freshly opened content and zeroes it. When the plaintext TTL ran out while the
   * session store was awaited, the buffer may have been zeroed before it was encrypted: that
   * ciphertext is discarded (the ratchet skips a counter, which the receiver tolerates) and the
   * content is read again from the store.
   */
  private async encryptLeased(
    sessions: SessionManager,
    address: ProtocolAddress,
    open: OpenContent,
  ): Promise<CiphertextMessage> {
    for (let attempt = 1; attempt <= 2; attempt++) {
      const { lease, plaintext } = await open(attempt > 1);
      try {
        const message = await sessions.encrypt(address, plaintext);
        if (!lease.revoked) return message;
      } finally {
        lease.release();
      }
    }
    throw new ParleyError(
      'ERR_STORE_FAILURE',
      'the session store took longer than plaintextTtlMs twice; the content was not kept in memory',
    );
  }

  private async startSession(
    ctx: BusinessContext,
    sessions: SessionManager,
    address: ProtocolAddress,
    phoneNumber: string,
    number: string,
  ): Promise<void> {
    const bundle = await this.directory.fetchBundle(phoneNumber, address.deviceId);
    const result = await sessions.processBundle(address, bundle);
    this.ledger?.recordSessionEstablished({ businessId: ctx.id });
    if (result.identityChange) {
      this.log('info', 'a person’s identity key changed; the new one is accepted', { businessId: ctx.id });
      this.emit(ctx.id, {
        type: 'identity-changed',
        businessId: ctx.id,
        number,
        phoneNumber,
        deviceId: address.deviceId,
      });
    }
  }

  private async resolveDevices(
    ctx: BusinessContext,
    phoneNumber: string,
    pseudonym: string,
  ): Promise<number[]> {
    const known = await this.readSealed(ctx, 'meta', devicesKey(ctx.id, pseudonym));
    if (known) {
      const devices = decodeDeviceList(known);
      if (devices.length > 0) return devices;
    }
    const devices = [...(await this.directory.fetchDevices(phoneNumber))];
    for (const deviceId of devices) assertDeviceId(deviceId);
    if (devices.length === 0) throw new ParleyError('ERR_NOT_FOUND', 'the recipient has no devices');
    await this.store.commit([
      this.sealedPut(ctx, 'meta', devicesKey(ctx.id, pseudonym), encodeDeviceList(devices)),
    ]);
    return devices;
  }

  private async expire(businessId: string, id: MessageId, direction: Direction): Promise<void> {
    await this.store.commit([del('outbox', outboxKey(businessId, id))]);
    this.log('info', 'message expired before it could be handed over', {
      businessId,
      messageId: id,
      direction,
    });
    if (direction === 'outbound') {
      this.ledger?.recordExpired({ businessId, messageId: id });
      this.emit(businessId, {
        type: 'status',
        businessId,
        messageId: id,
        status: 'expired',
        reason: 'ERR_RETENTION_EXPIRED',
      });
    } else {
      this.emit(businessId, { type: 'dropped', businessId, messageId: id, attempts: 0 });
    }
  }

  // ── Devices and erasure ───────────────────────────────────────────────────────────

  /**
   * The transport's device list for a person. Sessions of removed devices are deleted in
   * every business that knows the person; new devices get sessions when next messaged.
   */
  async setDevices(phoneNumber: string, deviceIds: readonly number[]): Promise<void> {
    this.assertOpen();
    assertPhoneNumber(phoneNumber, 'phoneNumber');
    for (const deviceId of deviceIds) assertDeviceId(deviceId);
    const devices = [...new Set(deviceIds)];
    for (const ctx of await this.allBusinesses()) {
      const pseudonym = this.pseudonym(ctx, phoneNumber);
      const known = await this.readSealed(ctx, 'meta', devicesKey(ctx.id, pseudonym));
      if (!known) continue;
      const removed = decodeDeviceList(known).filter((deviceId) => !devices.includes(deviceId));
      for (const number of await this.numbers(ctx.id)) {
        const sessions = this.sessions(ctx, number);
        for (const deviceId of removed) await sessions.deleteSession({ name: pseudonym, deviceId });
      }
      await this.store.commit([
        this.sealedPut(ctx, 'meta', devicesKey(ctx.id, pseudonym), encodeDeviceList(devices)),
      ]);
    }
  }

  /**
   * Deletes everything tied to a person's phone number for one business, in one commit:
   * messages (with the clear number), sessions, identity keys, device list, dedup and
   * rate-limit records.
   */
  async erase(businessId: string, phoneNumber: string): Promise<void> {
    this.assertOpen();
    assertPhoneNumber(phoneNumber, 'phoneNumber');
    const ctx = await this.business(businessId);
    const pseudonym = this.pseudonym(ctx, phoneNumber);
    // After any send to this person under way: it cannot rebuild a session once this ran.
    await this.queue.run(personQueueKey(businessId, pseudonym), () =>
      this.erasePseudonym(ctx, pseudonym, true),
    );
    // The stored statistics windows must not keep the person either (not only after the next tick).
    await this.persistStatistics();
    this.log('info', 'a person’s data was erased', { businessId });
  }

  private async erasePseudonym(
    ctx: BusinessContext,
    pseudonym: string,
    withMessages: boolean,
  ): Promise<void> {
    const biz = ctx.id;
    const writes: WriteOperation[] = [];
    if (withMessages) {
      const prefix = personIndexPrefix(biz, pseudonym);
      for (const entry of await this.store.list('meta', { prefix })) {
        const id = entry.key.slice(prefix.length);
        writes.push(
          del('messages', messageKey(biz, id)),
          del('outbox', outboxKey(biz, id)),
          del('meta', messageIndexKey(id)),
          del('meta', entry.key),
        );
      }
    }
    for (const entry of await this.store.list('meta', { prefix: seenPrefix(biz, pseudonym) }))
      writes.push(del('meta', entry.key));
    writes.push(del('meta', devicesKey(biz, pseudonym)), del('meta', contactKey(biz, pseudonym)));
    for (const number of await this.numbers(biz)) {
      const records = this.sessions(ctx, number).records;
      for (const entry of await this.store.list('sessions', { prefix: records.sessionPrefix(pseudonym) })) {
        writes.push(del('sessions', entry.key));
      }
      writes.push(del('identities', records.remoteIdentityKey(pseudonym)));
      for (const entry of await this.store.list('meta', {
        prefix: retryLimitPrefix(biz, number, pseudonym),
      })) {
        writes.push(del('meta', entry.key));
      }
    }
    await this.store.commit(writes);
    // The session managers may still hold the person's decoded sessions in memory.
    for (const sessions of ctx.numbers.values()) sessions.forgetName(pseudonym);
    // Integrity keeps nothing per person (keyed hashes folded into shared sketches).
    this.ledger?.forgetPerson(biz, brandPseudonym(pseudonym));
  }

  // ── Schedule-driven work ──────────────────────────────────────────────────────────

  /** Everything due at `clock.now()`: redeliveries, retries, expiries, prekey upkeep, retention. */
  async tick(): Promise<void> {
    if (this.closed) return;
    try {
      // First, so that work stuck on a slow store or handler holds no plaintext past the TTL.
      this.leases.expire();
      await this.runDue();
      await this.maintainPreKeys();
      await this.sweep();
      await this.persistIntegrity();
      await this.persistStatistics();
    } catch (error) {
      this.reportError(error);
    }
  }

  /**
   * Runs the due redeliveries and sending attempts (of one business, or all), and reports
   * expiries. Reads only the time index of due work up to now, not the whole outbox.
   */
  async runDue(businessId?: string): Promise<void> {
    this.assertOpen();
    const now = this.clock.now();
    // Hints left in place (busy, another business, not yet deliverable) are skipped by key.
    const skipped = new Set<string>();
    for (;;) {
      const limit = skipped.size + DUE_PAGE;
      const page = await this.store.list('outbox', { prefix: DUE_PREFIX, limit });
      let progressed = false;
      for (const hint of page) {
        if (skipped.has(hint.key)) continue;
        const due = parseDueKey(hint.key);
        if (due && due.at > now) return;
        if (
          !due ||
          (businessId !== undefined && due.businessId !== businessId) ||
          // Already under way (a slow transport, store or handler): not waited for here.
          this.queue.busy(due.id)
        ) {
          skipped.add(hint.key);
          continue;
        }
        progressed = true;
        try {
          if (!(await this.runHint(hint.key, due, now))) skipped.add(hint.key);
        } catch (error) {
          skipped.add(hint.key);
          this.reportError(error);
        }
      }
      if (page.length < limit || !progressed) return;
    }
  }

  /** Runs one due item; true when its hint is spent (and deleted). */
  private async runHint(
    hintKey: string,
    due: { at: number; businessId: string; id: MessageId },
    now: number,
  ): Promise<boolean> {
    const { businessId: biz, id } = due;
    const before = await this.store.get('outbox', outboxKey(biz, id));
    if (before) {
      const entry = decodeOutboxEntry(before.value);
      if (dueAt(entry) === due.at) {
        if (entry.deadline <= now) await this.queue.run(id, () => this.expire(biz, id, entry.direction));
        else await (entry.direction === 'inbound' ? this.deliver(biz, id) : this.processOutbound(biz, id));
      }
    }
    // Spent once the entry is gone or has another due time (it wrote its own hint); an entry
    // still due at this time (no handler yet) keeps its hint.
    const after = await this.store.get('outbox', outboxKey(biz, id));
    if (after && dueAt(decodeOutboxEntry(after.value)) === due.at) return false;
    return this.commitIfUnchanged(
      [del('outbox', hintKey)],
      'outbox',
      outboxKey(biz, id),
      after?.version ?? 0,
    );
  }

  /**
   * Tops up one-time EC and Kyber prekeys below their low-water marks, rotates the signed
   * prekey and the last-resort Kyber prekey on schedule, removes the previous ones after their
   * grace period (a Kyber prekey with the base keys it served) and re-publishes anything a
   * failed upload left out of the directory.
   */
  async maintainPreKeys(): Promise<void> {
    this.assertOpen();
    for (const ctx of await this.allBusinesses()) {
      for (const number of await this.numbers(ctx.id)) {
        try {
          await this.queue.run(`keys/${number}`, () => this.maintainNumber(ctx, number));
        } catch (error) {
          this.reportError(error);
        }
      }
    }
  }

  private async maintainNumber(ctx: BusinessContext, number: string): Promise<void> {
    const now = this.clock.now();
    const stored = await this.readSealed(ctx, 'meta', numberKeysKey(ctx.id, number));
    if (!stored) return;
    let keys = decodeNumberKeys(stored);
    const sessions = this.sessions(ctx, number);
    let changed = !keys.published;
    let oneTime: { id: number; publicKey: Uint8Array }[] = [];
    let oneTimeKyber: SignedPublicPreKey[] = [];
    const rotate = now - keys.signedPreKeyCreatedAt >= this.signedRotationMs;
    if (rotate) {
      const id = keys.nextSignedPreKeyId;
      await sessions.generateSignedPreKey(id);
      keys = {
        ...keys,
        signedPreKeyId: id,
        signedPreKeyCreatedAt: now,
        nextSignedPreKeyId: nextId(id, 1),
        previousSignedPreKeys: [
          ...keys.previousSignedPreKeys,
          { id: keys.signedPreKeyId, removeAt: now + this.signedGraceMs },
        ],
      };
      changed = true;
    }
    // A number added before Kyber prekeys existed gets its first last-resort key here.
    if (rotate || keys.lastResortKyberPreKeyId === 0) {
      const id = keys.nextKyberPreKeyId;
      await sessions.generateKyberPreKey(id, { lastResort: true });
      const previous = keys.lastResortKyberPreKeyId;
      keys = {
        ...keys,
        lastResortKyberPreKeyId: id,
        nextKyberPreKeyId: nextId(id, 1),
        previousKyberPreKeys:
          previous === 0
            ? keys.previousKyberPreKeys
            : [...keys.previousKyberPreKeys, { id: previous, removeAt: now + this.signedGraceMs }],
      };
      changed = true;
    }
    const due = (previous: PreviousPreKey) => previous.removeAt <= now;
    const expiredSigned = keys.previousSignedPreKeys.filter(due);
    const expiredKyber = keys.previousKyberPreKeys.filter(due);
    if (expiredSigned.length > 0 || expiredKyber.length > 0) {
      for (const previous of expiredSigned) await sessions.removePreKey('signed', previous.id);
      for (const previous of expiredKyber) await sessions.removePreKey('kyber', previous.id);
      keys = {
        ...keys,
        previousSignedPreKeys: keys.previousSignedPreKeys.filter((previous) => !due(previous)),
        previousKyberPreKeys: keys.previousKyberPreKeys.filter((previous) => !due(previous)),
      };
      // Removal is local: nothing new for the directory, but the schedule must be saved.
      await this.saveNumberKeys(ctx, number, keys);
    }
    if ((await this.directory.availableOneTimePreKeys(number)) < this.preKeyLowWater) {
      oneTime = await sessions.generateOneTimePreKeys(keys.nextOneTimePreKeyId, this.preKeyBatch);
      keys = { ...keys, nextOneTimePreKeyId: nextId(keys.nextOneTimePreKeyId, this.preKeyBatch) };
      changed = true;
    }
    if ((await this.directory.availableOneTimeKyberPreKeys(number)) < this.kyberLowWater) {
      oneTimeKyber = await generateOneTimeKyberPreKeys(sessions, keys.nextKyberPreKeyId, this.kyberBatch);
      keys = { ...keys, nextKyberPreKeyId: nextId(keys.nextKyberPreKeyId, this.kyberBatch) };
      changed = true;
    }
    if (!changed) return;
    keys = { ...keys, published: false };
    await this.saveNumberKeys(ctx, number, keys);
    await this.publish(ctx, number, keys, oneTime, oneTimeKyber);
  }

  /**
   * Retention: deletes expired records, destroys period keys whose period ended (shredding
   * their content in every copy of the message store) and the protocol state of people
   * inactive longer than `inactivityMs`.
   */
  async sweep(): Promise<SweepResult> {
    this.assertOpen();
    const now = this.clock.now();
    let inactive = 0;
    for (const ctx of await this.allBusinesses()) {
      const prefix = contactPrefix(ctx.id);
      const contacts = await this.store.list('meta', { prefix });
      let active = contacts.length;
      for (const contact of contacts) {
        const last = decodeTimestamp(ctx.sealer.open('meta', contact.key, contact.value));
        if (last + this.inactivityMs > now) continue;
        active -= 1;
        const pseudonym = contact.key.slice(prefix.length);
        await this.queue.run(personQueueKey(ctx.id, pseudonym), () =>
          this.erasePseudonym(ctx, pseudonym, false),
        );
        inactive += 1;
      }
      this.updateKnownContacts(ctx.id, active);
    }
    const records = await this.store.sweepExpired(now);
    const periodKeys = await this.periodKeys.destroyExpired();
    if (records > 0 || periodKeys > 0 || inactive > 0)
      this.log('info', 'retention sweep', { records, periodKeys, inactive });
    return { records, periodKeys, inactive };
  }

  /**
   * Plaintext buffers the gateway holds right now (content being encrypted or handed to a
   * handler that has not returned) and the age of the oldest, on the injected clock. Never
   * more than `plaintextTtlMs` after a `tick()`.
   */
  plaintextInUse(): { readonly buffers: number; readonly oldestAgeMs: number | undefined } {
    const { leases, oldestAgeMs } = this.leases.stats();
    return { buffers: leases, oldestAgeMs };
  }

  /** Resolves when no background work started by this gateway is running. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops the timer, waits for background work and forgets cached keys. Stores stay open (the caller owns them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.interval) clearInterval(this.interval);
    await this.idle();
    try {
      await this.persistIntegrity();
      await this.persistStatistics();
    } catch (error) {
      this.reportError(error);
    }
    this.leases.clear();
    this.periodKeys.clear();
    for (const pending of this.businesses.values()) {
      pending.then((ctx) => wipe(ctx.pseudonymKey)).catch(() => undefined);
    }
    this.businesses.clear();
  }

  // ── Integrity, statistics and spam reports ────────────────────────────────────────

  /**
   * The transport side's view of the integrity signals (the network's interface, not the
   * business's and not the rest of the platform's): a level with its reasons and counts per
   * business, read-only. Hand this object to the network and nothing else of the gateway.
   * A business's counters are restored from the store when the gateway first works for it
   * after a start (any call for it, or the first `tick()`); until then it reads `ok`.
   */
  integritySignals(): IntegritySignals {
    if (!this.signalsReader)
      throw new ParleyError('ERR_CONFIGURATION', 'integrity monitoring is off (integrity: false)');
    return this.signalsReader;
  }

  /**
   * The only interface for "the rest of the platform": non-personal statistics and billing
   * counters per business and UTC day, as typed snapshots (counts, never people).
   */
  statisticsExport(): PlatformExport {
    if (!this.platformExport)
      throw new ParleyError('ERR_CONFIGURATION', 'statistics are off (statistics: false)');
    return this.platformExport;
  }

  /**
   * A person's spam report, relayed by the transport. Counts toward the business's integrity
   * signal only when the gateway's own record shows the message was delivered to that
   * reporter, and only once per message. The reporter's number is turned into the business's
   * pseudonym for that check and kept nowhere.
   */
  async receiveSpamReport(report: SpamReport): Promise<SpamReportOutcome> {
    this.assertOpen();
    assertPhoneNumber(report?.reporter, 'reporter');
    const to: unknown = report.to;
    if (typeof to !== 'string')
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"to" expected a business number or business id');
    const messageId = parseFrameId(report.messageId)?.id ?? report.messageId;
    if (typeof messageId !== 'string' || !MESSAGE_ID.test(messageId))
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"messageId" expected a message id this gateway issued');
    const businessId = PHONE_NUMBER.test(to) ? await this.businessOfNumber(to) : to;
    const ctx = await this.business(businessId);
    const monitor = this.monitor;
    if (!monitor)
      throw new ParleyError('ERR_CONFIGURATION', 'integrity monitoring is off (integrity: false)');
    const outcome = await monitor.recordSpamReport({
      businessId,
      messageId,
      reporterPseudonym: brandPseudonym(this.pseudonym(ctx, report.reporter)),
    });
    this.log('info', 'spam report', { businessId, outcome });
    if (outcome === 'counted') {
      this.integrityDirty.add(businessId);
      this.readLevel(monitor, businessId);
    }
    return outcome;
  }

  /** The spam-report check, from the gateway's own message records (they expire with retention). */
  private async wasDeliveredTo(query: {
    readonly businessId: string;
    readonly messageId: string;
    readonly reporter: Pseudonym;
  }): Promise<boolean> {
    const ctx = await this.business(query.businessId);
    const stored = await this.readMessage(ctx, query.messageId as MessageId);
    const record = stored?.record;
    return (
      record?.direction === 'outbound' &&
      record.pseudonym === query.reporter &&
      record.devices.some((device) => device.state === 'delivered')
    );
  }

  /**
   * The monitor, once its sketch key is unwrapped: one key per message store, wrapped by the
   * key provider like the businesses' keys, so the sketches persisted in `counters` still
   * match after a restart.
   */
  private integrityMonitor(): Promise<IntegrityMonitor | undefined> {
    const config = this.integrityConfig;
    if (!config) return Promise.resolve(undefined);
    if (this.monitor) return Promise.resolve(this.monitor);
    if (!this.monitorLoading) {
      const loading = this.loadMonitor(config);
      this.monitorLoading = loading;
      loading.catch(() => {
        if (this.monitorLoading === loading) this.monitorLoading = undefined;
      });
    }
    return this.monitorLoading;
  }

  private async loadMonitor(config: IntegrityConfig): Promise<IntegrityMonitor> {
    let stored = await this.store.get('meta', INTEGRITY_KEY);
    if (!stored) {
      const fresh = this.random(KEY_LENGTH);
      const wrapped = await this.keyProvider.wrapKey(fresh, INTEGRITY_KEY_CONTEXT);
      wipe(fresh);
      try {
        await this.store.commit([put('meta', INTEGRITY_KEY, wrapped)], {
          expectVersions: [{ namespace: 'meta', key: INTEGRITY_KEY, version: 0 }],
        });
      } catch (error) {
        if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
      }
      stored = await this.store.get('meta', INTEGRITY_KEY);
      if (!stored) throw new ParleyError('ERR_STORE_FAILURE', 'the integrity key could not be stored');
    }
    const sketchKey = await this.keyProvider.unwrapKey(stored.value, INTEGRITY_KEY_CONTEXT);
    const { monitor } = createIntegrity({
      clock: this.clock,
      config,
      sketchKey,
      wasDeliveredTo: (query) => this.wasDeliveredTo(query),
    });
    wipe(sketchKey);
    this.monitor ??= monitor;
    return this.monitor;
  }

  /** Restores a business's integrity counters from the store (when the business is loaded). */
  private async restoreIntegrity(ctx: BusinessContext): Promise<void> {
    const monitor = await this.integrityMonitor();
    if (!monitor) return;
    const stored = await this.store.get('counters', integrityStateKey(ctx.id));
    if (!stored) return;
    try {
      const bytes = ctx.sealer.open('counters', integrityStateKey(ctx.id), stored.value);
      const { sketchesKept } = restoreIntegrityState(monitor, ctx.id, bytes);
      if (!sketchesKept)
        this.log('warn', 'integrity sketches written under another key were dropped; counts kept', {
          businessId: ctx.id,
        });
    } catch (error) {
      monitor.forgetBusiness(ctx.id);
      this.log('warn', 'integrity counters not restored (another configuration); starting over', {
        businessId: ctx.id,
        code: errorCode(error),
      });
    }
  }

  /**
   * Writes the integrity counters that changed (from `tick()` and `close()`, not per message:
   * about 28 kB per business with the default windows). The record expires when even the
   * longest window would have emptied it.
   */
  private async persistIntegrity(): Promise<void> {
    const monitor = this.monitor;
    const config = this.integrityConfig;
    if (!monitor || !config || this.integrityDirty.size === 0) return;
    const expiresAt = this.clock.now() + longestWindowMs(config);
    const written: string[] = [];
    const writes: WriteOperation[] = [];
    for (const businessId of [...this.integrityDirty]) {
      const ctx = await this.businesses.get(businessId)?.catch(() => undefined);
      if (!ctx) continue;
      this.integrityDirty.delete(businessId);
      written.push(businessId);
      const key = integrityStateKey(businessId);
      writes.push(this.sealedPut(ctx, 'counters', key, encodeIntegrityState(monitor, businessId), expiresAt));
    }
    if (writes.length === 0) return;
    try {
      await this.store.commit(writes);
    } catch (error) {
      for (const businessId of written) this.integrityDirty.add(businessId);
      throw error;
    }
  }

  /** Gives the ledger the store's people-tag key (created and wrapped on first use), once. */
  private statisticsKey(ledger: UsageLedger): Promise<void> {
    if (!this.statisticsKeyLoading) {
      const loading = (async () => {
        let stored = await this.store.get('meta', STATISTICS_KEY);
        if (!stored) {
          const fresh = this.random(KEY_LENGTH);
          const wrapped = await this.keyProvider.wrapKey(fresh, STATISTICS_KEY_CONTEXT);
          wipe(fresh);
          try {
            await this.store.commit([put('meta', STATISTICS_KEY, wrapped)], {
              expectVersions: [{ namespace: 'meta', key: STATISTICS_KEY, version: 0 }],
            });
          } catch (error) {
            if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
          }
          stored = await this.store.get('meta', STATISTICS_KEY);
          if (!stored) throw new ParleyError('ERR_STORE_FAILURE', 'the statistics key could not be stored');
        }
        const tagKey = await this.keyProvider.unwrapKey(stored.value, STATISTICS_KEY_CONTEXT);
        ledger.useTagKey(tagKey);
        wipe(tagKey);
      })();
      this.statisticsKeyLoading = loading;
      loading.catch(() => {
        if (this.statisticsKeyLoading === loading) this.statisticsKeyLoading = undefined;
      });
    }
    return this.statisticsKeyLoading;
  }

  /** Restores a business's statistics and billing from the store (when the business is loaded). */
  private async restoreStatistics(ctx: BusinessContext): Promise<void> {
    const ledger = this.ledger;
    if (!ledger) return;
    await this.statisticsKey(ledger);
    const days = await this.store.get('counters', statisticsDaysKey(ctx.id));
    const people = await this.store.get('counters', statisticsPeopleKey(ctx.id));
    if (!days && !people) return;
    try {
      const { peopleKept } = restoreStatisticsState(
        ledger,
        ctx.id,
        days && ctx.sealer.open('counters', statisticsDaysKey(ctx.id), days.value),
        people && ctx.sealer.open('counters', statisticsPeopleKey(ctx.id), people.value),
      );
      if (!peopleKept)
        this.log('warn', 'statistics windows written under another key were dropped; counts kept', {
          businessId: ctx.id,
        });
    } catch (error) {
      ledger.forgetBusiness(ctx.id);
      this.log('warn', 'statistics not restored (unreadable record); starting over', {
        businessId: ctx.id,
        code: errorCode(error),
      });
    }
  }

  /**
   * Writes the statistics of the businesses that changed (from `tick()` and `close()`): the
   * counts expire with the retention, the people's windows with the newest window (and are
   * deleted when none is open, e.g. after an erasure or expiry).
   */
  private persistStatistics(): Promise<void> {
    const run = this.statisticsWriting.then(() => this.writeStatistics());
    this.statisticsWriting = run.catch(() => undefined);
    return run;
  }

  private async writeStatistics(): Promise<void> {
    const ledger = this.ledger;
    if (!ledger) return;
    const written: string[] = [];
    const writes: WriteOperation[] = [];
    const changed = ledger.takeChanged();
    for (const businessId of changed) {
      const ctx = await this.businesses.get(businessId)?.catch(() => undefined);
      if (!ctx) {
        ledger.markChanged([businessId]);
        continue;
      }
      written.push(businessId);
      const state = encodeStatisticsState(ledger, businessId);
      writes.push(
        this.sealedPut(ctx, 'counters', statisticsDaysKey(businessId), state.days, state.daysExpireAt),
        state.people
          ? this.sealedPut(
              ctx,
              'counters',
              statisticsPeopleKey(businessId),
              state.people.bytes,
              state.people.expiresAt,
            )
          : del('counters', statisticsPeopleKey(businessId)),
      );
    }
    if (writes.length === 0) return;
    try {
      await this.store.commit(writes);
    } catch (error) {
      ledger.markChanged(written);
      throw error;
    }
  }

  /** Refuses (`ERR_INTEGRITY_BLOCKED`) or permits a business's new message; logs level changes. */
  private checkSend(monitor: IntegrityMonitor, businessId: string): SendPermit {
    let permit: SendPermit;
    try {
      permit = monitor.checkSend(businessId);
    } catch (error) {
      if (isParleyError(error, 'ERR_INTEGRITY_BLOCKED')) {
        this.noteLevel(businessId, 'block', error.details.rule as string | undefined);
        this.log('warn', 'send refused: the business is blocked by integrity rules', {
          businessId,
          rule: error.details.rule,
        });
      }
      throw error;
    }
    this.noteLevel(businessId, permit.level, permit.reasons[0]?.rule);
    return permit;
  }

  private readLevel(monitor: IntegrityMonitor, businessId: string): IntegrityLevel {
    const signal = monitor.signal(businessId);
    this.noteLevel(businessId, signal.level, signal.reasons[0]?.rule);
    return signal.level;
  }

  private noteLevel(businessId: string, level: IntegrityLevel, rule: string | undefined): void {
    const previous = this.integrityLevels.get(businessId) ?? 'ok';
    if (previous === level) return;
    this.integrityLevels.set(businessId, level);
    if (level === 'ok') this.throttleNext.delete(businessId);
    this.log(level === 'ok' ? 'info' : 'warn', 'integrity level changed', {
      businessId,
      level,
      previous,
      rule,
    });
  }

  /** The transport side's reading; before the monitor is loaded every business reads `ok`. */
  private readSignal(businessId: string): IntegritySignal {
    if (this.monitor) return this.monitor.signal(businessId);
    this.emptyMonitor ??= createIntegrity({
      clock: this.clock,
      config: this.integrityConfig,
      // Never hashes anything: it holds no counters.
      sketchKey: new Uint8Array(KEY_LENGTH),
      wasDeliveredTo: () => false,
    }).monitor;
    return this.emptyMonitor.signal(businessId);
  }

  /** The gateway's count of a business's contacts (people with protocol state), when it changed. */
  private updateKnownContacts(businessId: string, count: number): void {
    const monitor = this.monitor;
    if (!monitor || this.knownContacts.get(businessId) === count) return;
    this.knownContacts.set(businessId, count);
    monitor.setKnownContacts(businessId, count);
    this.integrityDirty.add(businessId);
  }

  /** A queued message of a blocked business: failed with `ERR_INTEGRITY_BLOCKED`, never sent. */
  private async failBlocked(
    ctx: BusinessContext,
    id: MessageId,
    entry: OutboxEntry,
    stored: { record: MessageRecord; version: number },
  ): Promise<void> {
    const businessId = ctx.id;
    const record = stored.record;
    const key = messageKey(businessId, id);
    const writes: WriteOperation[] = [
      del('outbox', dueKey(dueAt(entry), businessId, id)),
      del('outbox', outboxKey(businessId, id)),
    ];
    const fails = record.status !== 'delivered';
    if (fails) record.status = 'failed';
    writes.push(this.sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline));
    if (!(await this.commitIfUnchanged(writes, 'messages', key, stored.version)) || !fails) return;
    this.ledger?.recordFailed({ businessId, messageId: id });
    this.log('warn', 'queued message failed: the business is blocked by integrity rules', {
      businessId,
      messageId: id,
    });
    this.emit(businessId, {
      type: 'status',
      businessId,
      messageId: id,
      status: 'failed',
      reason: 'ERR_INTEGRITY_BLOCKED',
    });
  }

  // ── Helpers ───────────────────────────────────────────────────────────────────────

  private async business(businessId: string): Promise<BusinessContext> {
    assertBusinessId(businessId);
    let pending = this.businesses.get(businessId);
    if (!pending) {
      pending = this.loadBusiness(businessId);
      this.businesses.set(businessId, pending);
      pending.catch(() => this.businesses.delete(businessId));
    }
    const ctx = await pending;
    this.assertResidency(businessId, ctx.config.region);
    return ctx;
  }

  /** Every registered business this gateway may serve; one pinned elsewhere is reported and skipped. */
  private async allBusinesses(): Promise<BusinessContext[]> {
    const out: BusinessContext[] = [];
    for (const record of await this.store.list('meta', { prefix: BUSINESS_PREFIX })) {
      try {
        out.push(await this.business(record.key.slice(BUSINESS_PREFIX.length)));
      } catch (error) {
        if (!isParleyError(error, 'ERR_RESIDENCY')) throw error;
        this.reportError(error);
      }
    }
    return out;
  }

  private async loadBusiness(businessId: string): Promise<BusinessContext> {
    const record = await this.store.get('meta', businessKey(businessId));
    if (!record) throw new ParleyError('ERR_NOT_FOUND', 'no such business; call registerBusiness() first');
    const config = decodeBusinessConfig(record.value);
    this.assertResidency(businessId, config.region);
    const recordKey = await this.keyProvider.unwrapKey(config.wrappedRecordKey, recordKeyContext(businessId));
    const pseudonymKey = await this.keyProvider.unwrapKey(
      config.wrappedPseudonymKey,
      pseudonymKeyContext(businessId),
    );
    const sealer = createAesGcmSealer(this.crypto, this.random, recordKey);
    wipe(recordKey);
    const ctx: BusinessContext = {
      id: businessId,
      config,
      retentionMs: config.retentionDays * DAY_MS,
      sealer,
      pseudonymKey,
      numbers: new Map(),
    };
    await this.restoreIntegrity(ctx);
    await this.restoreStatistics(ctx);
    return ctx;
  }

  /** A business pinned to a region writes only to stores, and unwraps only with a provider, of that region. */
  private assertResidency(businessId: string, region: string | undefined): void {
    if (region === undefined) return;
    const components: [string, string | undefined][] = [
      ['store', this.store.region],
      ['vaultStore', this.vaultStore.region],
      ['keyProvider', this.keyProvider.region],
    ];
    for (const [component, declared] of components) {
      if (declared !== region) {
        throw new ParleyError('ERR_RESIDENCY', `the ${component} is not in the business's pinned region`, {
          businessId,
          component,
          required: region,
          declared: declared ?? 'undeclared',
        });
      }
    }
  }

  private async businessOfNumber(number: string): Promise<string> {
    const record = await this.store.get('meta', numberIndexKey(number));
    if (!record)
      throw new ParleyError('ERR_NOT_FOUND', 'this business number is not registered with the gateway');
    return new TextDecoder().decode(record.value);
  }

  private sessions(ctx: BusinessContext, number: string): SessionManager {
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
      });
      ctx.numbers.set(number, sessions);
    }
    return sessions;
  }

  private pseudonym(ctx: BusinessContext, phoneNumber: string): string {
    assertPhoneNumber(phoneNumber, 'phoneNumber');
    return derivePseudonym(this.crypto, ctx.pseudonymKey, phoneNumber);
  }

  /** Uploads the number's current keys (and new one-time keys), then records that it did. */
  private async publish(
    ctx: BusinessContext,
    number: string,
    keys: NumberKeys,
    oneTimePreKeys: readonly { id: number; publicKey: Uint8Array }[],
    oneTimeKyberPreKeys: readonly SignedPublicPreKey[],
  ): Promise<void> {
    const sessions = this.sessions(ctx, number);
    const identity = await sessions.localIdentity();
    const bundle = await sessions.createBundle({
      deviceId: BUSINESS_DEVICE_ID,
      signedPreKeyId: keys.signedPreKeyId,
      kyberPreKeyId: keys.lastResortKyberPreKeyId,
    });
    await this.directory.publish({
      number,
      deviceId: BUSINESS_DEVICE_ID,
      registrationId: identity.registrationId,
      identityKey: identity.identityKeyPair.publicKey,
      signedPreKey: {
        id: bundle.signedPreKeyId,
        publicKey: bundle.signedPreKey,
        signature: bundle.signedPreKeySignature,
      },
      oneTimePreKeys,
      lastResortKyberPreKey: {
        id: keys.lastResortKyberPreKeyId,
        publicKey: bundle.kyberPreKey!,
        signature: bundle.kyberPreKeySignature!,
      },
      oneTimeKyberPreKeys,
    });
    await this.saveNumberKeys(ctx, number, { ...keys, published: true });
  }

  private async saveNumberKeys(ctx: BusinessContext, number: string, keys: NumberKeys): Promise<void> {
    await this.store.commit([
      this.sealedPut(ctx, 'meta', numberKeysKey(ctx.id, number), encodeNumberKeys(keys)),
    ]);
  }

  /** The message record, its id index, the person index, its outbox entry and the contact's activity. */
  private messageWrites(
    ctx: BusinessContext,
    id: MessageId,
    record: MessageRecord,
    now: number,
    firstAttemptAt = now,
  ): WriteOperation[] {
    const biz = ctx.id;
    return [
      this.sealedPut(ctx, 'messages', messageKey(biz, id), encodeMessageRecord(record), record.deadline),
      put(
        'meta',
        messageIndexKey(id),
        encodeMessageIndex({ businessId: biz, deadline: record.deadline }),
        record.deadline + INDEX_GRACE_MS,
      ),
      put('meta', personIndexKey(biz, record.pseudonym, id), new Uint8Array(0), record.deadline),
      ...this.outboxPut(biz, id, record.direction, firstAttemptAt, record.deadline),
      this.sealedPut(ctx, 'meta', contactKey(biz, record.pseudonym), encodeTimestamp(now)),
    ];
  }

  /**
   * The outbox entry and a hint in the time index of due work. Hints are never updated in
   * place: `runDue` deletes a hint once it is spent or its entry moved to another time.
   */
  private outboxPut(
    biz: string,
    id: MessageId,
    direction: Direction,
    nextAttemptAt: number,
    deadline: number,
  ): WriteOperation[] {
    const entry = { direction, nextAttemptAt, deadline };
    const expiresAt = deadline + OUTBOX_GRACE_MS;
    return [
      put('outbox', outboxKey(biz, id), encodeOutboxEntry(entry), expiresAt),
      put('outbox', dueKey(dueAt(entry), biz, id), new Uint8Array(0), expiresAt),
    ];
  }

  private async readMessage(
    ctx: BusinessContext,
    id: MessageId,
  ): Promise<{ record: MessageRecord; version: number } | undefined> {
    const key = messageKey(ctx.id, id);
    const stored = await this.store.get('messages', key);
    if (!stored) return undefined;
    return {
      record: decodeMessageRecord(ctx.sealer.open('messages', key, stored.value)),
      version: stored.version,
    };
  }

  private async messageIndex(id: MessageId): Promise<{ businessId: string; deadline: number }> {
    const stored = typeof id === 'string' ? await this.store.get('meta', messageIndexKey(id)) : undefined;
    if (!stored)
      throw new ParleyError('ERR_NOT_FOUND', 'no such message (never sent, erased, or long expired)');
    return decodeMessageIndex(stored.value);
  }

  private sealedPut(
    ctx: BusinessContext,
    namespace: Namespace,
    key: string,
    bytes: Uint8Array,
    expiresAt?: number,
  ): WriteOperation {
    return put(namespace, key, ctx.sealer.seal(namespace, key, bytes), expiresAt);
  }

  private async readSealed(
    ctx: BusinessContext,
    namespace: Namespace,
    key: string,
  ): Promise<Uint8Array | undefined> {
    const stored = await this.store.get(namespace, key);
    return stored ? ctx.sealer.open(namespace, key, stored.value) : undefined;
  }

  /** Commits when the record is still at `version`; false when someone else (erasure, expiry) got there first. */
  private async commitIfUnchanged(
    writes: WriteOperation[],
    namespace: Namespace,
    key: string,
    version: number,
  ): Promise<boolean> {
    try {
      await this.store.commit(writes, { expectVersions: [{ namespace, key, version }] });
      return true;
    } catch (error) {
      if (isParleyError(error, 'ERR_STORE_CONFLICT')) return false;
      throw error;
    }
  }

  private async acknowledge(frameId: string): Promise<void> {
    try {
      await this.transport.acknowledge(frameId);
    } catch (error) {
      // The message is stored; an unacknowledged frame comes back and is recognised as a duplicate.
      this.reportError(error);
    }
  }

  private emit(businessId: string, event: GatewayEvent): void {
    for (const handler of this.eventHandlers.get(businessId) ?? []) {
      try {
        handler(event);
      } catch (error) {
        this.reportError(error);
      }
    }
  }

  private reportError(error: unknown): void {
    this.log('error', 'background work failed', { code: errorCode(error) });
    for (const handler of this.errorHandlers) handler(error);
  }

  private log(level: LogLevel, message: string, fields?: LogFields): void {
    logTo(this.logger, level, message, fields);
  }

  private track(work: Promise<unknown>): void {
    const tracked = work
      .catch((error) => this.reportError(error))
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private newMessageId(): MessageId {
    return `m${toHex(this.random(16))}` as MessageId;
  }

  private assertOpen(): void {
    if (this.closed) throw new ParleyError('ERR_CLOSED', 'the gateway is closed');
  }
}

function put(namespace: Namespace, key: string, value: Uint8Array, expiresAt?: number): WriteOperation {
  return { type: 'put', namespace, key, value, expiresAt };
}

function del(namespace: Namespace, key: string): WriteOperation {
  return { type: 'delete', namespace, key };
}

/** A Parley error keeps its code; anything else came from the transport or the directory. */
/** Hints of due work listed per round of `runDue`. */
const DUE_PAGE = 256;

/** When an outbox entry next needs attention: its next attempt, or its expiry if sooner. */
function dueAt(entry: OutboxEntry): number {
  return Math.min(entry.nextAttemptAt, entry.deadline);
}

function parseDueKey(key: string): { at: number; businessId: string; id: MessageId } | undefined {
  const match = /^gw\/due\/(\d{15})\/([^/]+)\/(m[0-9a-f]{32})$/.exec(key);
  return match ? { at: Number(match[1]), businessId: match[2]!, id: match[3] as MessageId } : undefined;
}

/** Opens an outbound message's content under a plaintext lease; `reread`: from the store. */
type OpenContent = (reread: boolean) => Promise<{ lease: PlaintextLease; plaintext: Uint8Array }>;

/** UTF-8 length without encoding (an encoded copy would be plaintext nobody zeroes). */
function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 4;
      i += 1;
    } else length += 3;
  }
  return length;
}

/** Work on one person of one business (sending, erasure) runs one at a time. */
function personQueueKey(businessId: string, pseudonym: string): string {
  return `person/${businessId}/${pseudonym}`;
}

function failureReason(error: unknown): ErrorCode {
  return isParleyError(error) ? error.code : 'ERR_TRANSPORT_FAILURE';
}

function expired(id: MessageId): ParleyError {
  return new ParleyError(
    'ERR_RETENTION_EXPIRED',
    'the message passed its retention deadline; it can no longer be sent',
    {
      messageId: id,
    },
  );
}

function recordKeyContext(businessId: string): string {
  return `parley/records/${businessId}`;
}

function pseudonymKeyContext(businessId: string): string {
  return `parley/pseudonym/${businessId}`;
}

const MESSAGE_ID = /^m[0-9a-f]{32}$/;

/** The longest window or lookback of an integrity configuration: no state outlives it. */
function longestWindowMs(config: IntegrityConfig): number {
  return Math.max(
    config.activityWindow.durationMs,
    config.qualityWindow.durationMs,
    config.contactsWindow.durationMs,
    config.recipientLookback.lookbackMs,
    config.replyWindow.lookbackMs,
    config.reportDedup.lookbackMs,
  );
}

/** Outbound frame ids: `{messageId}.{deviceId}.{attempt}` (random id: nothing personal). */
function parseFrameId(frameId: unknown): { id: MessageId; deviceId: number } | undefined {
  if (typeof frameId !== 'string') return undefined;
  const match = /^(m[0-9a-f]{32})\.(\d{1,10})\.\d{1,10}$/.exec(frameId);
  return match ? { id: match[1] as MessageId, deviceId: Number(match[2]) } : undefined;
}

/** `count` one-time Kyber prekeys with ids from `startId` (wrapping like the EC ones). */
async function generateOneTimeKyberPreKeys(
  sessions: SessionManager,
  startId: number,
  count: number,
): Promise<SignedPublicPreKey[]> {
  const out: SignedPublicPreKey[] = [];
  for (let i = 0; i < count; i++) {
    const { id, publicKey, signature } = await sessions.generateKyberPreKey(nextId(startId, i));
    out.push({ id, publicKey, signature });
  }
  return out;
}

/** Next prekey id after using `count` ids from `id`, wrapping within 1..0xFFFFFF as libsignal does. */
function nextId(id: number, count: number): number {
  return ((id - 1 + count) % MAX_LOCAL_PREKEY_ID) + 1;
}

function positive(value: number, field: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new ParleyError('ERR_CONFIGURATION', `"${field}" expected a positive number`, { field });
  }
  return value;
}

const BUSINESS_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** E.164: "+", then up to 15 digits, not starting with 0. */
const PHONE_NUMBER = /^\+[1-9][0-9]{3,14}$/;

function assertBusinessId(value: unknown): asserts value is string {
  if (typeof value !== 'string' || !BUSINESS_ID.test(value)) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"businessId" expected 1–64 characters of A–Z, a–z, 0–9, "_" or "-"',
    );
  }
}

function assertPhoneNumber(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || !PHONE_NUMBER.test(value)) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"${field}" expected an E.164 phone number ("+" and 4–15 digits)`,
    );
  }
}

function assertDeviceId(value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 0x7fff_ffff) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"deviceId" expected an integer from 1 to 2^31-1');
  }
}

function assertFrame(frame: InboundFrame): void {
  if (typeof frame?.frameId !== 'string' || frame.frameId.length === 0 || frame.frameId.length > 256) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"frameId" expected a string of 1–256 characters');
  }
  assertPhoneNumber(frame.to, 'to');
  assertPhoneNumber(frame.from, 'from');
  assertDeviceId(frame.deviceId);
  if (frame.type !== 2 && frame.type !== 3) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"type" expected 2 (whisper) or 3 (prekey)');
  }
  if (!(frame.body instanceof Uint8Array))
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"body" expected a Uint8Array');
}
