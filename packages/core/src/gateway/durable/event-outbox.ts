import { ByteReader, ByteWriter } from '../../binary.js';
import { toHex } from '../../bytes.js';
import type { ErrorCode } from '../../errors.js';
import { ERROR_CODES } from '../../errors.js';
import type { WriteOperation } from '../../storage/contract.js';
import type { BusinessContext, GatewayContext } from '../context.js';
import type {
  DeviceDelivery,
  DroppedEvent,
  GatewayEvent,
  MessageId,
  OutboundStatus,
  StatusEvent,
} from '../types.js';
import { eventKey, eventPrefix } from './layout.js';
import { del, sealedPut } from './message-store.js';
import type { DeviceState, MessageRecord } from './records.js';

/**
 * Durable status and dropped events: an outbox of events. Each event is written in the SAME
 * commit as the state change it reports, then handed to the business's handlers right after
 * that commit. A record handed over without a handler throwing is forgotten in batches (one
 * commit per `tick()`, or when many have piled up); anything else — a crash between the commit
 * and the handlers, a handler that threw, no handler registered yet — is handed over again by
 * `redeliverEvents` at the next tick, in the order written. So every event reaches the handlers
 * at least once, each time with the same `eventId`. Records expire with the business's
 * retention: an event is never kept longer than the message it reports.
 */

/** Handed-over events forgotten in one commit once this many have piled up (else at the tick). */
const FORGET_BATCH = 256;

type DurableEvent = StatusEvent | DroppedEvent;
type NewStatusEvent = Omit<StatusEvent, 'eventId' | 'at'>;
type NewDroppedEvent = Omit<DroppedEvent, 'eventId' | 'at'>;

export interface PendingEvent {
  readonly key: string;
  readonly event: DurableEvent;
}

/** An event to commit with a state change; hand it over with `handOver` after the commit. */
export function newEvent(
  g: GatewayContext,
  ctx: BusinessContext,
  fields: NewStatusEvent | NewDroppedEvent,
): { readonly write: WriteOperation; readonly pending: PendingEvent } {
  const at = g.clock.now();
  const eventId = `e${toHex(g.random(12))}`;
  const event = { ...fields, eventId, at } as DurableEvent;
  g.eventSequence = (g.eventSequence + 1) % 100_000_000;
  const key = eventKey(ctx.id, at, g.eventSequence, eventId);
  return {
    write: sealedPut(ctx, 'outbox', key, encodeEvent(event), at + ctx.retentionMs),
    pending: { key, event },
  };
}

export function statusEvent(
  g: GatewayContext,
  ctx: BusinessContext,
  messageId: MessageId,
  status: OutboundStatus,
  record: Pick<MessageRecord, 'devices'>,
  reason?: ErrorCode,
): { readonly write: WriteOperation; readonly pending: PendingEvent } {
  return newEvent(g, ctx, {
    type: 'status',
    businessId: ctx.id,
    messageId,
    status,
    devices: record.devices.map((device) => ({
      deviceId: device.id,
      state: device.state,
      ...(device.member === undefined ? {} : { member: device.member }),
    })),
    ...(reason === undefined ? {} : { reason }),
  });
}

/**
 * Hands committed events to the business's handlers, in order. An event every handler took
 * (none threw) is queued to be forgotten; otherwise it stays for `redeliverEvents`.
 */
export async function handOver(g: GatewayContext, pending: readonly PendingEvent[]): Promise<void> {
  for (const { key, event } of pending) {
    if (g.forgettingEvents.has(key)) continue;
    if (await callEventHandlers(g, event)) forget(g, key);
  }
  if (g.forgettingEvents.size >= FORGET_BATCH) await forgetHandedOver(g);
}

/** Hands over every stored event of a business again (after a crash, or a handler that threw). */
export async function redeliverEvents(g: GatewayContext, ctx: BusinessContext): Promise<void> {
  if (!g.eventHandlers.get(ctx.id)?.size) return;
  await g.queue.run(`events/${ctx.id}`, async () => {
    for (const stored of await g.store.list('outbox', { prefix: eventPrefix(ctx.id) })) {
      if (g.forgettingEvents.has(stored.key)) continue;
      const event = decodeEvent(ctx.sealer.open('outbox', stored.key, stored.value), ctx.id);
      // A handler that throws keeps the order: later events wait for the next round.
      if (!(await callEventHandlers(g, event))) break;
      forget(g, stored.key);
    }
  });
}

/** `redeliverEvents` for every business with a handler, then forgets what was handed over. */
export async function redeliverAllEvents(g: GatewayContext): Promise<void> {
  for (const [businessId, handlers] of g.eventHandlers) {
    if (handlers.size === 0) continue;
    const ctx = await g.businesses.get(businessId)?.catch(() => undefined);
    if (ctx) await redeliverEvents(g, ctx);
  }
  await forgetHandedOver(g);
}

/** Deletes the records of events already handed over (one commit). */
export async function forgetHandedOver(g: GatewayContext): Promise<void> {
  if (g.forgettingEvents.size === 0) return;
  const keys = [...g.forgettingEvents];
  await g.store.commit(keys.map((key) => del('outbox', key)));
  for (const key of keys) g.forgettingEvents.delete(key);
}

function forget(g: GatewayContext, key: string): void {
  g.forgettingEvents.add(key);
}

/** True when there was a handler and none threw. */
async function callEventHandlers(g: GatewayContext, event: GatewayEvent): Promise<boolean> {
  const handlers = g.eventHandlers.get(event.businessId);
  if (!handlers || handlers.size === 0) return false;
  let ok = true;
  for (const handler of [...handlers]) {
    try {
      await handler(event);
    } catch (error) {
      ok = false;
      g.reportError(error);
    }
  }
  return ok;
}

// ── Encoding ──────────────────────────────────────────────────────────────────────

const EVENT_FORMAT = 1;
/** Format 2: a group message's status event, each device with its member. */
const GROUP_EVENT_FORMAT = 2;
const TYPES = ['status', 'dropped'] as const;
const STATUSES: readonly OutboundStatus[] = ['accepted', 'sent', 'delivered', 'failed', 'expired'];
const DEVICE_STATES: readonly DeviceState[] = ['pending', 'sent', 'delivered'];

export function encodeEvent(event: DurableEvent): Uint8Array {
  const grouped = event.type === 'status' && event.devices.some((device) => device.member !== undefined);
  const w = new ByteWriter(96)
    .u8(grouped ? GROUP_EVENT_FORMAT : EVENT_FORMAT)
    .u8(TYPES.indexOf(event.type))
    .bytes(new TextEncoder().encode(event.eventId))
    .u64(event.at)
    .bytes(new TextEncoder().encode(event.messageId));
  if (event.type === 'dropped') return w.u32(event.attempts).finish();
  w.u8(STATUSES.indexOf(event.status)).bytes(new TextEncoder().encode(event.reason ?? ''));
  w.u32(event.devices.length);
  for (const device of event.devices) {
    w.u32(device.deviceId).u8(DEVICE_STATES.indexOf(device.state));
    if (grouped) w.bytes(new TextEncoder().encode(device.member ?? ''));
  }
  return w.finish();
}

export function decodeEvent(bytes: Uint8Array, businessId: string): DurableEvent {
  const r = new ByteReader(bytes, 'event');
  const format = r.u8();
  if (format !== EVENT_FORMAT && format !== GROUP_EVENT_FORMAT) r.fail('unknown format');
  const type = TYPES[r.u8()] ?? r.fail('unknown event type');
  const eventId = r.text();
  const at = r.u64();
  const messageId = r.text() as MessageId;
  if (type === 'dropped') {
    const attempts = r.u32();
    r.end();
    return { type, eventId, at, businessId, messageId, attempts };
  }
  const status = STATUSES[r.u8()] ?? r.fail('unknown status');
  const reasonText = r.text();
  const reason =
    reasonText === ''
      ? undefined
      : (ERROR_CODES as readonly string[]).includes(reasonText)
        ? (reasonText as ErrorCode)
        : r.fail('unknown reason');
  const count = r.u32();
  const devices: DeviceDelivery[] = [];
  for (let i = 0; i < count; i++) {
    const deviceId = r.u32();
    const state = DEVICE_STATES[r.u8()] ?? r.fail('unknown device state');
    devices.push(format === GROUP_EVENT_FORMAT ? { deviceId, state, member: r.text() } : { deviceId, state });
  }
  r.end();
  return { type, eventId, at, businessId, messageId, status, devices, ...(reason ? { reason } : {}) };
}
