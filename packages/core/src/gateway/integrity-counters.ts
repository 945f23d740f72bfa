import { isParleyError } from '../errors.js';
import { createIntegrity, type IntegrityMonitor, type SendPermit } from '../integrity/monitor.js';
import type { IntegrityLevel, IntegritySignal } from '../integrity/signal.js';
import type { IntegrityConfig } from '../integrity/thresholds.js';
import type { Pseudonym } from '../privacy/branded.js';
import { business } from './businesses.js';
import type { GatewayContext } from './context.js';
import { INTEGRITY_KEY } from './durable/layout.js';
import { readMessage } from './durable/message-store.js';
import { loadOrCreateKey } from './durable/wrapped-keys.js';
import { KEY_LENGTH } from './options.js';
import type { MessageId } from './types.js';

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
    clock: g.viewClock,
    config,
    sketchKey,
    wasDeliveredTo: (query) => wasDeliveredTo(g, query),
  });
  // Kept for the folds, which count on monitors of their own (tally.ts).
  g.integritySketchKey = sketchKey;
  g.monitor ??= monitor;
  return g.monitor;
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
