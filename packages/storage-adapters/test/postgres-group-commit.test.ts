/**
 * Group commit on PostgreSQL (postgres.ts, postgres-commit.ts): the commits called during one
 * turn share one transaction, each still all-or-nothing and checked against the ones before it.
 * Transactions are counted by their commit ids (one row per transaction in parley_commits).
 * Grouped reads: the `get` calls of one turn are answered by one query.
 */
import { type CommitResult, isParleyError, type ParleyError, type Store } from '@parley/core';
import pg from 'pg';
import { afterEach, expect, it, vi } from 'vitest';
import { createFakeClock } from '../src/conformance.js';
import { createPostgresStore, type PostgresStoreOptions } from '../src/postgres.js';
import { tablesOf } from '../src/postgres-schema.js';
import { describePostgres, dropSchemas, PG_URL, uniqueName, withAdmin } from './support/postgres-server.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value);
const put = (key: string, value = key, expiresAt?: number) =>
  ({
    type: 'put',
    namespace: 'messages',
    key,
    value: bytes(value),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  }) as const;
const expect0 = (key: string, version = 0) => ({
  expectVersions: [{ namespace: 'messages', key, version }] as const,
});

const schemas: string[] = [];
const stores: Store[] = [];

async function open(options: Partial<PostgresStoreOptions> = {}): Promise<{ store: Store; schema: string }> {
  const schema = options.schema ?? uniqueName('group');
  schemas.push(schema);
  const store = await createPostgresStore({ url: PG_URL!, schema, pool: { max: 4 }, ...options });
  stores.push(store);
  return { store, schema };
}

async function transactions(schema: string): Promise<number> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${tablesOf(schema).commits}`,
    );
    return Number(rows[0]!.n);
  });
}

const statuses = (outcomes: PromiseSettledResult<unknown>[]) => outcomes.map((outcome) => outcome.status);
const reasonOf = (outcome: PromiseSettledResult<unknown> | undefined) =>
  (outcome as PromiseRejectedResult).reason as ParleyError;

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await dropSchemas(schemas.splice(0));
});

describePostgres('postgres group commit', () => {
  it('commits called together share one transaction, each answered with its own versions, in call order', async () => {
    const counted: Record<string, number> = {};
    for (const groupCommit of [true, false]) {
      const { store, schema } = await open({ groupCommit });
      const before = await transactions(schema);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => store.commit([put(`k${i}`), put(`other${i}`)])),
      );
      counted[String(groupCommit)] = (await transactions(schema)) - before;
      const versions = results.flatMap((result) => result.versions.map((entry) => entry.version));
      expect(new Set(versions).size).toBe(80);
      if (groupCommit) expect(versions).toEqual([...versions].sort((a, b) => a - b));
      for (const [i, result] of results.entries()) {
        expect(result.versions.map((entry) => entry.key)).toEqual([`k${i}`, `other${i}`]);
        expect((await store.get('messages', `k${i}`))?.version).toBe(result.versions[0]!.version);
      }
    }
    expect(counted).toEqual({ true: 1, false: 40 });
  });

  it('a conflict in a group fails that commit alone, checked against the commits before it', async () => {
    const { store, schema } = await open();
    const base = (await store.commit([put('shared', 'v0')])).versions[0]!.version;
    const before = await transactions(schema);
    const outcomes = await Promise.allSettled([
      store.commit([put('shared', 'a')], expect0('shared', base)),
      // Read the same version as the first, so it lost the race: nothing of it may land.
      store.commit([put('shared', 'b'), put('b-only')], expect0('shared', base)),
      store.commit([put('c-only')]),
      store.commit([put('fresh')], expect0('fresh')),
      store.commit([put('fresh', 'again')], expect0('fresh')),
    ]);
    expect(await transactions(schema)).toBe(before + 1);
    expect(statuses(outcomes)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected']);
    for (const at of [1, 4]) expect(isParleyError(reasonOf(outcomes[at]), 'ERR_STORE_CONFLICT')).toBe(true);
    expect(text((await store.get('messages', 'shared'))?.value)).toBe('a');
    expect(await store.get('messages', 'b-only')).toBeUndefined();
    expect(await store.get('messages', 'c-only')).toBeDefined();
    expect(text((await store.get('messages', 'fresh'))?.value)).toBe('fresh');
  });

  it('later commits of a group see what earlier ones wrote, deleted, or wrote already expired', async () => {
    const clock = createFakeClock(1_000_000);
    const { store } = await open({ clock });
    const outcomes = await Promise.allSettled([
      store.commit([put('x', 'one'), put('x', 'two')]),
      // x exists now (the first commit): "must not exist" fails.
      store.commit([{ type: 'delete', namespace: 'messages', key: 'x' }], expect0('x')),
      store.commit([put('gone', 'expired', 999_999)]),
      // The expired put reads as absent, so "must not exist" holds.
      store.commit([put('gone', 'fresh')], expect0('gone')),
      store.commit([{ type: 'delete', namespace: 'messages', key: 'x' }, put('y')]),
      store.commit([put('x', 'three')], expect0('x')),
    ]);
    expect(statuses(outcomes)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    const versionsOf = (at: number) =>
      (outcomes[at] as PromiseFulfilledResult<CommitResult>).value.versions.map((entry) => entry.version);
    expect(versionsOf(0)).toHaveLength(2);
    const x = await store.get('messages', 'x');
    expect([text(x?.value), x?.version]).toEqual(['three', versionsOf(5)[0]]);
    expect(text((await store.get('messages', 'gone'))?.value)).toBe('fresh');
    expect(await store.get('messages', 'y')).toBeDefined();
  });

  it('a commit whose test hook throws before its writes fails alone', async () => {
    const { store } = await open({
      testHooks: {
        beforeWrite: (op) => {
          if (op.type === 'put' && op.key === 'poison') throw new Error('injected');
        },
      },
    });
    const outcomes = await Promise.allSettled([
      store.commit([put('before')]),
      store.commit([put('half'), put('poison')]),
      store.commit([put('after')], expect0('half')),
    ]);
    expect(statuses(outcomes)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(reasonOf(outcomes[1]).code).toBe('ERR_STORE_FAILURE');
    expect((await store.list('messages')).map((record) => record.key)).toEqual(['after', 'before']);
  });

  it('a write the server refuses fails its commit alone; the others of the group commit', async () => {
    const { store, schema } = await open();
    await store.commit([put('warm-up')]);
    const records = tablesOf(schema).records;
    // A real refusal from the server for one key ('refused' as stored: UTF-16BE).
    await withAdmin((client) =>
      client.query(`
        CREATE FUNCTION "${schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.key = '\\x0072006500660075007300650064'::bytea THEN
            RAISE EXCEPTION 'refused by the test trigger';
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON ${records}
          FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse();`),
    );
    const before = await transactions(schema);
    const outcomes = await Promise.allSettled([
      store.commit([put('one')]),
      store.commit([put('half'), put('refused')]),
      store.commit([put('two')], expect0('half')),
    ]);
    expect(statuses(outcomes)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const reason = reasonOf(outcomes[1]);
    expect(reason.code).toBe('ERR_STORE_FAILURE');
    expect(reason.message).toMatch(/nothing was written/);
    expect((await store.list('messages')).map((record) => record.key)).toEqual(['one', 'two', 'warm-up']);
    // The group's transaction rolled back; each commit then ran alone (two of them committed).
    expect(await transactions(schema)).toBe(before + 2);
  });

  it('close() commits and reads what was already called', async () => {
    const schema = uniqueName('group');
    const { store } = await open({ schema });
    await store.commit([put('earlier')]);
    const pending = [store.commit([put('a')]), store.commit([put('b')])];
    const read = store.get('messages', 'earlier');
    await store.close();
    await Promise.all(pending);
    expect(text((await read)?.value)).toBe('earlier');
    const { store: again } = await open({ schema });
    expect((await again.list('messages')).map((record) => record.key)).toEqual(['a', 'b', 'earlier']);
  });

  it('refuses a groupCommit that is not a boolean with ERR_INVALID_ARGUMENT', async () => {
    const options = { url: PG_URL!, groupCommit: 'yes' } as unknown as PostgresStoreOptions;
    const error = await createPostgresStore(options).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isParleyError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
    expect((error as ParleyError).details).toMatchObject({ field: 'groupCommit' });
  });

  it('the get calls of one turn are answered by one query, each with its own record', async () => {
    const clock = createFakeClock(1_000_000);
    const { store, schema } = await open({ clock });
    await store.commit([
      put('m1', 'one'),
      put('m2', 'two'),
      put('old', 'expired', 1_500_000),
      { type: 'put', namespace: 'sessions', key: 'm1', value: bytes('a session') },
      put('broken', 'x'),
    ]);
    clock.set(2_000_000);
    await withAdmin((client) =>
      client.query(`UPDATE ${tablesOf(schema).records} SET expires_at = 'NaN' WHERE key = $1`, [
        Buffer.from('\u0000b\u0000r\u0000o\u0000k\u0000e\u0000n', 'latin1'),
      ]),
    );
    const query = vi.spyOn(pg.Client.prototype, 'query');
    try {
      const answers = await Promise.allSettled([
        store.get('messages', 'm1'),
        store.get('sessions', 'm1'),
        store.get('messages', 'm2'),
        store.get('messages', 'm1'),
        store.get('messages', 'absent'),
        store.get('messages', 'old'),
        store.get('messages', 'broken'),
      ]);
      expect(query).toHaveBeenCalledTimes(1);
      const values = answers.map((answer) =>
        answer.status === 'fulfilled' ? text(answer.value?.value) : (answer.reason as ParleyError).code,
      );
      expect(values).toEqual(['one', 'a session', 'two', 'one', undefined, undefined, 'ERR_INVALID_RECORD']);
      const [first, , , again] = answers as PromiseFulfilledResult<{ value: Uint8Array } | undefined>[];
      // Asked twice, answered with two copies: one caller's changes never reach the other.
      expect(first!.value!.value).not.toBe(again!.value!.value);
    } finally {
      query.mockRestore();
    }
  });
});
