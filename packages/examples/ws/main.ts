/**
 * WebSocket example: the gateway keeps one WebSocket to the network. Midway the network
 * cuts the connection: a person's frame waits in the network and is redelivered after the
 * gateway reconnects; a business message that could not be handed over is retried by the
 * gateway on its backoff schedule (injected clock). All on 127.0.0.1.
 *
 *   pnpm --filter @parley/examples exec tsx --conditions=parley-source ws/main.ts
 */
import { fileURLToPath } from 'node:url';
import { DEFAULT_BACKOFF, type Gateway, type MessageId, type OutboundStatus } from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock, TestNetwork } from '@parley/core/testing';
import { type Log, maskNumber } from '../src/format.js';
import { createMemoryGateway } from '../src/shared/memory-gateway.js';
import { GatewayWsLink } from './gateway-ws-link.js';
import { startWsRelay } from './relay-ws-server.js';

const BUSINESS_NUMBER = '+15550100';
const PERSON_NUMBER = '+15550123';

export interface WsExampleResult {
  readonly businessReceived: string[];
  readonly personReceived: string[];
  /** Frames for the gateway still queued in the network right after the drop. */
  readonly queuedDuringOutage: number;
  readonly reconnects: number;
  /** Status of the business message sent during the outage, before and after the retry. */
  readonly outageStatus: {
    readonly before: OutboundStatus | undefined;
    readonly after: OutboundStatus | undefined;
  };
}

export async function runWsExample(log: Log = console.log): Promise<WsExampleResult> {
  const clock = new ManualClock();
  const crypto = createNodeCrypto();
  const network = new TestNetwork();
  let gateway: Gateway | undefined;
  const relay = await startWsRelay(network, { idle: async () => gateway?.idle() });
  const link = new GatewayWsLink({ url: relay.url });
  gateway = createMemoryGateway({ transport: link, directory: network, crypto, clock });
  link.attach(gateway);
  network.connect(relay.endpoint);
  try {
    await link.connect();
    log(`gateway connected to the network at ${relay.url}`);
    await gateway.registerBusiness({ businessId: 'acme' });
    await gateway.addNumber('acme', BUSINESS_NUMBER);
    const businessReceived: string[] = [];
    const statuses = new Map<MessageId, OutboundStatus>();
    gateway.onMessage('acme', (message) => {
      businessReceived.push(new TextDecoder().decode(message.content));
    });
    gateway.onEvent('acme', (event) => {
      if (event.type === 'status') statuses.set(event.messageId, event.status);
    });
    const person = network.addPerson(
      await createSimulatedPerson({ phoneNumber: PERSON_NUMBER, crypto, clock }),
    );

    await person.send(BUSINESS_NUMBER, 'Hello over WebSocket');
    await network.flush();
    log(`business received ${businessReceived.length} message(s) from ${maskNumber(PERSON_NUMBER)}`);

    // The network drops the connection.
    const reconnected = relay.nextConnection();
    const disconnected = link.nextDisconnect();
    relay.dropConnections();
    await disconnected;
    await person.send(BUSINESS_NUMBER, 'Sent during the outage');
    await network.step();
    const queuedDuringOutage = network.pending({ direction: 'to-gateway' }).length;
    const duringOutage = await gateway.send({
      from: BUSINESS_NUMBER,
      to: PERSON_NUMBER,
      content: 'Are you there?',
    });
    await gateway.idle();
    const before = statuses.get(duringOutage);
    log(
      `connection dropped: ${queuedDuringOutage} frame(s) wait in the network; business message is "${before}"`,
    );

    await reconnected;
    await network.flush();
    log(`reconnected (${link.reconnects}); business now has ${businessReceived.length} message(s)`);
    clock.advance(DEFAULT_BACKOFF.initialMs);
    await gateway.runDue();
    await network.flush();
    const after = statuses.get(duringOutage);
    log(`after the gateway's retry the business message is "${after}"`);
    return {
      businessReceived,
      personReceived: person.textsFrom(BUSINESS_NUMBER),
      queuedDuringOutage,
      reconnects: link.reconnects,
      outageStatus: { before, after },
    };
  } finally {
    await gateway.close();
    await link.close();
    await relay.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runWsExample().catch((error: unknown) => {
    console.error('WebSocket example failed:', error instanceof Error ? error.message : 'unknown error');
    process.exit(1);
  });
}
