/**
 * How the demo's frames travel between the network and the gateway: in process, over HTTP
 * (relay server + gateway server on 127.0.0.1) or over a WebSocket.
 */
import type { Clock, CryptoProvider, Directory, Gateway, Transport } from '@parley/core';
import { createSimulatedPerson, type TestNetwork } from '@parley/core/testing';
import { type GatewayServer, startGatewayServer } from '../http/gateway-server.js';
import { createHttpGatewayEndpoint, createHttpTransport } from '../http/http-clients.js';
import { startRelayServer } from '../http/relay-server.js';
import { GatewayWsLink } from '../ws/gateway-ws-link.js';
import { startWsRelay } from '../ws/relay-ws-server.js';
import { LibsignalCurrentPerson } from './libsignal-current-person.js';
import { LibsignalPerson } from './libsignal-person.js';

export type TransportKind = 'inproc' | 'http' | 'ws';

/** Who the person's devices run: Parley, libsignal@6.0.0, or current Signal (libsignal-client 0.103.0). */
export type PeerKind = 'parley' | 'libsignal' | 'libsignal-current';
export const PEER_KINDS: readonly PeerKind[] = ['parley', 'libsignal', 'libsignal-current'];

export const PEER_DESCRIPTIONS: Readonly<Record<PeerKind, { client: string; handshake: string }>> = {
  parley: { client: 'Parley (SessionManager per device)', handshake: 'PQXDH with SPQR' },
  libsignal: { client: 'libsignal@6.0.0 (independent implementation)', handshake: 'X3DH' },
  'libsignal-current': {
    client: '@signalapp/libsignal-client 0.103.0 (current Signal, SPQR required)',
    handshake: 'PQXDH with SPQR',
  },
};

/** The demo's person, on the network, with two devices sharing one identity key. */
export async function addDemoPerson(
  kind: PeerKind,
  network: TestNetwork,
  options: { readonly phoneNumber: string; readonly crypto: CryptoProvider; readonly clock: Clock },
) {
  if (kind === 'parley') {
    const { phoneNumber, crypto, clock } = options;
    return network.addPerson(await createSimulatedPerson({ phoneNumber, devices: 2, crypto, clock }));
  }
  if (kind === 'libsignal') return network.addPerson(LibsignalPerson.create(options.phoneNumber, 2));
  return network.addPerson(LibsignalCurrentPerson.create(options.phoneNumber, 2));
}

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
