/**
 * Faults on a real PostgreSQL: bad URLs, dropped connections, a session terminated in the middle
 * of a commit (pg_terminate_backend from a second connection), a statement timeout, a deadlock,
 * and commits whose outcome is unknown because the connection died around COMMIT (a TCP proxy
 * cuts the wire at the exact message). Each failure is a typed ParleyError naming the setting;
 * the password appears nowhere in it; nothing is half-written; nothing is replayed.
 */
import { inspect } from 'node:util';
import { isParleyError, type Mutation, type ParleyError, type Store } from '@parley/core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStoreOptions } from '../src/postgres.js';
import { recordLockKey } from '../src/postgres-locks.js';
import { encodeKey } from '../src/utf16-keys.js';
import {
  describePostgres,
  dropSchemas,
  PG_URL,
  uniqueName,
  urlForDatabase,
  urlPassword,
  withAdmin,
} from './support/postgres-server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value);

const schemas: string[] = [];
const stores: Store[] = [];

async function open(options: Partial<PostgresStoreOptions> = {}): Promise<{ store: Store; schema: string }> {
  const schema = options.schema ?? uniqueName('faults');
  if (!schemas.includes(schema)) schemas.push(schema);
  const store = await createPostgresStore({ url: PG_URL!, schema, pool: { max: 3 }, ...options });
  stores.push(store);
  return { store, schema };
}

async function errorOf(promise: Promise<unknown>): Promise<ParleyError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isParleyError(error)) throw new Error(`expected a ParleyError, got ${inspect(error)}`);
  return error;
}

/** The secret is in none of: message, details, JSON, the whole inspected cause chain. */
function expectNoSecret(error: ParleyError, secret: string): void {
  expect(secret.length).toBeGreaterThan(5);
  const seen = [
    error.message,
    JSON.stringify(error),
    JSON.stringify(error.details),
    inspect(error, { depth: 20, showHidden: true }),
  ];
  for (let cause: unknown = error.cause; cause !== undefined; cause = (cause as Error).cause) {
    seen.push(inspect(cause, { depth: 20, showHidden: true }), String((cause as Error).message));
  }
  for (const shown of seen) expect(shown).not.toContain(secret);
}

/** Every row of a store's tables, as text: "byte-identical" is equality of this. */
async function snapshot(schema: string): Promise<string[]> {
  return withAdmin(async (client) => {
    const { rows } = await client.query(
      `SELECT namespace || ' ' || encode(key, 'hex') || ' ' || encode(value, 'hex') || ' ' || version || ' ' ||
              coalesce(expires_at::text, '-') AS row
       FROM "${schema}".parley_records ORDER BY namespace, key`,
    );
    return rows.map((r: { row: string }) => r.row);
  });
}

/**
 * Waits until a commit of `schema` is blocked on a lock; returns its backend pid. One monitoring
 * connection polls every few milliseconds, so the test reacts well within deadlock_timeout (1 s).
 */
async function blockedCommit(schema: string): Promise<number> {
  return withAdmin(async (monitor) => {
    for (let i = 0; i < 1_000; i++) {
      const { rows } = await monitor.query(
        `SELECT pid FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND application_name LIKE 'parley-commit-%' AND query LIKE $1`,
        [`%"${schema}".parley_records%`],
      );
      if (rows[0]?.pid !== undefined) return rows[0].pid as number;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error('no commit got blocked');
  });
}

const decryptLike = (tag: string): Mutation => [
  { type: 'put', namespace: 'sessions', key: 'alice', value: bytes(`session-${tag}`) },
  { type: 'delete', namespace: 'prekeys', key: 'otpk/7' },
  { type: 'put', namespace: 'messages', key: 'in/1', value: bytes(`message-${tag}`) },
  { type: 'put', namespace: 'counters', key: 'received', value: bytes(`count-${tag}`) },
];

async function seed(store: Store): Promise<number> {
  const { versions } = await store.commit([
    { type: 'put', namespace: 'sessions', key: 'alice', value: bytes('session-1') },
    { type: 'put', namespace: 'prekeys', key: 'otpk/7', value: bytes('prekey') },
    { type: 'put', namespace: 'counters', key: 'received', value: bytes('count-1') },
  ]);
  return versions[0]!.version;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await dropSchemas(schemas.splice(0));
});

describePostgres('postgres: bad URLs', () => {
  const secret = 'Hunter2-not-the-real-one';

  it('an unreachable server is ERR_STORE_FAILURE naming "url", host and port — never the password', async () => {
    const url = `postgres://parley:${secret}@127.0.0.1:1/parley`;
    const error = await errorOf(createPostgresStore({ url, pool: { connectTimeoutMs: 2_000 } }));
    expect(error.code).toBe('ERR_STORE_FAILURE');
    expect(error.details).toMatchObject({ store: 'postgres', setting: 'url', retryable: true });
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).toContain('"url"');
    expectNoSecret(error, secret);
  });

  it('a wrong password is ERR_CONFIGURATION naming "url", and the password is nowhere', async () => {
    const url = new URL(PG_URL!);
    url.password = secret;
    const error = await errorOf(createPostgresStore({ url: url.toString() }));
    expect(error.code).toBe('ERR_CONFIGURATION');
    expect(error.details).toMatchObject({ setting: 'url', sqlState: '28P01', retryable: false });
    expect(error.message).toMatch(/refused the login/);
    expectNoSecret(error, secret);
  });

  it('a URL without a password (and no PGPASSWORD) is ERR_CONFIGURATION naming "url"', async () => {
    const url = new URL(PG_URL!);
    url.password = '';
    const saved = { PGPASSWORD: process.env.PGPASSWORD, PGPASSFILE: process.env.PGPASSFILE };
    delete process.env.PGPASSWORD;
    process.env.PGPASSFILE = '/nonexistent/parley-test-pgpass'; // and no ~/.pgpass either
    try {
      const error = await errorOf(createPostgresStore({ url: url.toString() }));
      expect(error.code).toBe('ERR_CONFIGURATION');
      expect(error.details).toMatchObject({ setting: 'url', retryable: false });
      expect(error.message).toMatch(/asked for a password and none was given/);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('a database that does not exist is ERR_CONFIGURATION naming it; the real password is nowhere', async () => {
    const error = await errorOf(createPostgresStore({ url: urlForDatabase('parley_no_such_database') }));
    expect(error.code).toBe('ERR_CONFIGURATION');
    expect(error.details).toMatchObject({ setting: 'url', sqlState: '3D000' });
    expect(error.message).toContain('"parley_no_such_database" does not exist');
    expectNoSecret(error, urlPassword());
  });

  it('a malformed URL or option is ERR_INVALID_ARGUMENT naming the field; the URL is not echoed', async () => {
    for (const url of [`mysql://u:${secret}@h/db`, `postgres://u:${secret}@[zz/db`, '', 42]) {
      const error = await errorOf(createPostgresStore({ url: url as string }));
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.details.field).toBe('url');
      expectNoSecret(error, secret);
    }
    const bad: [Partial<PostgresStoreOptions>, string][] = [
      [{ schema: 'Bad-Name' }, 'schema'],
      [{ schema: 'pg_catalog' }, 'schema'],
      [{ pool: { max: 0 } }, 'pool.max'],
      [{ pool: { connectTimeoutMs: 1.5 } }, 'pool.connectTimeoutMs'],
      [{ statementTimeoutMs: -1 }, 'statementTimeoutMs'],
      [{ sweepBatchSize: 0 }, 'sweepBatchSize'],
      [{ region: '' }, 'region'],
      [{ applicationName: 'x'.repeat(41) }, 'applicationName'],
    ];
    for (const [options, field] of bad) {
      const error = await errorOf(createPostgresStore({ url: PG_URL!, ...options }));
      expect(error.code, field).toBe('ERR_INVALID_ARGUMENT');
      expect(error.details.field).toBe(field);
    }
  });
});

describePostgres('postgres: connections dropped and terminated', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    const upstream = new URL(PG_URL!);
    proxy = await startTcpProxy(upstream.hostname, Number(upstream.port || 5432));
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('idle connections the server terminated are replaced: reads and commits go on', async () => {
    const applicationName = uniqueName('parley_idle');
    const { store } = await open({ applicationName });
    await seed(store);
    expect(text((await store.get('sessions', 'alice'))?.value)).toBe('session-1');
    const terminated = await withAdmin(async (client) => {
      const { rows } = await client.query(
        'SELECT pg_terminate_backend(pid, 5000) AS ok FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      return rows.length;
    });
    expect(terminated).toBeGreaterThan(0);
    expect(text((await store.get('sessions', 'alice'))?.value)).toBe('session-1');
    await store.commit([{ type: 'put', namespace: 'meta', key: 'after', value: bytes('ok') }]);
    expect(text((await store.get('meta', 'after'))?.value)).toBe('ok');
  });

  it('a read whose connection is cut mid-flight is retried once on a new connection', async () => {
    const { store: direct, schema } = await open();
    await seed(direct);
    const { store } = await open({ url: proxy.urlThrough(PG_URL!), schema });
    const cuts = proxy.cuts;
    proxy.cutBefore('SELECT namespace, key, value, version, expires_at');
    expect(text((await store.get('sessions', 'alice'))?.value)).toBe('session-1');
    expect(proxy.cuts).toBe(cuts + 1);
  });

  it('a connection cut before COMMIT left the client is retried once, and the commit lands exactly once', async () => {
    const { store: direct, schema } = await open();
    const version = await seed(direct);
    const { store } = await open({ url: proxy.urlThrough(PG_URL!), schema });
    const cuts = proxy.cuts;
    proxy.cutBefore('BEGIN');
    const { versions } = await store.commit(decryptLike('2'), {
      expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
    });
    expect(proxy.cuts).toBe(cuts + 1);
    expect(versions).toHaveLength(3);
    expect((await direct.get('sessions', 'alice'))?.version).toBe(versions[0]!.version);
    expect(text((await direct.get('messages', 'in/1'))?.value)).toBe('message-2');
    expect(await direct.get('prekeys', 'otpk/7')).toBeUndefined();
  });

  it('a session terminated in the middle of a commit (pg_terminate_backend): nothing is written, the store goes on', async () => {
    const { store, schema } = await open();
    const version = await seed(store);
    const before = await snapshot(schema);
    await withAdmin(async (admin) => {
      // Hold the counter row: the commit's upsert (after its prekey delete was applied inside the
      // transaction) waits for it.
      await admin.query('BEGIN');
      await admin.query(`SELECT 1 FROM "${schema}".parley_records WHERE namespace = 'counters' FOR UPDATE`);
      const pending = errorOf(
        store.commit(decryptLike('2'), {
          expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
        }),
      );
      const pid = await blockedCommit(schema);
      const { rows } = await admin.query('SELECT pg_terminate_backend($1, 5000) AS ok', [pid]);
      expect(rows[0].ok).toBe(true);
      const error = await pending;
      expect(error.code).toBe('ERR_STORE_FAILURE');
      expect(error.message).toMatch(/verified that it was not applied: nothing was written/);
      expect(error.details).toMatchObject({ setting: 'url', retryable: true, sqlState: '57P01' });
      expectNoSecret(error, urlPassword());
      await admin.query('ROLLBACK');
    });
    expect(await snapshot(schema)).toEqual(before);
    const { versions } = await store.commit(decryptLike('3'), {
      expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
    });
    expect(versions[0]!.version).toBeGreaterThan(version);
    expect(text((await store.get('messages', 'in/1'))?.value)).toBe('message-3');
  });

  it('COMMIT sent, connection cut before the server saw it: verified as not written, not replayed', async () => {
    const { store: direct, schema } = await open();
    const version = await seed(direct);
    const before = await snapshot(schema);
    const { store } = await open({ url: proxy.urlThrough(PG_URL!), schema });
    await store.get('sessions', 'alice'); // a warm connection, so the cut hits the commit itself
    proxy.cutBefore('COMMIT');
    const error = await errorOf(
      store.commit(decryptLike('2'), { expectVersions: [{ namespace: 'sessions', key: 'alice', version }] }),
    );
    expect(error.code).toBe('ERR_STORE_FAILURE');
    expect(error.message).toMatch(/verified that it was not applied: nothing was written/);
    expect(error.details).toMatchObject({ retryable: true });
    expectNoSecret(error, urlPassword());
    expect(await snapshot(schema)).toEqual(before);
  });

  it('COMMIT applied but its answer lost: the commit id proves it; the versions are returned, nothing twice', async () => {
    const { store: direct, schema } = await open();
    const version = await seed(direct);
    const { store } = await open({ url: proxy.urlThrough(PG_URL!), schema });
    await store.get('sessions', 'alice');
    const cuts = proxy.cuts;
    // Forward the batch with COMMIT; swallow the server's CommandComplete "COMMIT" and cut.
    proxy.cutReplyAfter('COMMIT', 'COMMIT\u0000');
    const { versions } = await store.commit(decryptLike('2'), {
      expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
    });
    expect(proxy.cuts).toBe(cuts + 1);
    expect(versions.map((v) => v.key)).toEqual(['alice', 'in/1', 'received']);
    for (const { namespace, key, version: written } of versions) {
      expect((await direct.get(namespace, key))?.version).toBe(written);
    }
    expect(text((await direct.get('sessions', 'alice'))?.value)).toBe('session-2');
    expect(await direct.get('prekeys', 'otpk/7')).toBeUndefined();
    // Not replayed: the sequence moved only by what the one transaction took.
    const next = (await direct.commit([{ type: 'put', namespace: 'meta', key: 'probe', value: bytes('p') }]))
      .versions[0]!.version;
    expect(next).toBe(Math.max(...versions.map((v) => v.version)) + 1);
  });

  it('COMMIT sent and the server unreachable afterwards: the outcome is reported unknown, never guessed', async () => {
    const { store: direct, schema } = await open();
    const version = await seed(direct);
    const { store } = await open({
      url: proxy.urlThrough(PG_URL!),
      schema,
      pool: { max: 2, connectTimeoutMs: 1_000 },
    });
    await store.get('sessions', 'alice');
    proxy.cutReplyAfter('COMMIT', 'COMMIT\u0000', { thenRefuse: true });
    try {
      const error = await errorOf(
        store.commit(decryptLike('2'), {
          expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
        }),
      );
      expect(error.code).toBe('ERR_STORE_FAILURE');
      expect(error.details).toMatchObject({ outcome: 'unknown', retryable: false });
      expect(error.message).toMatch(/may or may not have been written: re-read the records/);
      expectNoSecret(error, urlPassword());
    } finally {
      proxy.refuse(false);
    }
    // What the caller is told to do: re-read. Here the server had applied it.
    expect(text((await direct.get('sessions', 'alice'))?.value)).toBe('session-2');
  });
});

describePostgres('postgres: timeouts and conflicts between sessions', () => {
  it('a statement timeout is ERR_STORE_FAILURE naming "statementTimeoutMs"; nothing is written', async () => {
    const { store, schema } = await open({ statementTimeoutMs: 300 });
    const version = await seed(store);
    const before = await snapshot(schema);
    await withAdmin(async (admin) => {
      await admin.query('BEGIN');
      await admin.query(`SELECT 1 FROM "${schema}".parley_records WHERE namespace = 'counters' FOR UPDATE`);
      const error = await errorOf(
        store.commit(decryptLike('2'), {
          expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
        }),
      );
      await admin.query('ROLLBACK');
      expect(error.code).toBe('ERR_STORE_FAILURE');
      expect(error.details).toMatchObject({
        setting: 'statementTimeoutMs',
        sqlState: '57014',
        retryable: true,
      });
      expect(error.message).toMatch(/"statementTimeoutMs" \(300 ms\)/);
      expect(error.message).toMatch(/nothing was written/);
      expectNoSecret(error, urlPassword());
    });
    expect(await snapshot(schema)).toEqual(before);
    await store.commit(decryptLike('3'), {
      expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
    });
    expect(text((await store.get('counters', 'received'))?.value)).toBe('count-3');
  });

  it('a deadlock the server breaks is ERR_STORE_CONFLICT (re-read and retry); nothing is written', async () => {
    const { store, schema } = await open();
    const version = await seed(store);
    const before = await snapshot(schema);
    const sessionLock = recordLockKey(schema, 'sessions', encodeKey('alice'));
    await withAdmin(async (admin) => {
      // The commit holds the advisory lock of sessions/alice and waits for the counter row the
      // admin holds; the admin then asks for that advisory lock: a cycle the server breaks.
      await admin.query('BEGIN');
      await admin.query(`SELECT 1 FROM "${schema}".parley_records WHERE namespace = 'counters' FOR UPDATE`);
      const pending = errorOf(
        store.commit(decryptLike('2'), {
          expectVersions: [{ namespace: 'sessions', key: 'alice', version }],
        }),
      );
      await blockedCommit(schema);
      const adminLock = admin.query(`SELECT pg_advisory_xact_lock(${sessionLock})`).then(
        () => 'granted',
        (error: { code?: string }) => error.code,
      );
      const error = await pending;
      const adminOutcome = await adminLock;
      await admin.query('ROLLBACK');
      // The session that waited longest detects the deadlock: the commit. (If the server ever picks
      // the admin instead, the commit goes through — then this test says so.)
      expect(adminOutcome).toBe('granted');
      expect(error.code).toBe('ERR_STORE_CONFLICT');
      expect(error.details).toMatchObject({ sqlState: '40P01', retryable: true });
      expect(error.message).toMatch(/re-read and retry/);
    });
    expect(await snapshot(schema)).toEqual(before);
  });
});
