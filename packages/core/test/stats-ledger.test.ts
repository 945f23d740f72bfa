import { describe, expect, it } from 'vitest';
import { type Pseudonym, pseudonym } from '../src/privacy/branded.js';
import { category } from '../src/stats/category.js';
import { day, dayOf } from '../src/stats/day.js';
import { createStatistics } from '../src/stats/ledger.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function setup(start = Date.UTC(2025, 2, 3, 8)) {
  const clock = {
    time: start,
    now() {
      return this.time;
    },
  };
  const parts = createStatistics({ clock, random: () => new Uint8Array(32).fill(3) });
  return { clock, ...parts };
}

const person = (name: string): Pseudonym => pseudonym(`pseudonym-${name}`);

describe('statistics per business and day', () => {
  it('counts messages in and out, outcomes and sessions, per UTC day', () => {
    const { clock, recorder, statistics } = setup();
    recorder.recordReceived({ businessId: 'shop', sender: person('a') });
    recorder.recordSessionEstablished({ businessId: 'shop' });
    recorder.recordSent({ businessId: 'shop', messageId: 'm1', recipient: person('a') });
    recorder.recordSent({ businessId: 'shop', messageId: 'm2', recipient: person('b') });
    recorder.recordSent({ businessId: 'shop', messageId: 'm3', recipient: person('c') });
    recorder.recordDelivered({ businessId: 'shop', messageId: 'm1', recipient: person('a') });
    recorder.recordFailed({ businessId: 'shop', messageId: 'm2' });
    recorder.recordSent({ businessId: 'bakery', messageId: 'm4', recipient: person('a') });
    clock.time += DAY;
    recorder.recordExpired({ businessId: 'shop', messageId: 'm3' });

    const first = statistics.snapshot(day('2025-03-03'));
    expect(first.k).toBe(5);
    expect(first.businesses.map((b) => b.businessId)).toEqual(['bakery', 'shop']);
    expect(first.businesses[1]).toMatchObject({
      day: '2025-03-03',
      messagesIn: 1,
      messagesOut: 3,
      delivered: 1,
      failed: 1,
      expired: 0,
      sessionsEstablished: 1,
    });
    expect(statistics.snapshot(day('2025-03-04')).businesses[0]).toMatchObject({
      businessId: 'shop',
      expired: 1,
      messagesOut: 0,
    });
    expect(statistics.days()).toEqual(['2025-03-03', '2025-03-04']);
    expect(statistics.snapshot(day('2025-01-01')).businesses).toEqual([]);
  });

  it('exports nothing but counts: no pseudonym or tag appears in any snapshot', () => {
    const { recorder, statistics, billing } = setup();
    const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
    for (const [i, name] of names.entries()) {
      recorder.recordReceived({ businessId: 'shop', sender: person(name), category: category('region:eu') });
      recorder.recordSent({
        businessId: 'shop',
        messageId: `m${i}`,
        recipient: person(name),
        category: category('region:eu'),
      });
      recorder.recordDelivered({ businessId: 'shop', messageId: `m${i}`, recipient: person(name) });
    }
    const text = JSON.stringify([
      statistics.snapshot(dayOf(Date.UTC(2025, 2, 3))),
      billing.snapshot(day('2025-03-03')),
    ]);
    for (const name of names) expect(text).not.toContain(name);
    expect(text).not.toMatch(/[0-9a-f]{16}/);
  });

  it('a message counted late, after its day was closed, counts in the totals and never opens a small row', () => {
    const { clock, recorder, statistics } = setup();
    const first = dayOf(clock.time);
    for (let i = 0; i < 6; i++) recorder.recordReceived({ businessId: 'shop', sender: person(`p${i}`) });
    clock.time += DAY; // the first day is closed: its breakdown keeps no people
    recorder.recordReceived({ businessId: 'shop', sender: person('today') });
    expect(statistics.snapshot(first).businesses[0]?.messagesIn).toBe(6);
    // An event from another instance's journal, stamped on the closed day.
    const late = { time: clock.time - DAY + HOUR };
    const now = clock.time;
    clock.time = late.time;
    recorder.recordReceived({ businessId: 'shop', sender: person('late') });
    clock.time = now;
    const row = statistics.snapshot(first).businesses[0]!;
    expect(row.messagesIn).toBe(7);
    const rows = row.breakdown.reduce((sum, entry) => sum + entry.messagesIn, 0);
    expect(rows === 7 || rows === 6).toBe(true);
  });

  it('drops days past retention', () => {
    const { clock, recorder, statistics } = setup();
    recorder.recordSessionEstablished({ businessId: 'shop' });
    clock.time += 62 * DAY;
    expect(statistics.days()).toEqual([]);
  });

  it('refuses phone numbers where pseudonyms belong', () => {
    const { recorder } = setup();
    expect(() =>
      recorder.recordReceived({ businessId: 'shop', sender: '+14155550123' as Pseudonym }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', details: { field: 'sender' } }));
    expect(() =>
      recorder.recordSent({
        businessId: 'shop',
        messageId: 'm',
        recipient: person('a'),
        category: '+14155550123' as never,
      }),
    ).toThrow(expect.objectContaining({ details: { field: 'category' } }));
  });
});

describe('group messages', () => {
  it('count once per message in and out, bill once per delivered group message, and keep no member', () => {
    const { recorder, statistics, billing } = setup();
    recorder.recordGroupSent({ businessId: 'shop', messageId: 'g1' });
    recorder.recordGroupSent({ businessId: 'shop', messageId: 'g2' });
    recorder.recordGroupSent({ businessId: 'shop', messageId: 'g3' });
    recorder.recordGroupDelivered({ businessId: 'shop', messageId: 'g1' });
    recorder.recordFailed({ businessId: 'shop', messageId: 'g2' });
    recorder.recordGroupReceived({ businessId: 'shop' });
    recorder.recordSent({ businessId: 'shop', messageId: 'm1', recipient: person('a') });
    recorder.recordDelivered({ businessId: 'shop', messageId: 'm1', recipient: person('a') });
    const today = day('2025-03-03');
    expect(statistics.snapshot(today).businesses[0]).toMatchObject({
      messagesOut: 4,
      groupMessagesOut: 3,
      messagesIn: 1,
      groupMessagesIn: 1,
      delivered: 2,
      failed: 1,
      // The breakdown is of 1:1 messages: a group message has no person to tally.
      breakdown: [{ category: 'other', messagesIn: 0, messagesOut: 1 }],
    });
    expect(billing.snapshot(today).businesses[0]).toMatchObject({
      groupMessagesDelivered: 1,
      businessInitiatedDelivered: 1,
      conversationsOpened: 1,
    });
    // Only the 1:1 recipient has a window; group messages open none.
    expect(recorder.heldPeople('shop')).toBe(1);
  });
});

describe('billing per business and day', () => {
  it('bills business-initiated deliveries, not replies within 24 h of the person writing', () => {
    const { clock, recorder, billing } = setup();
    recorder.recordReceived({ businessId: 'shop', sender: person('a') });
    clock.time += HOUR;
    recorder.recordSent({ businessId: 'shop', messageId: 'reply', recipient: person('a') });
    recorder.recordSent({ businessId: 'shop', messageId: 'cold', recipient: person('b') });
    recorder.recordSent({ businessId: 'shop', messageId: 'never', recipient: person('c') });
    clock.time += HOUR;
    recorder.recordDelivered({ businessId: 'shop', messageId: 'reply', recipient: person('a') });
    recorder.recordDelivered({ businessId: 'shop', messageId: 'cold', recipient: person('b') });
    recorder.recordFailed({ businessId: 'shop', messageId: 'never' });
    // 25 h after a's message the window is closed: a follow-up is business-initiated.
    clock.time += 23 * HOUR;
    recorder.recordSent({ businessId: 'shop', messageId: 'later', recipient: person('a') });
    recorder.recordDelivered({ businessId: 'shop', messageId: 'later', recipient: person('a') });

    expect(billing.snapshot(day('2025-03-03')).businesses).toEqual([
      {
        businessId: 'shop',
        day: '2025-03-03',
        businessInitiatedDelivered: 1,
        conversationsOpened: 2,
        conversationsOpenedBy: { business: 1, person: 1 },
        groupMessagesDelivered: 0,
      },
    ]);
    expect(billing.snapshot(day('2025-03-04')).businesses[0]).toMatchObject({
      businessInitiatedDelivered: 1,
      conversationsOpened: 1,
      conversationsOpenedBy: { business: 1, person: 0 },
    });
  });

  it('opens one conversation per person per 24 hours, whoever speaks', () => {
    const { clock, recorder, billing } = setup(Date.UTC(2025, 2, 3, 0));
    for (let hour = 0; hour < 24; hour++) {
      recorder.recordReceived({ businessId: 'shop', sender: person('a') });
      recorder.recordSent({ businessId: 'shop', messageId: `m${hour}`, recipient: person('a') });
      recorder.recordDelivered({ businessId: 'shop', messageId: `m${hour}`, recipient: person('a') });
      clock.time += HOUR;
    }
    recorder.recordReceived({ businessId: 'shop', sender: person('a') });
    expect(billing.snapshot(day('2025-03-03')).businesses[0]?.conversationsOpened).toBe(1);
    expect(billing.snapshot(day('2025-03-04')).businesses[0]?.conversationsOpened).toBe(1);
  });

  it('holds per-person windows only for 24 hours, and erasure drops them at once', () => {
    const { clock, recorder } = setup();
    for (const name of ['a', 'b', 'c']) recorder.recordReceived({ businessId: 'shop', sender: person(name) });
    expect(recorder.heldPeople('shop')).toBe(3);
    recorder.forgetPerson('shop', person('a'));
    expect(recorder.heldPeople('shop')).toBe(2);
    clock.time += DAY;
    expect(recorder.heldPeople('shop')).toBe(0);
  });
});
