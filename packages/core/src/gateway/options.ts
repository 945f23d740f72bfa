import {
  assertMethods,
  assertOptionalClock,
  assertOptionalCryptoProvider,
  assertOptionalFunction,
  assertOptions,
  assertStore,
  configurationError,
} from '../configuration.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import type { IntegrityConfigInput } from '../integrity/thresholds.js';
import type { StatisticsOptions } from '../stats/ledger.js';
import type { Clock, Store } from '../storage/contract.js';
import { isSenderKeyFormat, type SenderKeyFormat } from '../wire/sender-key-format.js';
import type { BackoffPolicy } from './backoff.js';
import type { KeyProvider } from './key-provider.js';
import type { GatewayLogger } from './logger.js';
import type { GatewayMediaOptions } from './media-options.js';
import type { Directory, Transport } from './types.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** Every data key the gateway makes (record sealing, pseudonyms, period keys, gateway keys): 256 bits. */
export const KEY_LENGTH = 32;

/** MISSION.md: messages are kept at most 30 days. */
export const MAX_RETENTION_DAYS = 30;

/** The reference service's limit for redelivering to a failing webhook. */
export const DEFAULT_REDELIVERY_LIMIT_MS = 60 * 60_000;

/**
 * The retry interval: a device gets at most `RETRY_REQUESTS_PER_INTERVAL` decryption-error
 * messages from a business number in it, and a decryption error from a device archives the
 * session with it at most once in it — a broken session must not turn into a reset storm.
 */
export const DEFAULT_RETRY_REQUEST_INTERVAL_MS = 60 * 60_000;

/**
 * Decryption-error messages to one device per retry interval. More than one: each names one
 * failed message, and every message a device sent before it heard the first one fails the same
 * way (Signal clients send one per failed message); few, since each costs a frame and the
 * device's own work.
 */
export const RETRY_REQUESTS_PER_INTERVAL = 5;

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

/**
 * How long a person's device list, as the directory gave it, is used before it is asked for
 * again (a day: a new device misses at most a day of messages started before it was linked,
 * and any frame from it refreshes the list at once).
 */
export const DEFAULT_DEVICE_REFRESH_MS = DAY_MS;

/** Access-log records are kept 90 days: longer than any message, so the audit outlives what it audits. */
export const DEFAULT_ACCESS_LOG_RETENTION_MS = 90 * DAY_MS;

/**
 * How long an instance holds due work it claimed (a send attempt, a delivery to the handler)
 * before another instance may take it over: longer than any attempt takes (an attempt waits on
 * the transport, the directory and the handler), short enough that a dead instance's work
 * resumes soon.
 */
export const DEFAULT_CLAIM_LEASE_MS = 30_000;

/** Largest content `send` accepts (before padding). */
export const MAX_CONTENT_LENGTH = 64 * 1024;

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
  /**
   * Group messages: the network's sender-key format — `signal` (libsignal, with distribution
   * ids; the default) or `whatsapp` (the WhatsApp family's, as Baileys writes it).
   */
  readonly groups?: { readonly format?: SenderKeyFormat };
  /** Length of a retention period (one content key each). Default one day. */
  readonly periodMs?: number;
  readonly redelivery?: { readonly limitMs?: number; readonly backoff?: BackoffPolicy };
  readonly sending?: { readonly maxAttempts?: number; readonly backoff?: BackoffPolicy };
  /** The retry interval (default an hour; see `DEFAULT_RETRY_REQUEST_INTERVAL_MS`). */
  readonly retryRequestIntervalMs?: number;
  readonly inactivityMs?: number;
  /** Claims on due work when several instances share the store (see durable/claims.ts). */
  readonly claims?: { readonly leaseMs?: number };
  /** A person's device list is asked of the directory again after this long (default one day). */
  readonly devices?: { readonly refreshMs?: number };
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
  /**
   * The access log of operations done through `forBusiness` handles: kept `retentionMs`
   * (default 90 days); `false` turns it off.
   */
  readonly accessLog?: { readonly retentionMs?: number } | false;
  /**
   * Media (docs/media.md): the blob store (ciphertext only; its region is checked like the
   * stores'), the network's media host and the size limit per type. Without it uploads and
   * downloads are `ERR_CONFIGURATION`; people's media messages are still received and recorded.
   */
  readonly media?: GatewayMediaOptions;
}

const TRANSPORT_METHODS = ['send', 'acknowledge'] as const;
const DIRECTORY_METHODS = [
  'publish',
  'availableOneTimePreKeys',
  'availableOneTimeKyberPreKeys',
  'fetchDevices',
  'fetchBundle',
] as const;

/**
 * Every required option, and the shape of every object passed, checked before anything is
 * built: a gateway missing its transport would otherwise accept `send()` and leave the message
 * `accepted` forever, and one missing its vault store would fail at the first inbound frame.
 */
export function checkGatewayOptions(options: unknown): asserts options is GatewayOptions {
  assertOptions(
    options,
    'options',
    'createGateway({ store, vaultStore, keyProvider, transport, directory })',
  );
  const o = options as Partial<Record<keyof GatewayOptions, unknown>>;
  assertStore(o.store, 'store');
  assertStore(o.vaultStore, 'vaultStore');
  if (o.store === o.vaultStore || sameBacking(o.store, o.vaultStore)) {
    throw new ParleyError(
      'ERR_CONFIGURATION',
      '"vaultStore" expected a store of its own (another file or database than "store"): a copy of the message store must not carry the period keys',
      { field: 'vaultStore' },
    );
  }
  assertMethods(
    o.keyProvider,
    'keyProvider',
    ['wrapKey', 'unwrapKey'],
    'a KeyProvider: createLocalKeyProvider({ kek }) or your KMS-backed provider',
  );
  assertMethods(
    o.transport,
    'transport',
    TRANSPORT_METHODS,
    `a Transport: an object with ${TRANSPORT_METHODS.join(', ')} (your network)`,
  );
  assertOptionalFunction(
    (o.transport as { requestRetry?: unknown }).requestRetry,
    'transport.requestRetry',
    'a function (optional: retries are asked for with type-8 frames through send)',
  );
  assertMethods(
    o.directory,
    'directory',
    DIRECTORY_METHODS,
    `a Directory: an object with ${DIRECTORY_METHODS.join(', ')} (the network's key directory)`,
  );
  assertOptionalCryptoProvider(o.crypto, 'crypto');
  assertOptionalFunction(o.random, 'random', 'a random source: (length) => Uint8Array');
  assertOptionalClock(o.clock, 'clock');
  if (o.clock !== undefined) {
    const now: unknown = (o.clock as { now(): unknown }).now();
    if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) {
      throw configurationError('clock', 'a clock whose now() returns epoch milliseconds', now);
    }
  }
  if (o.padding !== undefined && o.padding !== false && !isIntegerIn(o.padding, 1, MAX_PADDING_BLOCK)) {
    throw configurationError(
      'padding',
      `false or a block size from 1 to ${MAX_PADDING_BLOCK} bytes`,
      o.padding,
    );
  }
  // Sections: an object when given (`false` where the section can be turned off).
  for (const [field, canBeOff] of SECTIONS) {
    const value = o[field];
    if (value === undefined || (canBeOff && value === false)) continue;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw configurationError(field, canBeOff ? 'an object, or false to turn it off' : 'an object', value);
    }
  }
  for (const field of ['redelivery', 'sending'] as const) {
    const backoff = (o[field] as { backoff?: unknown } | undefined)?.backoff;
    if (backoff !== undefined) checkBackoff(backoff, `${field}.backoff`);
  }
  // Counts are whole numbers (a low-water mark may be 0: top up only when none are left).
  for (const [section, key, min] of COUNTS) {
    const value = (o[section] as Record<string, unknown> | undefined)?.[key];
    if (value !== undefined && !isIntegerIn(value, min, MAX_COUNT)) {
      throw configurationError(`${section}.${key}`, `an integer from ${min} to ${MAX_COUNT}`, value);
    }
  }
  const timer = o.timer as { intervalMs?: unknown } | false | undefined;
  if (timer && !isIntegerIn(timer.intervalMs, 1, MAX_TIMER_MS)) {
    throw configurationError('timer.intervalMs', `an integer from 1 to ${MAX_TIMER_MS} ms`, timer.intervalMs);
  }
  if (o.groups !== undefined) {
    const format = (o.groups as { readonly format?: unknown } | null)?.format;
    if (
      typeof o.groups !== 'object' ||
      o.groups === null ||
      (format !== undefined && !isSenderKeyFormat(format))
    ) {
      throw new ParleyError(
        'ERR_CONFIGURATION',
        '"groups.format" expected "signal" (libsignal) or "whatsapp" (the WhatsApp family)',
        { field: 'groups.format' },
      );
    }
  }
  if (o.logger !== undefined) {
    assertMethods(
      o.logger,
      'logger',
      ['debug', 'info', 'warn', 'error'],
      'a GatewayLogger: an object with debug, info, warn and error (message, fields)',
    );
  }
}

/** Option sections and whether `false` turns them off. */
const SECTIONS: readonly (readonly [keyof GatewayOptions, boolean])[] = [
  ['redelivery', false],
  ['sending', false],
  ['claims', false],
  ['devices', false],
  ['preKeys', false],
  ['media', false],
  ['timer', true],
  ['integrity', true],
  ['statistics', true],
  ['accessLog', true],
];

/** Whole-number options: section, key, smallest value. */
const COUNTS: readonly (readonly [keyof GatewayOptions, string, number])[] = [
  ['sending', 'maxAttempts', 1],
  ['preKeys', 'batchSize', 1],
  ['preKeys', 'lowWaterMark', 0],
  ['preKeys', 'kyberBatchSize', 1],
  ['preKeys', 'kyberLowWaterMark', 0],
];
const MAX_COUNT = 10_000;

/** Timers take at most a signed 32-bit number of milliseconds (longer ones fire at once). */
const MAX_TIMER_MS = 0x7fff_ffff;
const MAX_PADDING_BLOCK = 65_536;

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function checkBackoff(value: unknown, field: string): void {
  const policy = value as Partial<Record<'initialMs' | 'maxMs' | 'jitter', unknown>>;
  if (typeof value !== 'object' || value === null) {
    throw configurationError(field, 'a backoff policy { initialMs, maxMs, jitter? }', value);
  }
  for (const key of ['initialMs', 'maxMs'] as const) {
    if (!isIntegerIn(policy[key], 1, MAX_TIMER_MS)) {
      throw configurationError(`${field}.${key}`, `an integer from 1 to ${MAX_TIMER_MS} ms`, policy[key]);
    }
  }
  if ((policy.maxMs as number) < (policy.initialMs as number)) {
    throw configurationError(`${field}.maxMs`, 'at least initialMs');
  }
  if (policy.jitter !== undefined && typeof policy.jitter !== 'boolean') {
    throw configurationError(`${field}.jitter`, 'a boolean', policy.jitter);
  }
}

function sameBacking(a: unknown, b: unknown): boolean {
  const location = (store: unknown) => (store as { readonly location?: unknown }).location;
  const la = location(a);
  return typeof la === 'string' && la === location(b);
}
