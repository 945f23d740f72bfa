import { describe, expect, it } from 'vitest';
import { utf8 } from '../src/bytes.js';
import { encodeIntegrityState } from '../src/integrity/codec.js';
import { IntegrityMonitor } from '../src/integrity/monitor.js';
import { type Pseudonym, pseudonym } from '../src/privacy/branded.js';

const alice = pseudonym('alice-pseudonym-7c1e');
const bob = pseudonym('bob-pseudonym-90af');

function setup(verify?: (q: { messageId: string; reporter: Pseudonym }) => boolean | Promise<boolean>) {
  const time = Date.UTC(2025, 2, 3);
  const calls: { messageId: string; reporter: Pseudonym }[] = [];
  const deliveredTo = new Map<string, Pseudonym>([
    ['m-1', alice],
    ['m-2', bob],
  ]);
  const monitor = new IntegrityMonitor({
    clock: { now: () => time },
    wasDeliveredTo: (query) => {
      calls.push({ messageId: query.messageId, reporter: query.reporter });
      return verify ? verify(query) : deliveredTo.get(query.messageId) === query.reporter;
    },
  });
  return { monitor, calls };
}

const spam = (monitor: IntegrityMonitor) => monitor.signal('biz').snapshot.spamReports;

describe('spam reports', () => {
  it('count only when the message was delivered to the reporter', async () => {
    const { monitor } = setup();
    expect(
      await monitor.recordSpamReport({ businessId: 'biz', messageId: 'm-1', reporterPseudonym: bob }),
    ).toBe('not-delivered');
    expect(
      await monitor.recordSpamReport({ businessId: 'biz', messageId: 'm-9', reporterPseudonym: alice }),
    ).toBe('not-delivered');
    expect(spam(monitor)).toBe(0);
    expect(
      await monitor.recordSpamReport({ businessId: 'biz', messageId: 'm-1', reporterPseudonym: alice }),
    ).toBe('counted');
    expect(spam(monitor)).toBe(1);
  });

  it('count once per message, also when two reports race through the verifier', async () => {
    const { monitor } = setup(async () => true);
    const report = { businessId: 'biz', messageId: 'm-1', reporterPseudonym: alice };
    const outcomes = await Promise.all([monitor.recordSpamReport(report), monitor.recordSpamReport(report)]);
    expect(outcomes.sort()).toEqual(['counted', 'duplicate']);
    expect(await monitor.recordSpamReport(report)).toBe('duplicate');
    expect(spam(monitor)).toBe(1);
  });

  it('a verifier that answers anything but true does not count', async () => {
    for (const answer of [false, 'yes', 1, undefined]) {
      const { monitor } = setup(() => answer as boolean);
      await monitor.recordSpamReport({ businessId: 'biz', messageId: 'm-1', reporterPseudonym: alice });
      expect(spam(monitor)).toBe(0);
    }
  });

  it('refuse a phone number as reporter before asking the gateway', async () => {
    const { monitor, calls } = setup();
    await expect(
      monitor.recordSpamReport({
        businessId: 'biz',
        messageId: 'm-1',
        reporterPseudonym: '+14155550123' as Pseudonym,
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { field: 'reporterPseudonym' } });
    await expect(
      monitor.recordSpamReport({ businessId: 'biz', messageId: '', reporterPseudonym: alice }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { field: 'messageId' } });
    expect(calls).toEqual([]);
  });

  it('keep neither the reporter nor the message id in the counters', async () => {
    const { monitor } = setup(() => true);
    for (let i = 0; i < 20; i++)
      await monitor.recordSpamReport({ businessId: 'biz', messageId: `m-${i}`, reporterPseudonym: alice });
    monitor.recordSent({ businessId: 'biz', recipient: alice });
    const state = encodeIntegrityState(monitor, 'biz');
    const haystack = Buffer.from(state);
    for (const needle of ['alice-pseudonym-7c1e', 'm-1', 'm-19'])
      expect(haystack.includes(Buffer.from(utf8(needle)))).toBe(false);
    expect(spam(monitor)).toBe(20);
  });
});
