/**
 * The cloud API example: a business talks to Parley only over HTTP — a bearer token to send and
 * to ask, signed webhooks to receive — while the messaging network (a relay standing in for it)
 * exchanges frames with the same server. All on 127.0.0.1.
 *
 *   pnpm --filter @parley/examples exec tsx --conditions=parley-source cloud-api/main.ts
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock, TestNetwork } from '@parley/core/testing';
import { createHttpGatewayEndpoint, createHttpTransport } from '../http/http-clients.js';
import { startRelayServer } from '../http/relay-server.js';
import { type Log, maskNumber, shortId } from '../src/format.js';
import { createMemoryGateway } from '../src/shared/memory-gateway.js';
import { CloudApiClient } from './cloud-api-client.js';
import { createCloudApiServer } from './server.js';
import { TokenStore } from './token-store.js';
import { startWebhookReceiver } from './webhook-receiver.js';

const BUSINESS_ID = 'acme';
const BUSINESS_NUMBER = '+15550100';
const PERSON_NUMBER = '+15550123';

export interface CloudApiExampleResult {
  readonly businessReceived: string[];
  readonly personReceived: string[];
  readonly statuses: string[];
  /** What the server answered to a malformed send. */
  readonly badRequest: { readonly status: number; readonly code: string };
  readonly accessLogVerified: boolean;
}

export async function runCloudApiExample(log: Log = console.log): Promise<CloudApiExampleResult> {
  const clock = new ManualClock();
  const crypto = createNodeCrypto();
  const network = new TestNetwork();
  const relay = await startRelayServer(network);
  const gateway = createMemoryGateway({
    transport: createHttpTransport(relay.url),
    directory: network,
    crypto,
    clock,
  });
  const networkToken = randomBytes(32).toString('base64url');
  const server = await createCloudApiServer({
    gateway,
    tokens: new TokenStore({ clock }),
    networkToken,
    webhooks: { clock, timer: false },
  });
  const appSecret = randomBytes(32).toString('hex');
  const webhook = await startWebhookReceiver({ appSecret });
  try {
    const url = await server.listen();
    network.connect(
      createHttpGatewayEndpoint(url, {
        token: networkToken,
        idle: async () => {
          await gateway.idle();
          await server.idle();
        },
      }),
    );
    log(`relay (network) ${relay.url}, cloud API ${url}, business webhook ${webhook.url}`);

    // The operator registers the business and hands it a token (shown once) and its webhook.
    await gateway.registerBusiness({ businessId: BUSINESS_ID });
    await gateway.addNumber(BUSINESS_ID, BUSINESS_NUMBER);
    const { token, tokenId } = await server.tokens.issue({ businessId: BUSINESS_ID, principal: 'acme-crm' });
    await server.webhooks.subscribe(BUSINESS_ID, { url: webhook.url, appSecret });
    log(`token ${tokenId} issued to "acme-crm" (kept only as its SHA-256); webhook subscribed`);

    const person = network.addPerson(
      await createSimulatedPerson({ phoneNumber: PERSON_NUMBER, crypto, clock }),
    );
    await person.send(BUSINESS_NUMBER, 'Hello over HTTP');
    await network.flush();
    log(`webhook got ${webhook.messages.length} signed message(s) from ${maskNumber(PERSON_NUMBER)}`);

    const client = new CloudApiClient({ url, token });
    const id = await client.sendText(BUSINESS_NUMBER, PERSON_NUMBER, 'Hi! Thanks for writing.');
    log(`POST /v1/${BUSINESS_NUMBER.slice(1, 3)}…/messages → message ${shortId(id)}`);
    await network.flush();
    const status = await client.status(id);
    log(
      `person received ${person.received.length} message(s); statuses on the webhook: ${webhook.statuses.map((s) => s.status).join(' → ')}; GET status: ${status.status}`,
    );

    const bad = await fetch(`${url}/v1/${BUSINESS_NUMBER.slice(1)}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to: 42, type: 'text', text: { body: 'x' } }),
    });
    const badRequest = {
      status: bad.status,
      code: ((await bad.json()) as { error: { code: string } }).error.code,
    };
    log(`a malformed send → ${badRequest.status} ${badRequest.code}`);

    const verification = await client.verifyAccessLog(BUSINESS_ID);
    log(`access log: ${verification.records} records, chain ${verification.ok ? 'verified' : 'BROKEN'}`);
    return {
      businessReceived: webhook.messages.map((message) => (message.type === 'text' ? message.text.body : '')),
      personReceived: person.textsFrom(BUSINESS_NUMBER),
      statuses: webhook.statuses.map((s) => s.status),
      badRequest,
      accessLogVerified: verification.ok,
    };
  } finally {
    await server.close();
    await gateway.close();
    await Promise.all([relay.close(), webhook.close()]);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runCloudApiExample().catch((error: unknown) => {
    console.error('cloud API example failed:', error instanceof Error ? error.message : 'unknown error');
    process.exit(1);
  });
}
