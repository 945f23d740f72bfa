/**
 * Options of the PostgreSQL store, checked at the boundary, and the description of the server
 * that error messages may show: host, port, database and user — never the password (the URL
 * may carry one, so the URL itself is never echoed).
 */

import type { ConnectionOptions } from 'node:tls';
import type { Clock } from '@parley/core';
import { invalid, type StoreTestHooks } from '@parley/core/storage';

export interface PostgresPoolOptions {
  /** Connections this store keeps open at most. Default 10. */
  readonly max?: number;
  /** An idle connection is closed after this long. Default 30 000 ms. */
  readonly idleTimeoutMs?: number;
  /** Opening one connection (TCP, TLS, authentication) fails after this long. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** A connection is retired after this long (behind load balancers that cut old sockets). Default: never. */
  readonly maxLifetimeMs?: number;
}

export interface PostgresTestHooks extends StoreTestHooks {
  /** Called after each bounded batch of `sweepExpired` with the number of records it deleted. */
  readonly afterSweepBatch?: (deleted: number) => void;
}

export interface PostgresStoreOptions {
  /**
   * `postgres://user:password@host:5432/database` (or `postgresql://`; `?sslmode=` and the other
   * parameters `pg` understands are passed through). Without a password in the URL, `PGPASSWORD`
   * or `~/.pgpass` is used. Error messages name host, port, database and user, never the password.
   */
  readonly url: string;
  /**
   * PostgreSQL schema holding this store's tables (created if missing). Default `parley`. Two
   * stores in two schemas of one database are independent; the key vault belongs on a database
   * (or cluster) of its own — see the README on backups and crypto-shredding.
   */
  readonly schema?: string;
  readonly clock?: Clock;
  /**
   * Region the data rests in. Recorded in the database the first time it is declared; opening
   * the same schema later with another region is refused (`ERR_RESIDENCY`), and a store opened
   * without one reports the recorded region.
   */
  readonly region?: string;
  readonly pool?: PostgresPoolOptions;
  /**
   * Server-side limit for one statement, waiting for locks included. Default 30 000 ms; 0 turns it
   * off. A commit cut by it is rolled back (`ERR_STORE_FAILURE`, retryable).
   */
  readonly statementTimeoutMs?: number;
  /** TLS settings for `pg` (`true`, or `tls.connect` options such as `ca`). */
  readonly ssl?: boolean | ConnectionOptions;
  /** Shown in `pg_stat_activity`. Default `parley`. */
  readonly applicationName?: string;
  /** Expired records deleted per statement by `sweepExpired`. Default 1000. */
  readonly sweepBatchSize?: number;
  /**
   * Group commit (default true): the commits called during one turn of the event loop share one
   * transaction — two round trips and one WAL flush for all of them — each still all-or-nothing
   * and checked against the ones before it (a conflict fails that commit alone). `false` gives
   * every commit a transaction of its own.
   */
  readonly groupCommit?: boolean;
  /** Testing only: fault injection inside the commit transaction and sweep observation. */
  readonly testHooks?: PostgresTestHooks;
}

export interface CheckedPostgresOptions {
  readonly url: string;
  readonly schema: string;
  readonly target: ServerTarget;
  readonly pool: Required<Omit<PostgresPoolOptions, 'maxLifetimeMs'>> & { readonly maxLifetimeMs: number };
  readonly statementTimeoutMs: number;
  readonly applicationName: string;
  readonly sweepBatchSize: number;
  readonly region: string | undefined;
  readonly groupCommit: boolean;
}

/** What error messages may say about the server: everything in the URL but the password. */
export interface ServerTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** The password as given (only to redact it from driver messages; never shown). */
  readonly secret: string | undefined;
}

export const DEFAULT_SCHEMA = 'parley';
const DEFAULTS = {
  max: 10,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 30_000,
  sweepBatchSize: 1_000,
};
/** Lower-case identifiers only: no quoting surprises, and `pg_namespace` shows what was given. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const APPLICATION_NAME = /^[\x20-\x7e]{1,40}$/;

export function checkPostgresOptions(options: PostgresStoreOptions): CheckedPostgresOptions {
  if (options === null || typeof options !== 'object') {
    throw invalid('"options" expected an object with a "url"', { field: 'options' });
  }
  const target = parseUrl(options.url);
  const schema = options.schema ?? DEFAULT_SCHEMA;
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema) || schema.startsWith('pg_')) {
    throw invalid('"schema" expected a lower-case identifier (a-z, 0-9, _; not starting with pg_)', {
      field: 'schema',
    });
  }
  const pool = options.pool ?? {};
  if (pool === null || typeof pool !== 'object')
    throw invalid('"pool" expected an object', { field: 'pool' });
  const applicationName = options.applicationName ?? 'parley';
  if (typeof applicationName !== 'string' || !APPLICATION_NAME.test(applicationName)) {
    throw invalid('"applicationName" expected 1 to 40 printable ASCII characters', {
      field: 'applicationName',
    });
  }
  const region = options.region;
  if (region !== undefined && (typeof region !== 'string' || region.length === 0)) {
    throw invalid('"region" expected a non-empty string', { field: 'region' });
  }
  const groupCommit = options.groupCommit ?? true;
  if (typeof groupCommit !== 'boolean') {
    throw invalid('"groupCommit" expected true or false', { field: 'groupCommit' });
  }
  return {
    url: options.url,
    schema,
    target,
    pool: {
      max: integer(pool.max, 'pool.max', DEFAULTS.max, 1),
      idleTimeoutMs: integer(pool.idleTimeoutMs, 'pool.idleTimeoutMs', DEFAULTS.idleTimeoutMs, 1),
      connectTimeoutMs: integer(pool.connectTimeoutMs, 'pool.connectTimeoutMs', DEFAULTS.connectTimeoutMs, 1),
      maxLifetimeMs: integer(pool.maxLifetimeMs, 'pool.maxLifetimeMs', 0, 1_000),
    },
    statementTimeoutMs: integer(
      options.statementTimeoutMs,
      'statementTimeoutMs',
      DEFAULTS.statementTimeoutMs,
      0,
    ),
    applicationName,
    sweepBatchSize: integer(options.sweepBatchSize, 'sweepBatchSize', DEFAULTS.sweepBatchSize, 1),
    region,
    groupCommit,
  };
}

function integer(value: unknown, field: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  // 0 means "off" for the lifetime; anything else below `min` is a mistake.
  if (field === 'pool.maxLifetimeMs' && value === 0) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`"${field}" expected an integer ≥ ${min}`, { field });
  }
  return value;
}

function parseUrl(url: unknown): ServerTarget {
  const refuse = () =>
    invalid('"url" expected postgres://user:password@host:port/database (the URL is not repeated here)', {
      field: 'url',
    });
  if (typeof url !== 'string' || url.length === 0) throw refuse();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse();
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw refuse();
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw refuse();
    }
  };
  const socketHost = parsed.searchParams.get('host');
  const host = parsed.hostname !== '' ? decode(parsed.hostname) : (socketHost ?? 'localhost');
  const port = parsed.port === '' ? 5432 : Number(parsed.port);
  const user = parsed.username === '' ? 'the current OS user' : decode(parsed.username);
  const database = parsed.pathname.length > 1 ? decode(parsed.pathname.slice(1)) : user;
  return {
    host,
    port,
    database,
    user,
    secret: parsed.password === '' ? undefined : decode(parsed.password),
  };
}

/** `host:port` plus database and user, for messages. */
export function describeTarget(target: ServerTarget): string {
  return `${target.host}:${target.port} (database "${target.database}", user "${target.user}")`;
}
