/**
 * The PostgreSQL store beyond the conformance suite, on a real server: schema and migrations,
 * the indexes the queries use, region, pool settings, the sweep's batches, corrupted rows, and
 * commits from several store instances (separate pools, so separate server sessions) at once.
 */
import { isParleyError, type ParleyError, type Store, type WriteOperation } from '@parley/core';
import { afterEach, expect, it } from 'vitest';
import { createFakeClock } from '../src/conformance.js';
import { createPostgresStore, POSTGRES_SCHEMA_VERSION, type PostgresStoreOptions } from '../src/postgres.js';
import { MAX_RECORD_LOCKS } from '../src/postgres-locks.js';
import { describePostgres, dropSchemas, PG_URL, uniqueName, withAdmin } from './support/postgres-server.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value);

const schemas: string[] = [];
const stores: Store[] = [];

async function open(options: Partial<PostgresStoreOptions> = {}): Promise<Store> {
  const schema = options.schema ?? uniqueName('store');
  if (!schemas.includes(schema)) schemas.push(schema);
  const store = await createPostgresStore({ url: PG_URL!, schema, pool: { max: 4 }, ...options });
  stores.push(store);
  return store;
}

async function errorOf(promise: Promise<unknown>): Promise<ParleyError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isParleyError(error)) throw new Error(`expected a ParleyError, got ${String(error)}`);
  return error;
}

async function sql<R = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
  return withAdmin(async (client) => (await client.query(text, values)).rows as R[]);
}

function counter(value: Uint8Array | undefined): number {
  return value === undefined ? 0 : new DataView(value.buffer, value.byteOffset).getUint32(0);
}

function counterBytes(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** Read, then commit guarded by the version read; retried on conflict. */
async function increment(store: Store, key: string): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const current = await store.get('counters', key);
    try {
      const { versions } = await store.commit(
        [{ type: 'put', namespace: 'counters', key, value: counterBytes(counter(current?.value) + 1) }],
        { expectVersions: [{ namespace: 'counters', key, version: current?.version ?? 0 }] },
      );
      return versions[0]!.version;
    } catch (error) {
      if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
    }
  }
  throw new Error('no progress');
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await dropSchemas(schemas.splice(0));
});

describePostgres('postgres schema and migrations', () => {
  it('creates the tables at the current version, and the queries run on their indexes', async () => {
    const schema = uniqueName('layout');
    const store = await open({ schema });
    await store.commit([{ type: 'put', namespace: 'meta', key: 'k', value: bytes('v') }]);
    expect(await sql(`SELECT version FROM "${schema}".parley_schema`)).toEqual([
      { version: POSTGRES_SCHEMA_VERSION },
    ]);
    const indexes = await sql<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE schemaname = $1', [
      schema,
    ]);
    const defs = indexes.map((i) => i.indexdef).join('\n');
    expect(defs).toMatch(/parley_records_pkey ON .* USING btree \(namespace, key\)/);
    expect(defs).toMatch(
      /parley_records_expiry ON .* USING btree \(expires_at\) WHERE \(expires_at IS NOT NULL\)/,
    );
    // With sequential scans priced out, the plans show the indexes serve prefix listing and expiry.
    const plan = (query: string) =>
      withAdmin(async (client) => {
        await client.query('SET enable_seqscan = off');
        const { rows } = await client.query(`EXPLAIN ${query}`);
        return rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      });
    expect(
      await plan(
        `SELECT key FROM "${schema}".parley_records WHERE namespace = 'meta' AND key >= '\\x0061' AND key < '\\x0062' ORDER BY key`,
      ),
    ).toMatch(/Index (Only )?Scan using parley_records_pkey/);
    expect(
      await plan(
        `SELECT key FROM "${schema}".parley_records WHERE expires_at <= 5 ORDER BY expires_at LIMIT 10`,
      ),
    ).toMatch(/Index Scan using parley_records_expiry/);
  });

  it('instances starting together on a new schema migrate once and all open', async () => {
    const schema = uniqueName('together');
    const opened = await Promise.all(Array.from({ length: 6 }, () => open({ schema, pool: { max: 1 } })));
    expect(await sql(`SELECT id, version FROM "${schema}".parley_schema`)).toEqual([
      { id: 1, version: POSTGRES_SCHEMA_VERSION },
    ]);
    // All six share one table and one version sequence.
    const versions = await Promise.all(
      opened.map(async (store, i) => {
        const { versions } = await store.commit([
          { type: 'put', namespace: 'meta', key: `s${i}`, value: bytes('x') },
        ]);
        return versions[0]!.version;
      }),
    );
    expect(new Set(versions).size).toBe(6);
    expect((await opened[0]!.list('meta')).length).toBe(6);
  });

  it('refuses a schema from a newer Parley with ERR_STORE_SCHEMA and changes nothing', async () => {
    const schema = uniqueName('newer');
    const store = await open({ schema });
    await store.commit([{ type: 'put', namespace: 'sessions', key: 's', value: bytes('v') }]);
    await store.close();
    await sql(`UPDATE "${schema}".parley_schema SET version = $1`, [POSTGRES_SCHEMA_VERSION + 1]);
    const error = await errorOf(createPostgresStore({ url: PG_URL!, schema, region: 'eu' }));
    expect(error.code).toBe('ERR_STORE_SCHEMA');
    expect(error.message).toMatch(/newer Parley/);
    expect(error.message).toMatch(/Upgrade @parley\/storage-adapters/);
    expect(error.details).toMatchObject({
      found: POSTGRES_SCHEMA_VERSION + 1,
      supported: POSTGRES_SCHEMA_VERSION,
    });
    expect(await sql(`SELECT version, region FROM "${schema}".parley_schema`)).toEqual([
      { version: POSTGRES_SCHEMA_VERSION + 1, region: null },
    ]);
    expect(await sql(`SELECT count(*)::int AS n FROM "${schema}".parley_records`)).toEqual([{ n: 1 }]);
  });

  it('refuses a schema holding a parley_records table it did not make', async () => {
    const schema = uniqueName('foreign');
    schemas.push(schema);
    await sql(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".parley_records (x int)`);
    const error = await errorOf(createPostgresStore({ url: PG_URL!, schema }));
    expect(error.code).toBe('ERR_STORE_SCHEMA');
    expect(error.details.setting).toBe('schema');
    expect(await sql(`SELECT to_regclass('"${schema}".parley_schema') AS t`)).toEqual([{ t: null }]);
  });

  it('records the declared region; another region is ERR_RESIDENCY; an undeclared open reports the recorded one', async () => {
    const schema = uniqueName('region');
    expect((await open({ schema })).region).toBeUndefined();
    expect((await open({ schema, region: 'eu-west' })).region).toBe('eu-west');
    expect((await open({ schema })).region).toBe('eu-west');
    const error = await errorOf(createPostgresStore({ url: PG_URL!, schema, region: 'us-east' }));
    expect(error.code).toBe('ERR_RESIDENCY');
    expect(error.details).toMatchObject({ setting: 'region', recorded: 'eu-west', declared: 'us-east' });
    expect(await sql(`SELECT region FROM "${schema}".parley_schema`)).toEqual([{ region: 'eu-west' }]);
  });
});

describePostgres('postgres settings, sweeping and stored rows', () => {
  it('pool settings reach the server: application name, at most pool.max sessions', async () => {
    const applicationName = uniqueName('parley_pool');
    const store = await open({ applicationName, pool: { max: 2, idleTimeoutMs: 60_000 } });
    await store.commit([{ type: 'put', namespace: 'meta', key: 'k', value: bytes('v') }]);
    await Promise.all(Array.from({ length: 12 }, () => store.get('meta', 'k')));
    const sessions = await sql<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    expect(sessions[0]!.n).toBeGreaterThan(0);
    expect(sessions[0]!.n).toBeLessThanOrEqual(2);
  });

  it('the beforeWrite test hook sees the operations the caller passed (the same objects), in order', async () => {
    const seen: WriteOperation[] = [];
    const store = await open({ testHooks: { beforeWrite: (op) => seen.push(op) } });
    const mutation: WriteOperation[] = [
      { type: 'put', namespace: 'messages', key: 'a', value: bytes('a') },
      { type: 'delete', namespace: 'messages', key: 'b' },
    ];
    await store.commit(mutation);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(mutation[0]);
    expect(seen[1]).toBe(mutation[1]);
  });

  it('sweeps in bounded batches and prunes nothing that is live', async () => {
    const clock = createFakeClock(1_000_000);
    const batches: number[] = [];
    const store = await open({
      clock,
      sweepBatchSize: 10,
      testHooks: { afterSweepBatch: (n) => batches.push(n) },
    });
    const writes = Array.from({ length: 25 }, (_, i) => ({
      type: 'put' as const,
      namespace: (i % 2 === 0 ? 'messages' : 'outbox') as 'messages' | 'outbox',
      key: `m/${i}`,
      value: bytes(`m${i}`),
      expiresAt: 1_000_100 + i,
    }));
    await store.commit([
      ...writes,
      { type: 'put', namespace: 'messages', key: 'later', value: bytes('l'), expiresAt: 2_000_000 },
      { type: 'put', namespace: 'messages', key: 'forever', value: bytes('f') },
    ]);
    clock.set(1_000_200);
    expect(await store.sweepExpired(clock.now())).toBe(25);
    expect(batches).toEqual([10, 10, 5]);
    expect((await store.list('messages')).map((r) => r.key)).toEqual(['forever', 'later']);
    expect(await store.sweepExpired(clock.now())).toBe(0);
  });

  it('a corrupted row is ERR_INVALID_RECORD; deleting it makes the namespace readable again', async () => {
    const schema = uniqueName('corrupt');
    const store = await open({ schema });
    await store.commit([
      { type: 'put', namespace: 'sessions', key: 'bad', value: bytes('x'), expiresAt: 10 ** 15 },
      { type: 'put', namespace: 'sessions', key: 'good', value: bytes('y') },
    ]);
    await sql(`UPDATE "${schema}".parley_records SET expires_at = 'NaN' WHERE key = $1`, [
      Buffer.from('\0b\0a\0d', 'latin1'),
    ]);
    const error = await errorOf(store.get('sessions', 'bad'));
    expect(error.code).toBe('ERR_INVALID_RECORD');
    expect(error.details).toMatchObject({
      namespace: 'sessions',
      reason: 'expires_at is not a finite number',
    });
    expect((await errorOf(store.list('sessions'))).code).toBe('ERR_INVALID_RECORD');
    expect(text((await store.get('sessions', 'good'))?.value)).toBe('y');
    await store.commit([{ type: 'delete', namespace: 'sessions', key: 'bad' }]);
    expect((await store.list('sessions')).map((r) => r.key)).toEqual(['good']);
  });
});

describePostgres('postgres commits from several instances at once', () => {
  async function instances(count: number): Promise<Store[]> {
    const schema = uniqueName('shared');
    const first = await open({ schema, pool: { max: 3 } });
    const rest = await Promise.all(
      Array.from({ length: count - 1 }, () => open({ schema, pool: { max: 3 } })),
    );
    return [first, ...rest];
  }

  it('three instances incrementing one counter through version checks lose no update', async () => {
    const [a, b, c] = await instances(3);
    const versions = await Promise.all(
      [a!, b!, c!].flatMap((store) => Array.from({ length: 15 }, () => increment(store, 'hits'))),
    );
    expect(counter((await a!.get('counters', 'hits'))?.value)).toBe(45);
    expect(new Set(versions).size).toBe(45);
    expect((await c!.get('counters', 'hits'))?.version).toBe(Math.max(...versions));
  });

  it('"must not exist" claims raced from three instances: exactly one wins, with its side writes only', async () => {
    const stores = await instances(3);
    const outcomes = await Promise.all(
      stores.flatMap((store, s) =>
        Array.from({ length: 8 }, (_, i) =>
          store
            .commit(
              [
                { type: 'put', namespace: 'meta', key: 'claim', value: bytes(`${s}/${i}`) },
                { type: 'put', namespace: 'outbox', key: `side/${s}/${i}`, value: bytes('x') },
              ],
              { expectVersions: [{ namespace: 'meta', key: 'claim', version: 0 }] },
            )
            .then(
              () => 'won',
              (error: unknown) => (isParleyError(error, 'ERR_STORE_CONFLICT') ? 'conflict' : String(error)),
            ),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'won')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'conflict')).toHaveLength(23);
    const winner = text((await stores[0]!.get('meta', 'claim'))?.value);
    expect((await stores[1]!.list('outbox')).map((r) => r.key)).toEqual([`side/${winner}`]);
  });

  it('transfers between five accounts from three instances keep the total', async () => {
    const stores = await instances(3);
    const accounts = ['a', 'b', 'c', 'd', 'e'];
    await stores[0]!.commit(
      accounts.map((key) => ({
        type: 'put' as const,
        namespace: 'counters' as const,
        key,
        value: counterBytes(100),
      })),
    );
    let seed = 7;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    const transfer = async (store: Store, from: string, to: string, amount: number) => {
      for (;;) {
        const found = await store.getMany('counters', [from, to]);
        const source = found.get(from)!;
        const target = found.get(to)!;
        try {
          await store.commit(
            [
              {
                type: 'put',
                namespace: 'counters',
                key: from,
                value: counterBytes(counter(source.value) - amount),
              },
              {
                type: 'put',
                namespace: 'counters',
                key: to,
                value: counterBytes(counter(target.value) + amount),
              },
            ],
            {
              expectVersions: [
                { namespace: 'counters', key: from, version: source.version },
                { namespace: 'counters', key: to, version: target.version },
              ],
            },
          );
          return;
        } catch (error) {
          if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
        }
      }
    };
    const work = Array.from({ length: 45 }, (_, i) => {
      const from = accounts[next() % 5]!;
      let to = accounts[next() % 5]!;
      if (to === from) to = accounts[(accounts.indexOf(from) + 1) % 5]!;
      return transfer(stores[i % 3]!, from, to, 1 + (next() % 5));
    });
    await Promise.all(work);
    const total = (await stores[2]!.list('counters')).reduce((sum, r) => sum + counter(r.value), 0);
    expect(total).toBe(500);
  });

  it(`a commit over more than ${MAX_RECORD_LOCKS} records (store lock) and small commits interleave correctly`, async () => {
    const [a, b] = await instances(2);
    const many = Array.from({ length: 3 * MAX_RECORD_LOCKS }, (_, i) => ({
      type: 'put' as const,
      namespace: 'messages' as const,
      key: `bulk/${String(i).padStart(4, '0')}`,
      value: bytes('1'),
    }));
    const { versions } = await a!.commit(many);
    const bulkVersion = (i: number) => versions[i]!.version;
    // A bulk rewrite guarded by the versions of every record, racing small increments on b.
    const bulk = a!.commit(
      many.map((op) => ({ ...op, value: bytes('2') })),
      {
        expectVersions: many.map((op, i) => ({
          namespace: op.namespace,
          key: op.key,
          version: bulkVersion(i),
        })),
      },
    );
    const small = Promise.all(Array.from({ length: 10 }, () => increment(b!, 'beside')));
    await Promise.all([bulk, small]);
    const listed = await b!.list('messages', { prefix: 'bulk/' });
    expect(listed).toHaveLength(many.length);
    expect(new Set(listed.map((r) => text(r.value)))).toEqual(new Set(['2']));
    expect(counter((await a!.get('counters', 'beside'))?.value)).toBe(10);
    // A stale guard on one record refuses the whole bulk commit.
    const stale = await errorOf(
      a!.commit(
        many.map((op) => ({ ...op, value: bytes('3') })),
        { expectVersions: [{ namespace: 'messages', key: many[0]!.key, version: bulkVersion(0) }] },
      ),
    );
    expect(stale.code).toBe('ERR_STORE_CONFLICT');
    expect(new Set((await b!.list('messages', { prefix: 'bulk/' })).map((r) => text(r.value)))).toEqual(
      new Set(['2']),
    );
  });
});
