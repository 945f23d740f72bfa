/**
 * How the demo's frames travel between the network and the gateway: in process, over HTTP
 * (relay server + the cloud API server on 127.0.0.1) or over a WebSocket. And how the business
 * reaches the gateway: its scoped handle in process, or over HTTP the cloud API (a bearer
 * token to send, signed webhooks to receive).
 */
import { randomBytes } from 'node:crypto';
import type { Clock, Directory, Gateway, MessageId, OutboundStatus, Transport } from '@parley/core';
import type { TestNetwork } from '@parley/core/testing';
import { CloudApiClient } from '../cloud-api/cloud-api-client.js';
import { toE164 } from '../cloud-api/phone-number-id.js';
import { type CloudApiServer, createCloudApiServer } from '../cloud-api/server.js';
import { TokenStore } from '../cloud-api/token-store.js';
import { startWebhookReceiver, type WebhookReceiver } from '../cloud-api/webhook-receiver.js';
import { createHttpGatewayEndpoint, createHttpTransport } from '../http/http-clients.js';
import { startRelayServer } from '../http/relay-server.js';
import { GatewayWsLink } from '../ws/gateway-ws-link.js';
import { startWsRelay } from '../ws/relay-ws-server.js';

export type TransportKind = 'inproc' | 'http' | 'ws';

export interface DemoWiring {
  readonly transport: Transport;
  readonly directory: Directory;
  readonly description: string;
  /** Connects the network to the gateway once it exists. */
  attach(gateway: Gateway): Promise<void>;
  /** The business's side, once it is registered. */
  business(gateway: Gateway, businessId: string): Promise<DemoBusiness>;
  close(): Promise<void>;
}

/** What the demo's business does: send, retransmit, and hear about messages and statuses. */
export interface DemoBusiness {
  send(request: { readonly from: string; readonly to: string; readonly content: string }): Promise<MessageId>;
  retransmit(messageId: MessageId): Promise<void>;
  onMessage(listener: (message: { readonly from: string; readonly text: string }) => void): Promise<void>;
  onStatus(
    listener: (status: { readonly messageId: MessageId; readonly status: OutboundStatus }) => void,
  ): Promise<void>;
}

/** In process: the business's scoped handle. */
function handleBusiness(gateway: Gateway, businessId: string): DemoBusiness {
  const handle = gateway.forBusiness(businessId, { principal: 'demo' });
  return {
    send: (request) => handle.send(request),
    retransmit: (messageId) => handle.retransmit(messageId),
    async onMessage(listener) {
      await handle.onMessage((message) =>
        listener({ from: message.from, text: new TextDecoder().decode(message.content) }),
      );
    },
    async onStatus(listener) {
      await handle.onEvent((event) => {
        if (event.type === 'status') listener({ messageId: event.messageId, status: event.status });
      });
    },
  };
}

export async function wireNetwork(
  kind: TransportKind,
  network: TestNetwork,
  clock: Clock,
): Promise<DemoWiring> {
  if (kind === 'inproc') {
    return {
      transport: network,
      directory: network,
      description: 'in process (direct calls)',
      async attach(gateway) {
        network.connect(gateway);
      },
      business: async (gateway, businessId) => handleBusiness(gateway, businessId),
      async close() {},
    };
  }
  if (kind === 'http') {
    const relay = await startRelayServer(network);
    const networkToken = randomBytes(32).toString('base64url');
    let api: CloudApiServer | undefined;
    let url = '';
    const receivers: WebhookReceiver[] = [];
    return {
      transport: createHttpTransport(relay.url),
      directory: network,
      description: `HTTP: relay ${relay.url}, cloud API server on 127.0.0.1 (bearer token, signed webhooks)`,
      async attach(gateway) {
        api = await createCloudApiServer({
          gateway,
          tokens: new TokenStore({ clock }),
          networkToken,
          webhooks: { clock, timer: false },
        });
        url = await api.listen();
        const server = api;
        network.connect(
          createHttpGatewayEndpoint(url, {
            token: networkToken,
            idle: async () => {
              await gateway.idle();
              await server.idle();
            },
          }),
        );
      },
      async business(_gateway, businessId) {
        if (!api) throw new Error('attach the gateway first');
        const appSecret = randomBytes(32).toString('hex');
        const receiver = await startWebhookReceiver({ appSecret });
        receivers.push(receiver);
        await api.webhooks.subscribe(businessId, { url: receiver.url, appSecret });
        const { token } = await api.tokens.issue({ businessId, principal: 'demo' });
        const client = new CloudApiClient({ url, token });
        return {
          send: (request) => client.sendText(request.from, request.to, request.content),
          retransmit: (messageId) => client.retransmit(messageId),
          async onMessage(listener) {
            receiver.onMessage((message) =>
              listener({
                from: toE164(message.from),
                text: message.type === 'text' ? message.text.body : '',
              }),
            );
          },
          async onStatus(listener) {
            receiver.onStatus((status) => {
              if (status.status !== 'dropped') {
                listener({ messageId: status.id as MessageId, status: status.status as OutboundStatus });
              }
            });
          },
        };
      },
      async close() {
        await api?.close();
        await Promise.all([relay.close(), ...receivers.map((receiver) => receiver.close())]);
      },
    };
  }
  let current: Gateway | undefined;
  const relay = await startWsRelay(network, { idle: async () => current?.idle() });
  const link = new GatewayWsLink({ url: relay.url });
  return {
    transport: link,
    directory: network,
    description: `WebSocket: ${relay.url}`,
    async attach(gateway) {
      current = gateway;
      link.attach(gateway);
      await link.connect();
      network.connect(relay.endpoint);
    },
    business: async (gateway, businessId) => handleBusiness(gateway, businessId),
    async close() {
      await link.close();
      await relay.close();
    },
  };
}
