/**
 * The business's side: a webhook endpoint receiving messages and status events from Parley.
 * A real business would store them and answer through `POST {gateway}/v1/messages`.
 */
import { type RunningServer, startJsonServer } from '../src/http-util.js';
import { BadRequest, record, text } from '../src/wire-json.js';

export interface WebhookMessage {
  readonly id: string;
  readonly from: string;
  readonly text: string;
  readonly attempt: number;
}

export interface BusinessWebhook extends RunningServer {
  readonly messages: WebhookMessage[];
  readonly statuses: { readonly messageId: string; readonly status: string }[];
  /** Answer 503 to the next `count` message deliveries (the gateway will redeliver). */
  failNext(count: number): void;
}

export async function startBusinessWebhook(): Promise<BusinessWebhook> {
  const messages: WebhookMessage[] = [];
  const statuses: { messageId: string; status: string }[] = [];
  let failures = 0;
  const server = await startJsonServer({
    'POST /messages': async (_request, body) => {
      const object = record(body, 'message');
      if (failures > 0) {
        failures -= 1;
        throw new BadRequest(503, 'ERR_UNAVAILABLE', 'the business is briefly unavailable');
      }
      if (typeof object.text !== 'string')
        throw new BadRequest(400, 'ERR_INVALID_ARGUMENT', '"text" expected a string');
      messages.push({
        id: text(object.id, 'id'),
        from: text(object.from, 'from'),
        text: object.text,
        attempt: Number(object.attempt),
      });
      return { status: 204 };
    },
    'POST /events': async (_request, body) => {
      const object = record(body, 'event');
      statuses.push({
        messageId: text(object.messageId, 'messageId'),
        status: text(object.status, 'status'),
      });
      return { status: 204 };
    },
  });
  return {
    ...server,
    messages,
    statuses,
    failNext(count) {
      failures += count;
    },
  };
}
