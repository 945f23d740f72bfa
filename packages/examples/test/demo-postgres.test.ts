/**
 * `pnpm demo --store postgres`: the whole story on PostgreSQL (messages and vault on two
 * databases), and nothing left behind afterwards.
 */
import { expect, it } from 'vitest';
import { describePostgres, withAdmin } from '../../storage-adapters/test/support/postgres-server.js';
import { parseDemoArgs, runDemo } from '../src/demo.js';

describePostgres('pnpm demo --store postgres', () => {
  it('runs the whole story, prints no full phone number and drops its schemas at the end', async () => {
    expect(parseDemoArgs(['--store', 'postgres'])).toMatchObject({ store: 'postgres' });
    expect(() => parseDemoArgs(['--store', 'mysql'])).toThrow(/--store/);
    const lines: string[] = [];
    const summary = await runDemo({ transport: 'inproc', peer: 'parley', store: 'postgres' }, (line) =>
      lines.push(line),
    );
    expect(summary.businessReceived).toBe(3);
    expect(summary.personReceived).toBe(6);
    expect(summary.photos).toEqual({ toPerson: true, toBusiness: true });
    expect(Object.values(summary.statuses)).toEqual(['delivered', 'delivered']);
    expect(summary.sweptRecords).toBeGreaterThan(0);
    expect(summary.retransmitAfterRetention).toBe('ERR_RETENTION_EXPIRED');
    const transcript = lines.join('\n');
    const schema = /schema (demo_[0-9a-f]+) in/.exec(transcript)?.[1];
    expect(schema).toBeDefined();
    expect(transcript).toMatch(/\(messages\) and in \S+ \(vault\)/);
    expect(transcript).not.toMatch(/\+1555\d{4}/);
    const left = await withAdmin(
      async (client) =>
        (await client.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema]))
          .rows[0].n,
    );
    expect(left).toBe(0);
  });
});
