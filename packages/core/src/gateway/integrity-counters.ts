import { wipe } from '../bytes.js';
import { isParleyError, ParleyError } from '../errors.js';
import { encodeIntegrityState, restoreIntegrityState } from '../integrity/codec.js';
import {
  createIntegrity,
  type IntegrityMonitor,
  type SendPermit,
  type SpamReportOutcome,
} from '../integrity/monitor.js';
import type { IntegrityLevel, IntegritySignal } from '../integrity/signal.js';
import type { IntegrityConfig } from '../integrity/thresholds.js';
import { pseudonym as brandPseudonym, type Pseudonym } from '../privacy/branded.js';
import type { WriteOperation } from '../storage/contract.js';
import { business, businessOfNumber } from './businesses.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { handOver, statusEvent } from './durable/event-outbox.js';
import { dueKey, INTEGRITY_KEY, integrityStateKey, messageKey, outboxKey } from './durable/layout.js';
import { commitIfUnchanged, del, dueAt, readMessage, sealedPut } from './durable/message-store.js';
import { encodeMessageRecord, type MessageRecord, type OutboxEntry } from './durable/records.js';
import { loadOrCreateKey } from './durable/wrapped-keys.js';
import { errorCode } from './logger.js';
import { KEY_LENGTH } from './options.js';
import type { MessageId, SpamReport } from './types.js';
import {
  assertArgumentObject,
  assertPhoneNumber,
  MESSAGE_ID,
  PHONE_NUMBER,
  parseFrameId,
} from './validation.js';

export async function receiveSpamReport(g: GatewayContext, report: SpamReport): Promise<SpamReportOutcome> {
  g.assertOpen();
  assertArgumentObject(report, 'report', 'a spam report { reporter, to, messageId }');
  assertPhoneNumber(report.reporter, 'reporter');
  const to: unknown = report.to;
  if (typeof to !== 'string')
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"to" expected a business number or business id');
  const messageId = parseFrameId(report.messageId)?.id ?? report.messageId;
  if (typeof messageId !== 'string' || !MESSAGE_ID.test(messageId))
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"messageId" expected a message id this gateway issued');
  const businessId = PHONE_NUMBER.test(to) ? await businessOfNumber(g, to) : to;
  const ctx = await business(g, businessId);
  const monitor = g.monitor;
  if (!monitor) throw new ParleyError('ERR_CONFIGURATION', 'integrity monitoring is off (integrity: false)');
  const outcome = await monitor.recordSpamReport({
    businessId,
    messageId,
    reporterPseudonym: brandPseudonym(g.pseudonym(ctx, report.reporter)),
  });
  g.log('info', 'spam report', { businessId, outcome });
  if (outcome === 'counted') {
    g.integrityDirty.add(businessId);
    readLevel(g, monitor, businessId);
  }
  return outcome;
}

/** The spam-report check, from the gateway's own message records (they expire with retention). */
export async function wasDeliveredTo(
  g: GatewayContext,
  query: {
    readonly businessId: string;
    readonly messageId: string;
    readonly reporter: Pseudonym;
  },
): Promise<boolean> {
  const ctx = await business(g, query.businessId);
  const stored = await readMessage(g, ctx, query.messageId as MessageId);
  const record = stored?.record;
  if (record?.direction !== 'outbound') return false;
  // A group message: the reporter is a member one of whose devices confirmed it.
  if (record.group !== undefined) {
    return record.devices.some((device) => device.member === query.reporter && device.state === 'delivered');
  }
  return record.pseudonym === query.reporter && record.devices.some((device) => device.state === 'delivered');
}

/**
 * The monitor, once its sketch key is unwrapped: one key per message store, wrapped by the
 * key provider like the businesses' keys, so the sketches persisted in `counters` still
 * match after a restart.
 */
export function integrityMonitor(g: GatewayContext): Promise<IntegrityMonitor | undefined> {
  const config = g.integrityConfig;
  if (!config) return Promise.resolve(undefined);
  if (g.monitor) return Promise.resolve(g.monitor);
  if (!g.monitorLoading) {
    const loading = loadMonitor(g, config);
    g.monitorLoading = loading;
    loading.catch(() => {
      if (g.monitorLoading === loading) g.monitorLoading = undefined;
    });
  }
  return g.monitorLoading;
}

export async function loadMonitor(g: GatewayContext, config: IntegrityConfig): Promise<IntegrityMonitor> {
  const sketchKey = await loadOrCreateKey(g, INTEGRITY_KEY, INTEGRITY_KEY_CONTEXT);
  const { monitor } = createIntegrity({
    clock: g.clock,
    config,
    sketchKey,
    wasDeliveredTo: (query) => wasDeliveredTo(g, query),
  });
  wipe(sketchKey);
  g.monitor ??= monitor;
  return g.monitor;
}

/** Restores a business's integrity counters from the store (when the business is loaded). */
export async function restoreIntegrity(g: GatewayContext, ctx: BusinessContext): Promise<void> {
  const monitor = await integrityMonitor(g);
  if (!monitor) return;
  const stored = await g.store.get('counters', integrityStateKey(ctx.id));
  if (!stored) return;
  try {
    const bytes = ctx.sealer.open('counters', integrityStateKey(ctx.id), stored.value);
    const { sketchesKept } = restoreIntegrityState(monitor, ctx.id, bytes);
    if (!sketchesKept)
      g.log('warn', 'integrity sketches written under another key were dropped; counts kept', {
        businessId: ctx.id,
      });
  } catch (error) {
    monitor.forgetBusiness(ctx.id);
    g.log('warn', 'integrity counters not restored (another configuration); starting over', {
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
export async function persistIntegrity(g: GatewayContext): Promise<void> {
  const monitor = g.monitor;
  const config = g.integrityConfig;
  if (!monitor || !config || g.integrityDirty.size === 0) return;
  const expiresAt = g.clock.now() + longestWindowMs(config);
  const written: string[] = [];
  const writes: WriteOperation[] = [];
  for (const businessId of [...g.integrityDirty]) {
    const ctx = await g.businesses.get(businessId)?.catch(() => undefined);
    if (!ctx) continue;
    g.integrityDirty.delete(businessId);
    written.push(businessId);
    const key = integrityStateKey(businessId);
    writes.push(sealedPut(ctx, 'counters', key, encodeIntegrityState(monitor, businessId), expiresAt));
  }
  if (writes.length === 0) return;
  try {
    await g.store.commit(writes);
  } catch (error) {
    for (const businessId of written) g.integrityDirty.add(businessId);
    throw error;
  }
}

/** Refuses (`ERR_INTEGRITY_BLOCKED`) or permits a business's new message; logs level changes. */
export function checkSend(g: GatewayContext, monitor: IntegrityMonitor, businessId: string): SendPermit {
  let permit: SendPermit;
  try {
    permit = monitor.checkSend(businessId);
  } catch (error) {
    if (isParleyError(error, 'ERR_INTEGRITY_BLOCKED')) {
      noteLevel(g, businessId, 'block', error.details.rule as string | undefined);
      g.log('warn', 'send refused: the business is blocked by integrity rules', {
        businessId,
        rule: error.details.rule,
      });
    }
    throw error;
  }
  noteLevel(g, businessId, permit.level, permit.reasons[0]?.rule);
  return permit;
}

export function readLevel(g: GatewayContext, monitor: IntegrityMonitor, businessId: string): IntegrityLevel {
  const signal = monitor.signal(businessId);
  noteLevel(g, businessId, signal.level, signal.reasons[0]?.rule);
  return signal.level;
}

export function noteLevel(
  g: GatewayContext,
  businessId: string,
  level: IntegrityLevel,
  rule: string | undefined,
): void {
  const previous = g.integrityLevels.get(businessId) ?? 'ok';
  if (previous === level) return;
  g.integrityLevels.set(businessId, level);
  if (level === 'ok') g.throttleNext.delete(businessId);
  g.log(level === 'ok' ? 'info' : 'warn', 'integrity level changed', {
    businessId,
    level,
    previous,
    rule,
  });
}

/** The transport side's reading; before the monitor is loaded every business reads `ok`. */
export function readSignal(g: GatewayContext, businessId: string): IntegritySignal {
  if (g.monitor) return g.monitor.signal(businessId);
  g.emptyMonitor ??= createIntegrity({
    clock: g.clock,
    config: g.integrityConfig,
    // Never hashes anything: it holds no counters.
    sketchKey: new Uint8Array(KEY_LENGTH),
    wasDeliveredTo: () => false,
  }).monitor;
  return g.emptyMonitor.signal(businessId);
}

/** The gateway's count of a business's contacts (people with protocol state), when it changed. */
export function updateKnownContacts(g: GatewayContext, businessId: string, count: number): void {
  const monitor = g.monitor;
  if (!monitor || g.knownContacts.get(businessId) === count) return;
  g.knownContacts.set(businessId, count);
  monitor.setKnownContacts(businessId, count);
  g.integrityDirty.add(businessId);
}

/** A queued message of a blocked business: failed with `ERR_INTEGRITY_BLOCKED`, never sent. */
export async function failBlocked(
  g: GatewayContext,
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
  writes.push(sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline));
  const event = fails ? statusEvent(g, ctx, id, 'failed', record, 'ERR_INTEGRITY_BLOCKED') : undefined;
  if (event) writes.push(event.write);
  if (!(await commitIfUnchanged(g, writes, 'messages', key, stored.version)) || !event) return;
  g.ledger?.recordFailed({ businessId, messageId: id });
  g.log('warn', 'queued message failed: the business is blocked by integrity rules', {
    businessId,
    messageId: id,
  });
  await handOver(g, [event.pending]);
}

export const INTEGRITY_KEY_CONTEXT = 'parley/integrity/sketch-key';

/** The longest window or lookback of an integrity configuration: no state outlives it. */
export function longestWindowMs(config: IntegrityConfig): number {
  return Math.max(
    config.activityWindow.durationMs,
    config.qualityWindow.durationMs,
    config.contactsWindow.durationMs,
    config.recipientLookback.lookbackMs,
    config.replyWindow.lookbackMs,
    config.reportDedup.lookbackMs,
  );
}
