import { business } from './businesses.js';
import type { GatewayContext } from './context.js';
import { runDue } from './due-work.js';
import { redeliverEvents } from './durable/event-outbox.js';
import type { EventHandler, MessageHandler } from './types.js';
import { assertHandler } from './validation.js';

/** Sets a business's message handler (one per business) and starts delivering what waits for it. */
export function registerMessageHandler(
  g: GatewayContext,
  businessId: string,
  handler: MessageHandler,
): () => void {
  assertHandler(handler, 'handler');
  g.messageHandlers.set(businessId, handler);
  g.track(runDue(g, businessId));
  return () => {
    if (g.messageHandlers.get(businessId) === handler) g.messageHandlers.delete(businessId);
  };
}

/** Adds an event handler and hands it the business's stored events that wait for one. */
export function registerEventHandler(
  g: GatewayContext,
  businessId: string,
  handler: EventHandler,
): () => void {
  assertHandler(handler, 'handler');
  const set = g.eventHandlers.get(businessId) ?? new Set<EventHandler>();
  g.eventHandlers.set(businessId, set);
  set.add(handler);
  g.track(business(g, businessId).then((ctx) => redeliverEvents(g, ctx)));
  return () => set.delete(handler);
}
