/**
 * Two businesses behind one cloud API server on 127.0.0.1: each with a number, a customer who
 * wrote in and got a reply, a bearer token and a webhook receiver. The gateway runs on two
 * memory stores that a test can snapshot byte for byte.
 */
import {
  type BlobStore,
  createGateway,
  createLocalKeyProvider,
  createMemoryBlobStore,
  createMemoryStore,
  defaultRandom,
  type Gateway,
  type MessageId,
  NAMESPACES,
  type Store,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock, type SimulatedPerson, TestNetwork } from '@parley/core/testing';
import {
  type CloudApiServer,
  type CloudApiServerOptions,
  createCloudApiServer,
} from '../../cloud-api/server.js';
import { TokenStore } from '../../cloud-api/token-store.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../cloud-api/webhook-receiver.js';

export interface WorldBusiness {
  readonly id: string;
  readonly number: string;
  /** The number as the API names it (digits). */
  readonly numberId: string;
  readonly principal: string;
  readonly token: string;
  readonly appSecret: string;
  readonly receiver: WebhookReceiver;
  readonly customer: SimulatedPerson;
  /** The customer's first message (inbound) and the business's reply (outbound). */
  readonly inboundId: MessageId;
  readonly outboundId: MessageId;
  /** A file the business uploaded (not sent). */
  readonly mediaId: string;
}

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string | null;
  readonly text: string;
  readonly json: unknown;
}

export interface CloudApiWorld {
  readonly clock: ManualClock;
  readonly network: TestNetwork;
  readonly gateway: Gateway;
  readonly store: Store;
  readonly vaultStore: Store;
  readonly blobStore: BlobStore;
  readonly server: CloudApiServer;
  readonly url: string;
  readonly networkToken: string;
  readonly a: WorldBusiness;
  readonly b: WorldBusiness;
  request(
    method: string,
    path: string,
    options?: {
      readonly token?: string | undefined;
      readonly json?: unknown;
      readonly body?: string;
      readonly headers?: Record<string, string>;
    },
  ): Promise<HttpAnswer>;
  /** Every record of both stores (key, version, expiry and value bytes) and every blob, as one comparable map. */
  snapshot(): Promise<Map<string, string>>;
  /** Lets background work and webhooks settle, and runs the gateway's tick. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export async function createCloudApiWorld(
  serverOptions: Partial<Omit<CloudApiServerOptions, 'gateway' | 'tokens'>> = {},
): Promise<CloudApiWorld> {
  const clock = new ManualClock();
  const crypto = createNodeCrypto();
  const network = new TestNetwork();
  const store = createMemoryStore({ clock });
  const vaultStore = createMemoryStore({ clock });
  const blobStore = createMemoryBlobStore({ clock });
  const gateway = createGateway({
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({ kek: defaultRandom(32), crypto }),
    transport: network,
    directory: network,
    crypto,
    clock,
    timer: false,
    media: { blobStore, transport: network.media, maxBytes: { image: 1024 * 1024 } },
  });
  network.connect(gateway);
  const networkToken = `network-${Buffer.from(defaultRandom(16)).toString('hex')}`;
  const server = await createCloudApiServer({
    gateway,
    tokens: new TokenStore({ store, clock }),
    networkToken,
    ...serverOptions,
    webhooks: { clock, timer: false, ...serverOptions.webhooks },
  });
  const url = await server.listen();

  // tick(): statistics are persisted and handed-over events forgotten now, not in a later step.
  const settle = async () => {
    await network.flush();
    await gateway.idle();
    await server.idle();
    await gateway.tick();
  };
  const business = async (id: string, number: string, customerNumber: string): Promise<WorldBusiness> => {
    await gateway.registerBusiness({ businessId: id });
    await gateway.addNumber(id, number);
    const appSecret = `${id}-app-secret-${Buffer.from(defaultRandom(8)).toString('hex')}`;
    const receiver = await startWebhookReceiver({ appSecret });
    await server.webhooks.subscribe(id, { url: receiver.url, appSecret });
    const principal = `${id}-crm`;
    const { token } = await server.tokens.issue({ businessId: id, principal });
    const customer = network.addPerson(
      await createSimulatedPerson({ phoneNumber: customerNumber, crypto, clock }),
    );
    await customer.send(number, `Hello ${id}`);
    await settle();
    const inboundId = receiver.messages.at(-1)!.id as MessageId;
    const sent = await fetch(`${url}/v1/${number.slice(1)}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        to: customerNumber,
        type: 'text',
        text: { body: 'Hi!' },
      }),
    });
    const outboundId = ((await sent.json()) as { messages: { id: MessageId }[] }).messages[0]!.id;
    const uploaded = await fetch(`${url}/v1/${number.slice(1)}/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
      body: Buffer.from(`${id}'s logo`),
    });
    const mediaId = ((await uploaded.json()) as { id: string }).id;
    await settle();
    return {
      id,
      number,
      numberId: number.slice(1),
      principal,
      token,
      appSecret,
      receiver,
      customer,
      inboundId,
      outboundId,
      mediaId,
    };
  };
  const a = await business('acme', '+15550100', '+15550123');
  const b = await business('globex', '+15550200', '+15550234');

  return {
    clock,
    network,
    gateway,
    store,
    vaultStore,
    blobStore,
    server,
    url,
    networkToken,
    a,
    b,
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
      let body: string | undefined = options.body;
      if (options.json !== undefined) {
        body = JSON.stringify(options.json);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(`${url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, contentType: response.headers.get('content-type'), text, json };
    },
    async snapshot() {
      const out = new Map<string, string>();
      for (const [name, s] of [
        ['store', store],
        ['vault', vaultStore],
      ] as const) {
        for (const namespace of NAMESPACES) {
          for (const record of await s.list(namespace)) {
            out.set(
              `${name}/${namespace}/${record.key}`,
              `${record.version}/${record.expiresAt ?? '-'}/${Buffer.from(record.value).toString('hex')}`,
            );
          }
        }
      }
      for (const info of await blobStore.list())
        out.set(`blob/${info.id}`, `${info.length}/${info.expiresAt ?? '-'}`);
      return out;
    },
    settle,
    async close() {
      await server.close();
      await gateway.close();
      await Promise.all([a.receiver.close(), b.receiver.close()]);
    },
  };
}

/** Keys whose records differ between two snapshots (added, removed or changed). */
export function changedKeys(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((key) => before.get(key) !== after.get(key)).sort();
}
