/**
 * What PostgreSQL and `pg` failures mean for a Parley caller: each becomes a `ParleyError` whose
 * message names the setting to look at (`url`, `statementTimeoutMs`, `pool.max`, `schema`) and
 * what happened to the data. Driver messages are passed on only as a scrubbed `cause`: the
 * password is cut out of them and no connection string ever appears.
 */
import { ParleyError } from '@parley/core';
import pg from 'pg';
import { describeTarget, type ServerTarget } from './postgres-options.js';

const STORE = 'postgres';

/** SQLSTATEs that end the session: the server closed (or is closing) this connection. */
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03']);

/** Node socket errors and `pg` messages that mean "this connection is gone". */
const SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);
const LOST_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'Query read timeout',
  'timeout expired',
  'connection timeout',
  'timeout exceeded when trying to connect',
];

export function sqlStateOf(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError && typeof error.code === 'string' ? error.code : undefined;
}

/**
 * True when the connection itself failed (as opposed to the server refusing a statement): what
 * was sent may or may not have been executed.
 */
export function isConnectionLoss(error: unknown): boolean {
  const sqlState = sqlStateOf(error);
  if (sqlState !== undefined) return SESSION_ENDED.has(sqlState) || sqlState.startsWith('08');
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
  const message = error instanceof Error ? error.message : '';
  return LOST_MESSAGES.some((text) => message.includes(text));
}

/**
 * A copy of a driver error that is safe to keep as `cause`: its name, code and message with the
 * password and any URL cut out. Driver errors are never attached as they are.
 */
export function scrubbedCause(error: unknown, target: ServerTarget): Error {
  const name = error instanceof Error ? error.name : 'Error';
  let message = error instanceof Error ? error.message : String(error);
  message = message.replace(/postgres(ql)?:\/\/\S*/gi, 'postgres://…');
  if (target.secret) message = message.split(target.secret).join('…');
  const cause = new Error(message);
  cause.name = name;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') Object.assign(cause, { code });
  return cause;
}

export interface FailureContext {
  readonly target: ServerTarget;
  readonly schema: string;
  /** What the store was doing: "reading", "committing", "opening", … */
  readonly action: string;
  /** What happened to the data, e.g. "the commit was rolled back; nothing was written." */
  readonly outcome?: string;
  readonly statementTimeoutMs: number;
}

/** Maps a failure to a typed error. ParleyErrors pass through unchanged. */
export function storeError(error: unknown, context: FailureContext): ParleyError {
  if (error instanceof ParleyError) return error;
  const { target, action } = context;
  // "…: <advice>. <What happened to the data>." — the outcome is a sentence of its own.
  const outcome = context.outcome
    ? ` ${context.outcome.charAt(0).toUpperCase()}${context.outcome.slice(1)}`
    : '';
  const sqlState = sqlStateOf(error);
  const cause = scrubbedCause(error, target);
  const fail = (
    code: 'ERR_STORE_FAILURE' | 'ERR_CONFIGURATION' | 'ERR_STORE_CONFLICT',
    setting: string | undefined,
    advice: string,
    retryable: boolean,
  ) =>
    new ParleyError(
      code,
      `PostgreSQL failed while ${action}${sqlState ? ` (SQLSTATE ${sqlState})` : ''}: ${advice}.${outcome}`,
      {
        store: STORE,
        action,
        ...(setting === undefined ? {} : { setting }),
        ...(sqlState === undefined ? {} : { sqlState }),
        retryable,
      },
      { cause },
    );

  if (sqlState === '40001' || sqlState === '40P01') {
    return fail(
      'ERR_STORE_CONFLICT',
      undefined,
      'another commit on the same records got in the way (serialization failure or deadlock); re-read and retry',
      true,
    );
  }
  if (sqlState === '57014') {
    const byTimeout = cause.message.includes('statement timeout');
    return fail(
      'ERR_STORE_FAILURE',
      byTimeout ? 'statementTimeoutMs' : undefined,
      byTimeout
        ? `a statement ran longer than "statementTimeoutMs" (${context.statementTimeoutMs} ms), usually waiting ` +
            'for a lock another connection held; retry, or raise "statementTimeoutMs"'
        : 'the statement was cancelled on the server (pg_cancel_backend); retry',
      true,
    );
  }
  if (sqlState === '55P03') {
    return fail('ERR_STORE_FAILURE', undefined, 'a lock was not available in time; retry', true);
  }
  if (sqlState === '28P01' || sqlState === '28000') {
    return fail(
      'ERR_CONFIGURATION',
      'url',
      `the server at ${describeTarget(target)} refused the login; check user and password in "url" ` +
        '(and pg_hba.conf on the server)',
      false,
    );
  }
  if (cause.message.includes('client password must be a string')) {
    return fail(
      'ERR_CONFIGURATION',
      'url',
      `the server at ${describeTarget(target)} asked for a password and none was given ` +
        '(put it in "url", or provide PGPASSWORD or ~/.pgpass)',
      false,
    );
  }
  if (sqlState === '3D000') {
    return fail(
      'ERR_CONFIGURATION',
      'url',
      `database "${target.database}" does not exist on ${target.host}:${target.port}; create it or fix "url"`,
      false,
    );
  }
  if (sqlState === '42501') {
    return fail(
      'ERR_CONFIGURATION',
      'schema',
      `user "${target.user}" lacks a privilege on schema "${context.schema}" (or to create it); ` +
        'grant it, or choose another "schema"',
      false,
    );
  }
  if (sqlState === '53300') {
    return fail(
      'ERR_STORE_FAILURE',
      'pool.max',
      'the server has no free connection slot; lower "pool.max" across instances or raise max_connections',
      true,
    );
  }
  if (sqlState === '42P01' || sqlState === '3F000') {
    return fail(
      'ERR_STORE_FAILURE',
      'schema',
      `the Parley tables in schema "${context.schema}" are gone (dropped while open?); open the store again to recreate them`,
      false,
    );
  }
  if (sqlState === '53100') {
    return fail(
      'ERR_STORE_FAILURE',
      undefined,
      'the server is out of disk space; free space and retry',
      true,
    );
  }
  if (
    cause.message.includes('timeout exceeded when trying to connect') ||
    cause.message.includes('connection timeout')
  ) {
    return fail(
      'ERR_STORE_FAILURE',
      'pool.connectTimeoutMs',
      `no connection to ${describeTarget(target)} was ready within "pool.connectTimeoutMs"; the server ` +
        'did not answer in time or every one of "pool.max" connections was busy; retry',
      true,
    );
  }
  if (isConnectionLoss(error)) {
    return fail(
      'ERR_STORE_FAILURE',
      'url',
      `the connection to ${describeTarget(target)} given by "url" failed or was lost; ` +
        'check that the server runs and is reachable, then retry',
      true,
    );
  }
  return fail('ERR_STORE_FAILURE', undefined, 'retry; if it keeps failing, check the server log', false);
}
