import { describe, expect, it } from 'vitest';
import { isParleyError, type ParleyError } from '../src/errors.js';
import { createIntegrity, type IntegrityMonitor, type SendPermit } from '../src/integrity/monitor.js';
import type { IntegrityLevel } from '../src/integrity/signal.js';
import { type Pseudonym, pseudonym } from '../src/privacy/branded.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

class FakeClock {
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

function people(prefix: string, count: number): Pseudonym[] {
  return Array.from({ length: count }, (_, i) => pseudonym(`${prefix}-${i.toString(16).padStart(8, '0')}`));
}

/** A tiny reproducible PRNG (mulberry32) for traffic shapes. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Plays the gateway: records who each message went to, answers the delivery check. */
function setup(start = Date.UTC(2025, 2, 3, 9)) {
  const clock = new FakeClock(start);
  const deliveredTo = new Map<string, Pseudonym>();
  const { monitor, signals } = createIntegrity({
    clock,
    wasDeliveredTo: ({ messageId, reporter }) => deliveredTo.get(messageId) === reporter,
    random: () => new Uint8Array(32).fill(7),
  });
  let nextId = 0;
  const send = (businessId: string, recipient: Pseudonym, delivered = true): string => {
    const messageId = `m-${nextId++}`;
    monitor.recordSent({ businessId, recipient });
    if (delivered) {
      monitor.recordDelivered({ businessId });
      deliveredTo.set(messageId, recipient);
    }
    return messageId;
  };
  return { clock, monitor, signals, send };
}

function blockedBy(monitor: IntegrityMonitor, businessId: string): ParleyError | undefined {
  try {
    monitor.checkSend(businessId);
    return undefined;
  } catch (error) {
    if (isParleyError(error, 'ERR_INTEGRITY_BLOCKED')) return error;
    throw error;
  }
}

describe('a business that messages all of its contacts at once', () => {
  it('is warned, throttled, then blocked, and recovers once the hour has passed', () => {
    const { clock, monitor, signals, send } = setup();
    const contacts = people('contact', 200);
    // Over the previous two weeks every contact wrote in once, so they are known contacts
    // and outside the 24 h reply window today.
    for (const contact of contacts) {
      monitor.recordReceived({ businessId: 'shop', sender: contact });
      clock.advance(Math.floor((14 * DAY) / contacts.length));
    }
    clock.advance(DAY);
    expect(signals.signal('shop').level).toBe('ok');
    expect(signals.signal('shop').snapshot.knownContacts).toBeGreaterThanOrEqual(190);

    const levels: IntegrityLevel[] = [];
    let sent = 0;
    let blocked: ParleyError | undefined;
    for (const contact of contacts) {
      blocked = blockedBy(monitor, 'shop');
      if (blocked) break;
      const permit: SendPermit = monitor.checkSend('shop');
      if (levels.at(-1) !== permit.level) levels.push(permit.level);
      // A gateway honouring the throttle paces this business's sends.
      clock.advance(permit.level === 'throttle' ? permit.minIntervalMs! : 100);
      send('shop', contact);
      sent++;
    }

    expect(levels).toEqual(['ok', 'warn', 'throttle']);
    expect(blocked?.code).toBe('ERR_INTEGRITY_BLOCKED');
    expect(blocked?.details).toMatchObject({ businessId: 'shop', rule: 'contact-share' });
    expect(blocked?.message).toMatch(/messaged \d+ % of known contacts within 1 h/);
    // 80 % of 200, give or take the distinct-count estimate.
    expect(sent).toBeGreaterThan(140);
    expect(sent).toBeLessThan(180);

    const signal = signals.signal('shop');
    expect(signal.level).toBe('block');
    expect(signal.reasons[0]?.rule).toBe('contact-share');
    expect(signal.snapshot.contactShare).toBeGreaterThanOrEqual(0.8);

    // Half an hour later still blocked; once the hour has passed the signal recovers.
    clock.advance(30 * MINUTE);
    expect(signals.signal('shop').level).toBe('block');
    clock.advance(HOUR);
    expect(signals.signal('shop').level).toBe('ok');
    expect(monitor.checkSend('shop').level).toBe('ok');
  });

  it('is throttled at 20 messages a minute by default', () => {
    const { clock, monitor, send } = setup();
    monitor.setKnownContacts('shop', 100);
    clock.advance(DAY);
    for (const contact of people('c', 55)) send('shop', contact);
    const permit = monitor.checkSend('shop');
    expect(permit.level).toBe('throttle');
    expect(permit.throttleRatePerMinute).toBe(20);
    expect(permit.minIntervalMs).toBe(3_000);
  });
});

describe('steady conversational traffic', () => {
  it('stays ok for three days of people writing in and the business replying and following up', () => {
    const { clock, monitor, signals, send } = setup();
    const contacts = people('customer', 400);
    const random = prng(42);
    const seen: IntegrityLevel[] = [];
    let replies = 0;
    let followUps = 0;
    for (let step = 0; step < (3 * DAY) / (4 * MINUTE); step++) {
      clock.advance(4 * MINUTE);
      const person = contacts[Math.floor(random() * contacts.length)]!;
      monitor.recordReceived({ businessId: 'salon', sender: person });
      // One or two replies to whoever wrote.
      for (let r = 0; r < 1 + Math.floor(random() * 2); r++) {
        monitor.checkSend('salon');
        send('salon', person);
        replies++;
      }
      // Now and then an unsolicited follow-up (an appointment reminder).
      if (random() < 0.2) {
        monitor.checkSend('salon');
        send('salon', contacts[Math.floor(random() * contacts.length)]!);
        followUps++;
      }
      if (step % 15 === 0) seen.push(signals.signal('salon').level);
    }
    expect(replies).toBeGreaterThan(1_000);
    expect(followUps).toBeGreaterThan(100);
    expect(new Set(seen)).toEqual(new Set(['ok']));
    expect(signals.signal('salon').reasons).toEqual([]);
  });
});

describe('spam reports', () => {
  it('a burst of reports flips the signal to throttle, then block, and it recovers after the quality window', async () => {
    const { clock, monitor, signals, send } = setup();
    const contacts = people('subscriber', 500);
    const messageIds: string[] = [];
    // 500 newsletter deliveries over ten hours, spaced so no fan-out rule fires.
    for (const contact of contacts) {
      monitor.recordReceived({ businessId: 'news', sender: contact });
      clock.advance(HOUR / 50);
      messageIds.push(send('news', contact));
    }
    expect(signals.signal('news').level).toBe('ok');

    const report = (i: number) =>
      monitor.recordSpamReport({
        businessId: 'news',
        messageId: messageIds[i]!,
        reporterPseudonym: contacts[i]!,
      });
    // Four reports: below the five-report minimum, however high the rate.
    for (let i = 0; i < 4; i++) expect(await report(i)).toBe('counted');
    expect(signals.signal('news').level).toBe('ok');
    // Five of 500 is 1 %: throttle.
    await report(4);
    expect(signals.signal('news').level).toBe('throttle');
    expect(signals.signal('news').reasons[0]?.message).toBe(
      'spam reports above 1 % of deliveries within 24 h (5 reports)',
    );
    for (let i = 5; i < 10; i++) await report(i);
    const blocked = signals.signal('news');
    expect(blocked.level).toBe('block');
    expect(blocked.reasons[0]?.message).toMatch(/^spam reports above 2 % of deliveries/);
    expect(() => monitor.checkSend('news')).toThrow(/spam reports above 2 % of deliveries/);

    clock.advance(DAY + HOUR);
    expect(signals.signal('news').level).toBe('ok');
    expect(signals.signal('news').snapshot.spamReports).toBe(0);
  });
});

describe('delivery failures', () => {
  it('a list of numbers that mostly do not exist throttles but never blocks', () => {
    const { clock, monitor, signals, send } = setup();
    monitor.setKnownContacts('bought-list', 100_000);
    for (const [i, person] of people('stranger', 200).entries()) {
      clock.advance(20_000);
      send('bought-list', person, i % 2 === 0);
      if (i % 2 === 1) monitor.recordFailed({ businessId: 'bought-list' });
    }
    const signal = signals.signal('bought-list');
    expect(signal.level).toBe('throttle');
    expect(signal.reasons.map((r) => r.rule)).toEqual(['delivery-failures']);
    expect(signal.reasons[0]?.message).toBe('delivery failures above 30 % of 200 attempts within 24 h');
  });
});

describe('fan-out to new recipients', () => {
  it('counts recipients not messaged within the lookback, but not replies or regulars', () => {
    const { clock, monitor, signals, send } = setup();
    monitor.setKnownContacts('shop', 1_000_000);
    const regulars = people('regular', 100);
    for (const person of regulars) send('shop', person);
    clock.advance(3 * DAY);
    for (const person of regulars) send('shop', person);
    expect(signals.signal('shop').snapshot.newRecipients).toBe(0);

    const writers = people('writer', 50);
    for (const person of writers) monitor.recordReceived({ businessId: 'shop', sender: person });
    for (const person of writers) send('shop', person);
    expect(signals.signal('shop').snapshot.newRecipients).toBe(0);
    expect(signals.signal('shop').snapshot.distinctRecipients).toBeGreaterThan(140);

    for (const person of people('cold', 300)) send('shop', person);
    const snapshot = signals.signal('shop').snapshot;
    expect(snapshot.newRecipients).toBeGreaterThanOrEqual(295);
    expect(snapshot.newRecipients).toBeLessThanOrEqual(305);
    expect(signals.signal('shop').reasons[0]?.message).toMatch(/^messaged 3\d\d new recipients within 1 h$/);
    expect(signals.signal('shop').level).toBe('warn');

    // Past the lookback, a regular counts as new again.
    clock.advance(9 * DAY);
    for (const person of regulars.slice(0, 10)) send('shop', person);
    expect(signals.signal('shop').snapshot.newRecipients).toBe(10);
  });

  it('a fan-out that bypasses the throttle is blocked', () => {
    const { monitor, send } = setup();
    monitor.setKnownContacts('blaster', 10_000_000);
    for (const person of people('target', 5_200)) send('blaster', person);
    expect(() => monitor.checkSend('blaster')).toThrow(/new recipients within 1 h/);
  });
});

describe('the transport-side view', () => {
  it('reads signals but offers no way to record', () => {
    const { signals } = setup();
    expect(Object.keys(signals)).toEqual(['signal']);
    expect(signals.signal('unknown-business')).toMatchObject({ level: 'ok', reasons: [] });
  });
});
