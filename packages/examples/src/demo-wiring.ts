/**
 * How the demo's frames travel between the network and the gateway: in process, over HTTP
 * (relay server + gateway server on 127.0.0.1) or over a WebSocket. And where it keeps its
 * state: SQLite files in a temporary folder, or PostgreSQL (`--store postgres`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock, Directory, Gateway, Store, Transport } from '@parley/core';
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

export type StoreKind = 'sqlite' | 'postgres';

export interface DemoStores {
  readonly store: Store;
  /** The key vault: always a separate store (its own file, or its own PostgreSQL database). */
  readonly vaultStore: Store;
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
    return {
      store,
      vaultStore,
      description: `SQLite, messages.db + vault.db in ${dir}`,
      async close() {
        await store.close();
        await vaultStore.close();
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
  return {
    store,
    vaultStore,
    description: `PostgreSQL, schema ${schema} in ${databaseOf(url)} (messages) and in ${databaseOf(vaultUrl)} (vault)`,
    async close() {
      await store.close();
      await vaultStore.close();
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
