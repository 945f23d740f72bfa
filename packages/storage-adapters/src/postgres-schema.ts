/**
 * The tables of a PostgreSQL store and their migrations. Instances starting together migrate
 * once: the upgrade runs in one transaction under an advisory lock keyed by the schema name,
 * and every instance re-reads the version after taking it. A schema written by a newer Parley
 * is refused and left untouched.
 */
import { ParleyError } from '@parley/core';
import type pg from 'pg';
import { migrationLockKey } from './postgres-locks.js';

/** Schema version this build writes. Bump it and append to `migrations` together. */
export const POSTGRES_SCHEMA_VERSION = 1;

/** The oldest server this adapter supports: `pg_terminate_backend(pid, timeout)` came in 14. */
export const MIN_SERVER_VERSION = 140_000;

/** Table and sequence names, quoted and qualified by the store's schema. */
export interface Tables {
  readonly schema: string;
  readonly meta: string;
  readonly records: string;
  readonly commits: string;
  readonly sequence: string;
}

export function tablesOf(schema: string): Tables {
  const q = `"${schema}"`;
  return {
    schema: q,
    meta: `${q}.parley_schema`,
    records: `${q}.parley_records`,
    commits: `${q}.parley_commits`,
    sequence: `${q}.parley_version`,
  };
}

/**
 * migrations(t)[i] upgrades a schema from version i to i + 1. Never edit a shipped entry.
 *
 * v1:
 * - `parley_records`: one row per record. `key` is the key's UTF-16BE bytes, so bytea order
 *   (memcmp) is JavaScript string order and lone surrogates survive (text would refuse them).
 *   The primary key (namespace, key) serves get, getMany and prefix listing as range scans.
 *   `expires_at` is epoch ms as float8 (any finite JS number round-trips); the partial index on it
 *   serves the sweep. `version` comes from the store-wide sequence `parley_version`.
 * - `parley_commits`: the id of every commit for a short while, written in the commit's own
 *   transaction, so a commit whose connection died after COMMIT was sent can be looked up.
 */
function migrations(t: Tables): readonly string[] {
  return [
    `CREATE SEQUENCE ${t.sequence} AS bigint MINVALUE 1;
     CREATE TABLE ${t.records} (
       namespace text NOT NULL,
       key bytea NOT NULL,
       value bytea NOT NULL,
       version bigint NOT NULL CHECK (version > 0),
       expires_at double precision,
       PRIMARY KEY (namespace, key)
     );
     CREATE INDEX parley_records_expiry ON ${t.records} (expires_at) WHERE expires_at IS NOT NULL;
     CREATE TABLE ${t.commits} (
       id bytea PRIMARY KEY,
       committed_at timestamptz NOT NULL DEFAULT now()
     );
     CREATE INDEX parley_commits_age ON ${t.commits} (committed_at);`,
  ];
}

export interface SchemaState {
  /** The region recorded in the database (declared now or by an earlier open). */
  readonly region: string | undefined;
}

/**
 * Brings the schema to POSTGRES_SCHEMA_VERSION on `client` (a dedicated connection), checks and
 * records the region. Throws ERR_STORE_SCHEMA / ERR_RESIDENCY / ERR_CONFIGURATION; any error
 * rolls the whole upgrade back.
 */
export async function migrate(
  client: pg.ClientBase,
  schemaName: string,
  declaredRegion: string | undefined,
): Promise<SchemaState> {
  const t = tablesOf(schemaName);
  const server = Number(
    (await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v,
  );
  if (!(server >= MIN_SERVER_VERSION)) {
    throw new ParleyError(
      'ERR_CONFIGURATION',
      `PostgreSQL ${Math.floor(server / 10_000)} is too old for this store; use PostgreSQL 14 or later (setting "url")`,
      { store: 'postgres', setting: 'url', serverVersion: server },
    );
  }
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${migrationLockKey(schemaName)})`);
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schemaName]);
    // Only create when missing: a role may use a schema an administrator made without being
    // allowed to CREATE in the database.
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${t.schema}`);
    const found = await client.query<{ meta: string | null; records: string | null }>(
      `SELECT to_regclass($1) AS meta, to_regclass($2) AS records`,
      [`${t.meta}`, `${t.records}`],
    );
    let version = 0;
    let recorded: string | undefined;
    if (found.rows[0]?.meta !== null) {
      const row = (
        await client.query<{ version: number; region: string | null }>(
          `SELECT version, region FROM ${t.meta} WHERE id = 1 FOR UPDATE`,
        )
      ).rows[0];
      if (row === undefined || !Number.isSafeInteger(row.version) || row.version < 0) {
        throw new ParleyError(
          'ERR_STORE_SCHEMA',
          `the schema version row in "${schemaName}".parley_schema is unreadable; restore the database from a backup`,
          { store: 'postgres', schema: schemaName },
        );
      }
      version = row.version;
      recorded = row.region ?? undefined;
    } else if (found.rows[0]?.records !== null) {
      throw new ParleyError(
        'ERR_STORE_SCHEMA',
        `schema "${schemaName}" holds a parley_records table but no parley_schema; it is not a store this ` +
          'adapter made. Point "schema" at a new or a Parley schema',
        { store: 'postgres', schema: schemaName, setting: 'schema' },
      );
    } else {
      await client.query(
        `CREATE TABLE ${t.meta} (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL, region text);
         INSERT INTO ${t.meta} (id, version) VALUES (1, 0)`,
      );
    }
    if (version > POSTGRES_SCHEMA_VERSION) {
      throw new ParleyError(
        'ERR_STORE_SCHEMA',
        `schema "${schemaName}" is at version ${version}, written by a newer Parley; this version understands up ` +
          `to ${POSTGRES_SCHEMA_VERSION}. Upgrade @parley/storage-adapters (nothing was changed)`,
        { store: 'postgres', schema: schemaName, found: version, supported: POSTGRES_SCHEMA_VERSION },
      );
    }
    const steps = migrations(t);
    for (let from = version; from < POSTGRES_SCHEMA_VERSION; from++) {
      await client.query(steps[from]!);
      await client.query(`UPDATE ${t.meta} SET version = $1 WHERE id = 1`, [from + 1]);
    }
    if (declaredRegion !== undefined && recorded !== undefined && declaredRegion !== recorded) {
      throw new ParleyError(
        'ERR_RESIDENCY',
        `schema "${schemaName}" was declared to rest in region "${recorded}", but this store was opened with ` +
          `"region" "${declaredRegion}"; fix "region" or point "url" at the database of that region`,
        { store: 'postgres', setting: 'region', recorded, declared: declaredRegion },
      );
    }
    if (declaredRegion !== undefined && recorded === undefined) {
      await client.query(`UPDATE ${t.meta} SET region = $1 WHERE id = 1`, [declaredRegion]);
      recorded = declaredRegion;
    }
    await client.query('COMMIT');
    return { region: recorded };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
