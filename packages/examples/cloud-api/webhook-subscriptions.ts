/**
 * Which business receives its webhooks where. Subscribing registers the business's handlers
 * through its own scoped handle (so the access log records who subscribed), and the handlers
 * turn each inbound message and status event into a notification for the dispatcher.
 */
import { type Gateway, ParleyError } from '@parley/core';
import type { WebhookDispatcher, WebhookTarget } from './webhook-dispatcher.js';
import { messageNotification, statusNotification } from './webhook-payloads.js';

/** The access log's principal for the server's own webhook handlers. */
export const WEBHOOK_PRINCIPAL = 'cloud-api/webhooks';

export class WebhookSubscriptions {
  readonly #gateway: Gateway;
  readonly #dispatcher: WebhookDispatcher;
  readonly #active = new Map<string, () => void>();

  constructor(gateway: Gateway, dispatcher: WebhookDispatcher) {
    this.#gateway = gateway;
    this.#dispatcher = dispatcher;
  }

  /** Sends `businessId`'s messages and statuses to `target` from now on (replacing an earlier target). */
  async subscribe(businessId: string, target: WebhookTarget): Promise<void> {
    checkTarget(target);
    const handle = this.#gateway.forBusiness(businessId, { principal: WEBHOOK_PRINCIPAL });
    this.unsubscribe(businessId);
    const offMessage = await handle.onMessage((message) =>
      this.#dispatcher.handOver(target, { id: message.id, payload: messageNotification(message) }),
    );
    const offEvent = await handle.onEvent(async (event) => {
      // identity-changed is not durable and names a phone number: it stays inside.
      if (event.type === 'identity-changed') return;
      await this.#dispatcher.handOver(target, { id: event.eventId, payload: statusNotification(event) });
    });
    this.#active.set(businessId, () => {
      offMessage();
      offEvent();
    });
  }

  unsubscribe(businessId: string): void {
    this.#active.get(businessId)?.();
    this.#active.delete(businessId);
  }

  unsubscribeAll(): void {
    for (const businessId of [...this.#active.keys()]) this.unsubscribe(businessId);
  }
}

function checkTarget(target: WebhookTarget): void {
  let url: URL | undefined;
  try {
    url = new URL(target?.url);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"url" expected an http(s) URL', { field: 'url' });
  }
  // An app secret is what makes a signature unforgeable: refuse one that could be guessed.
  if (typeof target.appSecret !== 'string' || target.appSecret.length < 16) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"appSecret" expected at least 16 characters', {
      field: 'appSecret',
    });
  }
}
