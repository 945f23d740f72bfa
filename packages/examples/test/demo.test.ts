import { describe, expect, it } from 'vitest';
import { parseDemoArgs, runDemo } from '../src/demo.js';

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
    // 2 devices × (reply + retried reminder)
    expect(summary.personReceived).toBe(4);
    expect(Object.values(summary.statuses)).toEqual(['delivered', 'delivered']);
    expect(summary.sweptRecords).toBeGreaterThan(0);
    expect(summary.retransmitAfterRetention).toBe('ERR_RETENTION_EXPIRED');
    const transcript = lines.join('\n');
    expect(transcript).toContain('accepted → sent → delivered');
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
  });
});
