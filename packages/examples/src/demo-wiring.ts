/**
 * How the demo's frames travel between the network and the gateway: in process, over HTTP
 * (relay server + the cloud API server on 127.0.0.1) or over a WebSocket. And how the business
 * reaches the gateway: its scoped handle in process, or over HTTP the cloud API (a bearer
 * token to send, signed webhooks to receive). And where it keeps its state: SQLite files in a
 * temporary folder, or PostgreSQL (`--store postgres`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  BlobStore,
  Clock,
  CryptoProvider,
  Directory,
  Gateway,
  MessageId,
  OutboundStatus,
  Store,
  Transport,
} from '@parley/core';
import { createSimulatedPerson, type TestNetwork } from '@parley/core/testing';
import { createFsBlobStore } from '@parley/storage-adapters/media-fs';
import { CloudApiClient } from '../cloud-api/cloud-api-client.js';
import { toE164 } from '../cloud-api/phone-number-id.js';
import { type CloudApiServer, createCloudApiServer } from '../cloud-api/server.js';
import { TokenStore } from '../cloud-api/token-store.js';
import { startWebhookReceiver, type WebhookReceiver } from '../cloud-api/webhook-receiver.js';
import { createHttpGatewayEndpoint, createHttpTransport } from '../http/http-clients.js';
import { startRelayServer } from '../http/relay-server.js';
import { GatewayWsLink } from '../ws/gateway-ws-link.js';
import { startWsRelay } from '../ws/relay-ws-server.js';
import { LibsignalCurrentPerson } from './libsignal-current-person.js';
import { LibsignalPerson } from './libsignal-person.js';

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream as unknown as AsyncIterable<Uint8Array>) parts.push(part);
  return new Uint8Array(Buffer.concat(parts));
}

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
  /** The business's side, once it is registered. */
  business(gateway: Gateway, businessId: string): Promise<DemoBusiness>;
  close(): Promise<void>;
}

/** A file a person sent, as the business hears of it. */
export interface DemoMedia {
  readonly id: string;
  readonly mimetype: string;
  readonly size: number;
}

/** What the demo's business does: send, send a photo, retransmit, download, and hear about messages and statuses. */
export interface DemoBusiness {
  send(request: { readonly from: string; readonly to: string; readonly content: string }): Promise<MessageId>;
  /** Uploads a photo and sends it; resolves to the media id and the message id. */
  sendPhoto(request: {
    readonly from: string;
    readonly to: string;
    readonly photo: Uint8Array;
    readonly caption: string;
  }): Promise<{ readonly mediaId: string; readonly messageId: MessageId }>;
  /** A file of the business's (a person's is fetched from the media host first), checked, then read. */
  downloadMedia(mediaId: string): Promise<Uint8Array>;
  retransmit(messageId: MessageId): Promise<void>;
  onMessage(
    listener: (message: { readonly from: string; readonly text: string; readonly media?: DemoMedia }) => void,
  ): Promise<void>;
  onStatus(
    listener: (status: { readonly messageId: MessageId; readonly status: OutboundStatus }) => void,
  ): Promise<void>;
}

/** In process: the business's scoped handle. */
function handleBusiness(gateway: Gateway, businessId: string): DemoBusiness {
  const handle = gateway.forBusiness(businessId, { principal: 'demo' });
  return {
    send: (request) => handle.send(request),
    async sendPhoto({ from, to, photo, caption }) {
      const { mediaId } = await handle.uploadMedia(photo, { type: 'image', mimetype: 'image/png' });
      const messageId = await handle.send({ from, to, content: { media: { mediaId, caption } } });
      return { mediaId, messageId };
    },
    async downloadMedia(mediaId) {
      return readAll(await handle.downloadMedia(mediaId));
    },
    retransmit: (messageId) => handle.retransmit(messageId),
    async onMessage(listener) {
      await handle.onMessage((message) =>
        listener({
          from: message.from,
          text: new TextDecoder().decode(message.content),
          ...(message.media
            ? {
                media: {
                  id: message.media.mediaId,
                  mimetype: message.media.mimetype,
                  size: message.media.fileLength,
                },
              }
            : {}),
        }),
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
          async sendPhoto({ from, to, photo, caption }) {
            const mediaId = await client.uploadMedia(from, photo, { mimetype: 'image/png' });
            const messageId = await client.sendMedia(from, to, 'image', { id: mediaId, caption });
            return { mediaId, messageId };
          },
          downloadMedia: (mediaId) => client.downloadMedia(mediaId),
          retransmit: (messageId) => client.retransmit(messageId),
          async onMessage(listener) {
            receiver.onMessage((message) => {
              const file = message.type === 'image' ? message.image : undefined;
              listener({
                from: toE164(message.from),
                text: message.type === 'text' ? message.text.body : '',
                ...(file ? { media: { id: file.id, mimetype: file.mime_type, size: file.file_size } } : {}),
              });
            });
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

export type StoreKind = 'sqlite' | 'postgres';

export interface DemoStores {
  readonly store: Store;
  /** The key vault: always a separate store (its own file, or its own PostgreSQL database). */
  readonly vaultStore: Store;
  /** Media blobs (ciphertext only): the filesystem blob store in a temporary folder. */
  readonly blobStore: BlobStore;
  readonly description: string;
  /** Closes both stores and removes what the demo made (files, or its two schemas). */
  close(): Promise<void>;
}

/**
 * The demo's stores. SQLite: two files in a temporary folder. PostgreSQL: the database of
 * `PARLEY_PG_URL` for messages and `PARLEY_PG_VAULT_URL` (default: the database named like
 * the first plus `_vault` on the same server, as .ci/postgres-setup.sh makes it) for the vault,
 * each in a schema of its own for this run, dropped at the end.
 */
export async function openDemoStores(
  kind: StoreKind,
  clock: Clock,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<DemoStores> {
  if (kind === 'sqlite') {
    const { createSqliteStore } = await import('@parley/storage-adapters/sqlite');
    const dir = mkdtempSync(join(tmpdir(), 'parley-demo-'));
    const store = createSqliteStore({ path: join(dir, 'messages.db'), clock });
    const vaultStore = createSqliteStore({ path: join(dir, 'vault.db'), clock });
    const blobStore = await createFsBlobStore({ root: join(dir, 'blobs'), clock });
    return {
      store,
      vaultStore,
      blobStore,
      description: `SQLite, messages.db + vault.db, media blobs in blobs/ (filesystem), in ${dir}`,
      async close() {
        await store.close();
        await vaultStore.close();
        await blobStore.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = env.PARLEY_PG_URL;
  if (!url) {
    throw new Error(
      '--store postgres reads PARLEY_PG_URL (postgres://user:password@host:5432/database); ' +
        'for a local server: export PARLEY_PG_URL="$(bash .ci/postgres-setup.sh)"',
    );
  }
  const vaultUrl = env.PARLEY_PG_VAULT_URL || siblingDatabase(url, '_vault');
  const { createPostgresStore } = await import('@parley/storage-adapters/postgres');
  const schema = `demo_${randomBytes(5).toString('hex')}`;
  const store = await createPostgresStore({ url, schema, clock });
  let vaultStore: Store;
  try {
    vaultStore = await createPostgresStore({ url: vaultUrl, schema, clock });
  } catch (error) {
    await store.close();
    await dropSchema(url, schema);
    throw error;
  }
  // Blobs stay on this machine's disk: a blob store shared by instances comes later.
  const blobDir = mkdtempSync(join(tmpdir(), 'parley-demo-blobs-'));
  const blobStore = await createFsBlobStore({ root: blobDir, clock });
  return {
    store,
    vaultStore,
    blobStore,
    description: `PostgreSQL, schema ${schema} in ${databaseOf(url)} (messages) and in ${databaseOf(vaultUrl)} (vault); media blobs in ${blobDir}`,
    async close() {
      await store.close();
      await vaultStore.close();
      await blobStore.close();
      rmSync(blobDir, { recursive: true, force: true });
      await dropSchema(url, schema);
      await dropSchema(vaultUrl, schema);
    },
  };
}

function siblingDatabase(url: string, suffix: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${databaseOf(url)}${suffix}`;
  return parsed.toString();
}

/** Host, port and database only: the demo prints it, so never the password. */
function databaseOf(url: string): string {
  const parsed = new URL(url);
  return decodeURIComponent(parsed.pathname.slice(1)) || decodeURIComponent(parsed.username);
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
