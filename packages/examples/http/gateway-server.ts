/**
 * Parley's HTTP face. Two audiences:
 * - the network POSTs inbound frames and delivery receipts to `/v1/network/*`;
 * - the business POSTs messages to send to `/v1/messages`, and receives messages and status
 *   events on its webhook (`{webhook}/messages`, `{webhook}/events`).
 * A webhook that does not answer 2xx makes the handler fail: the gateway redelivers later.
 */
import type { Gateway } from '@parley/core';
import { postJson, type RunningServer, startJsonServer } from '../src/http-util.js';
import { BadRequest, frameFromJson, receiptFromJson, record, text } from '../src/wire-json.js';

export interface GatewayServerOptions {
  readonly gateway: Gateway;
  /** Webhook base URL per business id. */
  readonly webhooks: Readonly<Record<string, string>>;
}

export interface GatewayServer extends RunningServer {
  /** Resolves when no webhook call is in flight. */
  idle(): Promise<void>;
}

export async function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  const { gateway } = options;
  const inFlight = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    const tracked = work.catch(() => undefined).finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  for (const [businessId, webhook] of Object.entries(options.webhooks)) {
    gateway.onMessage(businessId, async (message) => {
      await postJson(`${webhook}/messages`, {
        id: message.id,
        to: message.to,
        from: message.from,
        deviceId: message.deviceId,
        receivedAt: message.receivedAt,
        attempt: message.attempt,
        text: new TextDecoder().decode(message.content),
      });
    });
    gateway.onEvent(businessId, (event) => {
      // Status events only: they carry no phone number.
      if (event.type !== 'status') return;
      track(
        postJson(`${webhook}/events`, {
          messageId: event.messageId,
          status: event.status,
          reason: event.reason,
        }),
      );
    });
  }
  const server = await startJsonServer({
    'POST /v1/network/frames': async (_request, body) => ({
      status: 200,
      json: await gateway.receiveFrame(frameFromJson(body)),
    }),
    'POST /v1/network/receipts': async (_request, body) => {
      await gateway.receiveReceipt(receiptFromJson(body));
      return { status: 204 };
    },
    'POST /v1/messages': async (_request, body) => {
      const object = record(body, 'message');
      if (typeof object.text !== 'string')
        throw new BadRequest(400, 'ERR_INVALID_ARGUMENT', '"text" expected a string');
      const id = await gateway.send({
        from: text(object.from, 'from'),
        to: text(object.to, 'to'),
        content: object.text,
      });
      return { status: 202, json: { id, status: 'accepted' } };
    },
  });
  return {
    ...server,
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
