/**
 * Where a run keeps its data and what is set up once for the whole deployment: the message
 * store in a fresh schema of PARLEY_PG_URL's database, the key vault in a schema of the
 * `parley_vault` database (made by .ci/postgres-setup.sh) — a database of its own, as a
 * deployment keeps it, so a copy of the message store never carries the keys that open it —
 * and the business with its number, registered once (not by every instance).
 */
import { randomBytes } from 'node:crypto';
import { createGateway, createLocalKeyProvider, type Directory, ParleyError } from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createPostgresStore } from '@parley/storage-adapters/postgres';
import pg from 'pg';
import type { SharedDirectory } from './shared-directory.js';

export const VAULT_DATABASE = 'parley_vault';

export function vaultUrlFor(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${VAULT_DATABASE}`;
  return parsed.toString();
}

export interface Placement {
  readonly url: string;
  readonly schema: string;
  readonly vaultUrl: string;
  readonly vaultSchema: string;
}

/** Fresh schemas for one run (dropped by `dropPlacement`). */
export function newPlacement(url: string, vaultUrl = vaultUrlFor(url)): Placement {
  const schema = `mi_${randomBytes(5).toString('hex')}`;
  return { url, schema, vaultUrl, vaultSchema: `${schema}_vault` };
}

export async function dropPlacement(placement: Placement): Promise<void> {
  await dropSchema(placement.url, placement.schema);
  await dropSchema(placement.vaultUrl, placement.vaultSchema);
}

/** The business and its number, registered once for the whole deployment (in this process). */
export async function registerBusiness(
  placement: Placement,
  options: {
    readonly kekHex: string;
    readonly businessId: string;
    readonly number: string;
    readonly directory: SharedDirectory;
  },
): Promise<void> {
  const store = await createPostgresStore({ url: placement.url, schema: placement.schema, pool: { max: 2 } });
  const vaultStore = await createPostgresStore({
    url: placement.vaultUrl,
    schema: placement.vaultSchema,
    pool: { max: 2 },
  });
  const { directory } = options;
  const directoryLink: Directory = {
    publish: async (upload) => directory.publish(upload),
    availableOneTimePreKeys: async (number) => directory.availableOneTimePreKeys(number),
    availableOneTimeKyberPreKeys: async (number) => directory.availableOneTimeKyberPreKeys(number),
    fetchDevices: async (phoneNumber) => directory.fetchDevices(phoneNumber),
    fetchBundle: (phoneNumber, deviceId) => directory.fetchBundle(phoneNumber, deviceId),
  };
  const refuse = async () => {
    throw new ParleyError('ERR_TRANSPORT_FAILURE', 'the registering gateway sends nothing');
  };
  const crypto = createNodeCrypto();
  const gateway = createGateway({
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({ kek: Uint8Array.from(Buffer.from(options.kekHex, 'hex')), crypto }),
    transport: { send: refuse, requestRetry: refuse, acknowledge: refuse },
    directory: directoryLink,
    crypto,
    timer: false,
  });
  try {
    await gateway.registerBusiness({ businessId: options.businessId, retentionDays: 1 });
    await gateway.addNumber(options.businessId, options.number);
  } finally {
    await gateway.close();
    await store.close();
    await vaultStore.close();
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'parley-mi-harness' });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
