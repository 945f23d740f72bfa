/**
 * HTTP webhook example: a relay server stands in for the messaging network; the gateway
 * POSTs frames to it and receives frames on its own HTTP endpoint; the business gets
 * messages on a webhook and sends through `POST /v1/messages`. All on 127.0.0.1.
 *
 *   pnpm --filter @parley/examples exec tsx --conditions=parley-source http/main.ts
 */
import { fileURLToPath } from 'node:url';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock, TestNetwork } from '@parley/core/testing';
import { type Log, maskNumber } from '../src/format.js';
import { HttpError, postJson } from '../src/http-util.js';
import { createMemoryGateway } from '../src/shared/memory-gateway.js';
import { startBusinessWebhook } from './business-webhook.js';
import { startGatewayServer } from './gateway-server.js';
import { createHttpGatewayEndpoint, createHttpTransport } from './http-clients.js';
import { startRelayServer } from './relay-server.js';

const BUSINESS_NUMBER = '+15550100';
const PERSON_NUMBER = '+15550123';

export interface HttpExampleResult {
  readonly businessReceived: string[];
  readonly personReceived: string[];
  readonly statuses: string[];
  /** What the gateway server answered to a malformed request. */
  readonly badRequest: { readonly status: number; readonly code: string };
}

export async function runHttpExample(log: Log = console.log): Promise<HttpExampleResult> {
  const clock = new ManualClock();
  const crypto = createNodeCrypto();
  const network = new TestNetwork();
  const relay = await startRelayServer(network);
  const webhook = await startBusinessWebhook();
  const gateway = createMemoryGateway({
    transport: createHttpTransport(relay.url),
    directory: network,
    crypto,
    clock,
  });
  const api = await startGatewayServer({ gateway, webhooks: { acme: webhook.url } });
  network.connect(
    createHttpGatewayEndpoint(api.url, {
      idle: async () => {
        await gateway.idle();
        await api.idle();
      },
    }),
  );
  try {
    log(`relay (network) ${relay.url}, gateway ${api.url}, business webhook ${webhook.url}`);
    await gateway.registerBusiness({ businessId: 'acme' });
    await gateway.addNumber('acme', BUSINESS_NUMBER);
    const person = network.addPerson(
      await createSimulatedPerson({ phoneNumber: PERSON_NUMBER, crypto, clock }),
    );

    await person.send(BUSINESS_NUMBER, 'Hello over HTTP');
    await network.flush();
    log(`webhook got ${webhook.messages.length} message(s) from ${maskNumber(PERSON_NUMBER)}`);

    const sent = await postJson(`${api.url}/v1/messages`, {
      from: BUSINESS_NUMBER,
      to: PERSON_NUMBER,
      text: 'Hi! Thanks for writing.',
    });
    log(`POST /v1/messages → ${sent.status}`);
    await network.flush();
    log(
      `person received ${person.received.length} message(s); statuses on the webhook: ${webhook.statuses.map((s) => s.status).join(' → ')}`,
    );

    const badRequest = await postJson(`${api.url}/v1/messages`, { from: BUSINESS_NUMBER, to: 42 }).then(
      () => ({ status: 200, code: 'none' }),
      (error: unknown) =>
        error instanceof HttpError ? { status: error.status, code: error.code } : { status: 0, code: 'none' },
    );
    log(`a malformed send request → ${badRequest.status} ${badRequest.code}`);
    return {
      businessReceived: webhook.messages.map((message) => message.text),
      personReceived: person.textsFrom(BUSINESS_NUMBER),
      statuses: webhook.statuses.map((status) => status.status),
      badRequest,
    };
  } finally {
    await gateway.close();
    await Promise.all([api.close(), relay.close(), webhook.close()]);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runHttpExample().catch((error: unknown) => {
    console.error('http example failed:', error instanceof Error ? error.message : 'unknown error');
    process.exit(1);
  });
}
