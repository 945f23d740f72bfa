/**
 * The real PostgreSQL server the PostgreSQL suites run against (`PARLEY_PG_URL`, made by
 * `.ci/postgres-setup.sh`). Without the variable the suites are skipped locally; under CI=true a
 * missing URL fails the run instead. Every suite makes its own schemas (and databases, where a
 * store must sit on a database of its own) with random names and drops them afterwards, so runs
 * repeat and test files running side by side never meet.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';

export const PG_URL = process.env.PARLEY_PG_URL;

if (PG_URL === undefined && process.env.CI === 'true') {
  throw new Error(
    'PARLEY_PG_URL is not set, and CI=true requires the PostgreSQL suites to run: ' +
      'export PARLEY_PG_URL="$(bash .ci/postgres-setup.sh)"',
  );
}

/** `describe` that skips (locally) when no server is configured. */
export const describePostgres: typeof describe.skip = (
  PG_URL === undefined ? describe.skip : describe
) as typeof describe.skip;

export function requireUrl(): string {
  if (PG_URL === undefined) throw new Error('PARLEY_PG_URL is not set');
  return PG_URL;
}

/** The password of PARLEY_PG_URL (for checks that it never shows up anywhere). */
export function urlPassword(url = requireUrl()): string {
  return decodeURIComponent(new URL(url).password);
}

/** `PARLEY_PG_URL` pointing at another database of the same server. */
export function urlForDatabase(database: string, url = requireUrl()): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Runs `body` on a short-lived connection of its own (the "second connection" of fault tests). */
export async function withAdmin<T>(body: (client: pg.Client) => Promise<T>, url = requireUrl()): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'parley-test-admin' });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

export async function dropSchemas(schemas: readonly string[], url = requireUrl()): Promise<void> {
  if (schemas.length === 0) return;
  await withAdmin(async (client) => {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }, url);
}

/** A database of its own (the role has CREATEDB); `drop` ends its sessions and removes it. */
export async function createDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName(prefix);
  await withAdmin((client) => client.query(`CREATE DATABASE "${name}"`));
  return {
    url: urlForDatabase(name),
    drop: () =>
      withAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}
