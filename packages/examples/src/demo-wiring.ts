/**
 * How the demo's frames travel between the network and the gateway: in process, over HTTP
 * (relay server + gateway server on 127.0.0.1) or over a WebSocket.
 */
import type { Directory, Gateway, Transport } from '@parley/core';
import type { TestNetwork } from '@parley/core/testing';
import { type GatewayServer, startGatewayServer } from '../http/gateway-server.js';
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
  close(): Promise<void>;
}

export async function wireNetwork(kind: TransportKind, network: TestNetwork): Promise<DemoWiring> {
  if (kind === 'inproc') {
    return {
      transport: network,
      directory: network,
      description: 'in process (direct calls)',
      async attach(gateway) {
        network.connect(gateway);
      },
      async close() {},
    };
  }
  if (kind === 'http') {
    const relay = await startRelayServer(network);
    let api: GatewayServer | undefined;
    return {
      transport: createHttpTransport(relay.url),
      directory: network,
      description: `HTTP: relay ${relay.url}, gateway server on 127.0.0.1`,
      async attach(gateway) {
        api = await startGatewayServer({ gateway, webhooks: {} });
        network.connect(createHttpGatewayEndpoint(api.url, { idle: () => gateway.idle() }));
      },
      async close() {
        await api?.close();
        await relay.close();
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
    async close() {
      await link.close();
      await relay.close();
    },
  };
}
