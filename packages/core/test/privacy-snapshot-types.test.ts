import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import type { IntegrityReason, IntegritySignal, IntegritySnapshot } from '../src/integrity/signal.js';
import {
  type DeviceId,
  deviceId,
  isPseudonym,
  type MessageContent,
  messageContent,
  type PhoneNumber,
  type Pseudonym,
  phoneNumber,
  pseudonym,
} from '../src/privacy/branded.js';
import { type Category, category } from '../src/stats/category.js';
import { day } from '../src/stats/day.js';
import type {
  BillingSnapshot,
  BusinessBilling,
  BusinessStatistics,
  CategoryStatistics,
  StatisticsSnapshot,
} from '../src/stats/snapshots.js';

// The `@ts-expect-error` lines below are checked by `tsc` (the repo's typecheck includes
// tests): each would compile if a branded personal value could enter a snapshot type, and
// an unused `@ts-expect-error` is itself an error. The `it` blocks check the same values at
// run time so that the file also counts under vitest.

const phone: PhoneNumber = phoneNumber('+14155550123');
const person: Pseudonym = pseudonym('5f1c0a9e7b2d4c3e8f6a1b0d9c8e7f6a');
const device: DeviceId = deviceId(3);
const content: MessageContent = messageContent('canary-content');
const today = day('2025-03-01');
const region: Category = category('region:eu');

const statistics: BusinessStatistics = {
  businessId: 'biz-1',
  day: today,
  messagesIn: 1,
  messagesOut: 2,
  delivered: 2,
  failed: 0,
  expired: 0,
  sessionsEstablished: 1,
  groupMessagesIn: 0,
  groupMessagesOut: 0,
  breakdown: [{ category: region, messagesIn: 1, messagesOut: 2 }],
};

describe('branded personal data cannot enter statistics snapshots', () => {
  it('refuses each branded type in every kind of field', () => {
    const rows: BusinessStatistics[] = [
      // @ts-expect-error a phone number is not a business id
      { ...statistics, businessId: phone },
      // @ts-expect-error a pseudonym is not a business id
      { ...statistics, businessId: person },
      // @ts-expect-error a device id is not a count
      { ...statistics, messagesIn: device },
      // @ts-expect-error content is not a count
      { ...statistics, delivered: content },
      // @ts-expect-error a phone number is not a day
      { ...statistics, day: phone },
      // @ts-expect-error a pseudonym is not a day
      { ...statistics, day: person },
    ];
    const breakdown: CategoryStatistics[] = [
      // @ts-expect-error a phone number is not a category
      { category: phone, messagesIn: 1, messagesOut: 1 },
      // @ts-expect-error a pseudonym is not a category
      { category: person, messagesIn: 1, messagesOut: 1 },
      // @ts-expect-error content is not a category
      { category: content, messagesIn: 1, messagesOut: 1 },
      // @ts-expect-error a device id is not a count
      { category: region, messagesIn: device, messagesOut: 1 },
    ];
    const snapshot: StatisticsSnapshot = {
      day: today,
      // @ts-expect-error a device id is not k
      k: device,
      businesses: [statistics],
    };
    expect(rows).toHaveLength(6);
    expect(breakdown).toHaveLength(4);
    expect(snapshot.businesses[0]?.businessId).toBe('biz-1');
  });
});

describe('branded personal data cannot enter billing snapshots', () => {
  it('refuses each branded type', () => {
    const row: BusinessBilling = {
      businessId: 'biz-1',
      day: today,
      businessInitiatedDelivered: 4,
      conversationsOpened: 2,
      conversationsOpenedBy: { business: 1, person: 1 },
      groupMessagesDelivered: 0,
    };
    const rows: BusinessBilling[] = [
      // @ts-expect-error a phone number is not a business id
      { ...row, businessId: phone },
      // @ts-expect-error a pseudonym is not a business id
      { ...row, businessId: person },
      // @ts-expect-error a device id is not a count
      { ...row, conversationsOpened: device },
      // @ts-expect-error content is not a count
      { ...row, businessInitiatedDelivered: content },
      // @ts-expect-error a device id is not a count
      { ...row, conversationsOpenedBy: { business: device, person: 0 } },
      // @ts-expect-error a phone number is not a count
      { ...row, conversationsOpenedBy: { business: 0, person: phone } },
    ];
    const snapshot: BillingSnapshot = { day: today, businesses: [row] };
    expect(rows).toHaveLength(6);
    expect(snapshot.businesses).toHaveLength(1);
  });
});

describe('branded personal data cannot enter integrity signals', () => {
  it('refuses each branded type in snapshots, reasons and signals', () => {
    const snapshot: IntegritySnapshot = {
      activityWindowMs: 3_600_000,
      qualityWindowMs: 86_400_000,
      sent: 0,
      distinctRecipients: 0,
      unsolicitedRecipients: 0,
      newRecipients: 0,
      knownContacts: 0,
      contactShare: 0,
      delivered: 0,
      failed: 0,
      spamReports: 0,
      failureRate: 0,
      spamRate: 0,
    };
    const snapshots: IntegritySnapshot[] = [
      // @ts-expect-error a device id is not a count
      { ...snapshot, sent: device },
      // @ts-expect-error content is not a count
      { ...snapshot, distinctRecipients: content },
      // @ts-expect-error a phone number is not a count
      { ...snapshot, knownContacts: phone },
    ];
    const reason: IntegrityReason = {
      rule: 'spam-reports',
      level: 'warn',
      message: 'x',
      observed: 1,
      threshold: 1,
    };
    const reasons: IntegrityReason[] = [
      // @ts-expect-error a phone number is not a reason message
      { ...reason, message: phone },
      // @ts-expect-error a pseudonym is not a reason message
      { ...reason, message: person },
      // @ts-expect-error a pseudonym is not a rule
      { ...reason, rule: person },
      // @ts-expect-error a device id is not an observed count
      { ...reason, observed: device },
    ];
    const signal: IntegritySignal = { businessId: 'biz-1', level: 'ok', reasons: [], snapshot, at: 0 };
    const signals: IntegritySignal[] = [
      // @ts-expect-error a phone number is not a business id
      { ...signal, businessId: phone },
      // @ts-expect-error a pseudonym is not a business id
      { ...signal, businessId: person },
      // @ts-expect-error a device id is not a rate
      { ...signal, throttleRatePerMinute: device },
      // @ts-expect-error content is not a time
      { ...signal, at: content },
    ];
    expect(snapshots).toHaveLength(3);
    expect(reasons).toHaveLength(4);
    expect(signals).toHaveLength(4);
  });

  it('still accepts plain numbers and strings (the guard is the brand, not the base type)', () => {
    const count: number = 7;
    const label: string = 'biz-2';
    const row: BusinessStatistics = { ...statistics, businessId: label, messagesOut: count };
    expect(row.messagesOut).toBe(7);
  });
});

describe('branded constructors refuse misuse loudly', () => {
  const bad = (fn: () => unknown, field: string) => {
    try {
      fn();
    } catch (error) {
      expect(isParleyError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe(field);
      // The refused value itself is personal data and must not be echoed.
      expect(String((error as Error).message)).not.toContain('5550');
      return;
    }
    throw new Error(`expected ${field} to be refused`);
  };

  it('phone numbers must be E.164', () => {
    for (const value of ['', '14155550123', '+0123', '+1 415 555 0123', '+1234567890123456', 'abc'])
      bad(() => phoneNumber(value), 'phoneNumber');
    expect(phoneNumber('+4915155501234')).toBe('+4915155501234');
  });

  it('a phone number cannot be wrapped as a pseudonym', () => {
    for (const value of ['+14155550123', '14155550123', '+1 (415) 555-0123', '', 'x'.repeat(257)])
      bad(() => pseudonym(value), 'pseudonym');
    expect(isPseudonym(person)).toBe(true);
  });

  it('device ids are positive 31-bit integers', () => {
    for (const value of [0, -1, 1.5, 2 ** 31, Number.NaN]) bad(() => deviceId(value), 'deviceId');
    expect(deviceId(1)).toBe(1);
  });

  it('content is branded without copying; strings are UTF-8 encoded', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(messageContent(bytes)).toBe(bytes);
    expect([...messageContent('é')]).toEqual([0xc3, 0xa9]);
    bad(() => messageContent(42 as unknown as string), 'content');
  });

  it('categories cannot be phone numbers or digit-heavy ids', () => {
    for (const value of ['+14155550123', '14155550123', 'cc:4155550123', 'Region', '', 'a'.repeat(65)])
      bad(() => category(value), 'category');
    expect(category('cc:49')).toBe('cc:49');
  });
});
