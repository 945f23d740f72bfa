import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli.js';
import { parseDemoArgs, runDemo } from '../src/demo.js';

const demoPath = fileURLToPath(new URL('../src/demo.ts', import.meta.url));

describe('pnpm demo', () => {
  it.each([
    ['inproc', 'parley'],
    ['http', 'parley'],
    ['ws', 'parley'],
    ['inproc', 'libsignal'],
    ['inproc', 'libsignal-current'],
  ] as const)('runs the whole story over %s with a %s person', async (transport, peer) => {
    const lines: string[] = [];
    const summary = await runDemo({ transport, peer }, (line) => lines.push(line));
    expect(summary.businessReceived).toBe(3);
    // 2 devices × (reply + photo + retried reminder)
    expect(summary.personReceived).toBe(6);
    expect(summary.photos).toEqual({ toPerson: true, toBusiness: true });
    expect(summary.sweptBlobs).toBe(2);
    expect(Object.values(summary.statuses)).toEqual(['delivered', 'delivered']);
    expect(summary.sweptRecords).toBeGreaterThan(0);
    expect(summary.retransmitAfterRetention).toBe('ERR_RETENTION_EXPIRED');
    // The group: the person (when their client does groups) and two customers, 3 messages read
    // on every member device; distribution messages on the first send and after the removal.
    const inGroup = peer === 'libsignal' ? 2 : 4;
    expect(summary.group.memberDevices).toBe(inGroup);
    expect(summary.group.distributions).toEqual([inGroup, 0, inGroup - 1]);
    expect(summary.group.read).toBe(3 * inGroup - 1);
    expect(summary.group.businessReceived).toEqual(['Count me in!']);
    expect(summary.group.removedMemberReads).toBe('ERR_SENDER_KEY_NOT_FOUND');
    const transcript = lines.join('\n');
    expect(transcript).toContain('accepted → sent → delivered');
    expect(transcript).toContain('4. A photo each way');
    expect(transcript).not.toContain('DIFFERS');
    // Never a full phone number.
    expect(transcript).not.toMatch(/\+1555\d{4}/);
  });

  it('refuses unknown options', () => {
    expect(parseDemoArgs([])).toEqual({ transport: 'inproc', peer: 'parley' });
    expect(parseDemoArgs(['--transport', 'ws', '--peer=libsignal'])).toEqual({
      transport: 'ws',
      peer: 'libsignal',
    });
    expect(() => parseDemoArgs(['--transport', 'smoke'])).toThrow(/--transport/);
    expect(() => parseDemoArgs(['--peer'])).toThrow(/--peer/);
    expect(() => parseDemoArgs(['--verbose'])).toThrow(/--verbose/);
    expect(() => parseDemoArgs(['inproc'])).toThrow(UsageError);
    expect(parseDemoArgs(['--help'])).toBeUndefined();
  });

  it('as a command, --help prints usage and exits 0; an unknown flag exits 2 without running the demo', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--conditions=parley-source', demoPath, ...args], {
        encoding: 'utf8',
        timeout: 30_000,
      });
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: pnpm demo [options]');
    expect(help.stdout).toContain('--transport=inproc|http|ws');
    expect(help.stdout).not.toContain('Business');
    const typo = run('--tranport', 'ws');
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain("Unknown option '--tranport'");
    expect(typo.stdout).toBe('');
  });
});
