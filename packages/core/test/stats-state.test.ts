/** The statistics ledger's persisted state: encoding, restore, expiry and erasure. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, toHex } from '../src/bytes.js';
import { isParleyError } from '../src/errors.js';
import { type Pseudonym, pseudonym } from '../src/privacy/branded.js';
import { type Category, category } from '../src/stats/category.js';
import { type Day, dayOf } from '../src/stats/day.js';
import { createStatistics } from '../src/stats/ledger.js';
import {
  type DayState,
  decodeDaysState,
  decodePeopleState,
  encodeDaysState,
  encodePeopleState,
  encodeStatisticsState,
  type PeopleState,
  restoreStatisticsState,
} from '../src/stats/state.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.UTC(2025, 2, 3, 8);

function setup(clock = { time: START, now: () => 0 }, key = 3) {
  clock.now = () => clock.time;
  return { clock, ...createStatistics({ clock, tagKey: new Uint8Array(32).fill(key) }) };
}

const person = (name: string): Pseudonym => pseudonym(`pseudonym-${name}`);

function invalidRecordOnly(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!isParleyError(error, 'ERR_INVALID_RECORD')) throw error;
  }
}

const count = fc.nat({ max: 2 ** 40 });
const label = fc
  .stringMatching(/^[a-z][a-z0-9._:-]{0,20}$/)
  .filter((s) => !/[0-9]{6,}/.test(s)) as fc.Arbitrary<Category>;
const dayArb = fc.integer({ min: 0, max: 2_900_000 }).map((d) => dayOf(d * DAY) as Day);
const rows = fc.uniqueArray(fc.record({ category: label, messagesIn: count, messagesOut: count }), {
  selector: (row) => row.category,
  maxLength: 4,
});
const dayState: fc.Arbitrary<DayState> = fc
  .record({
    day: dayArb,
    counts: fc.tuple(count, count, count, count, count, count, count, count, count),
    // Absent when all zero (as the ledger exports it).
    groupCounts: fc.option(
      fc.tuple(count, count, count).filter((counts) => counts.some((n) => n > 0)),
      { nil: undefined },
    ),
    folded: fc.boolean(),
    rows,
    flags: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  })
  .map(({ day, counts, groupCounts, folded, rows, flags }) => ({
    day,
    counts,
    ...(groupCounts ? { groupCounts } : {}),
    ...(folded
      ? { tallies: undefined, breakdown: rows }
      : { tallies: rows.map((row, i) => ({ ...row, atLeastK: flags[i]! })), breakdown: undefined }),
  }));
const tag = fc.uint8Array({ minLength: 8, maxLength: 8 }).map(toHex);
const time = fc.integer({ min: 0, max: 2 ** 50 });
const peopleState: fc.Arbitrary<PeopleState> = fc.record({
  keyFingerprint: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  expiresAt: time,
  people: fc.uniqueArray(
    fc.record({
      tag,
      touched: time,
      lastInbound: fc.option(time, { nil: undefined }),
      conversationStart: fc.option(time, { nil: undefined }),
    }),
    { selector: (p) => p.tag, maxLength: 6 },
  ),
  tallyTags: fc.option(
    fc.record({
      day: dayArb,
      categories: fc.uniqueArray(
        fc.record({ category: label, tags: fc.uniqueArray(tag, { maxLength: 4 }) }),
        {
          selector: (c) => c.category,
          maxLength: 3,
        },
      ),
    }),
    { nil: undefined },
  ),
});

describe('statistics state encoding', () => {
  it('round-trips days and people', () => {
    fc.assert(
      fc.property(fc.uniqueArray(dayState, { selector: (d) => d.day, maxLength: 5 }), (days) => {
        expect(decodeDaysState(encodeDaysState(days))).toEqual(days);
      }),
    );
    fc.assert(
      fc.property(peopleState, (state) => {
        expect(decodePeopleState(encodePeopleState(state))).toEqual(state);
      }),
    );
  });

  it('a days record of version 1 (before group messages) still reads, with no group counts', () => {
    // Hand-built from the version-1 layout: magic "PSD" 1, one day (2025-03-03 is day 20150),
    // nine counts 1…9, a folded breakdown with no rows.
    const day = [(20_150 % 128) | 0x80, ((20_150 >> 7) % 128) | 0x80, 20_150 >> 14]; // LEB128
    const v1 = Uint8Array.from([0x50, 0x53, 0x44, 0x01, 1, ...day, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0]);
    expect(decodeDaysState(v1)).toEqual([
      { day: '2025-03-03', counts: [1, 2, 3, 4, 5, 6, 7, 8, 9], tallies: undefined, breakdown: [] },
    ]);
  });

  it('decoders fed random or mutated bytes throw only ERR_INVALID_RECORD', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        invalidRecordOnly(() => decodeDaysState(bytes));
        invalidRecordOnly(() => decodePeopleState(bytes));
        // With a valid header, so the body parsers are reached too.
        invalidRecordOnly(() => decodeDaysState(Uint8Array.from([0x50, 0x53, 0x44, 0x01, ...bytes])));
        invalidRecordOnly(() => decodePeopleState(Uint8Array.from([0x50, 0x53, 0x50, 0x01, ...bytes])));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(dayState, { selector: (d) => d.day, minLength: 1, maxLength: 3 }),
        peopleState,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (days, people, at, flip) => {
          for (const bytes of [encodeDaysState(days), encodePeopleState(people)]) {
            const mutated = Uint8Array.from(bytes);
            const i = at % mutated.length;
            mutated[i] = (mutated[i] ?? 0) ^ flip;
            invalidRecordOnly(() => decodeDaysState(mutated));
            invalidRecordOnly(() => decodePeopleState(mutated));
            invalidRecordOnly(() => decodeDaysState(mutated.subarray(0, at % mutated.length)));
            invalidRecordOnly(() => decodePeopleState(mutated.subarray(0, at % mutated.length)));
          }
        },
      ),
    );
    expect(() => decodeDaysState(new Uint8Array([1, 2, 3]))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_RECORD' }),
    );
    const trailing = Uint8Array.from([...encodeDaysState([]), 0]);
    expect(() => decodeDaysState(trailing)).toThrow(/trailing bytes/);
  });
});

describe('statistics ledger restore', () => {
  function busyLedger() {
    const parts = setup();
    const { recorder, clock } = parts;
    const eu = category('region:eu');
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f'])
      recorder.recordReceived({ businessId: 'shop', sender: person(name), category: eu });
    recorder.recordSent({ businessId: 'shop', messageId: 'm1', recipient: person('x') });
    recorder.recordDelivered({ businessId: 'shop', messageId: 'm1', recipient: person('x') });
    recorder.recordSessionEstablished({ businessId: 'shop' });
    clock.time += DAY; // yesterday is folded
    recorder.recordReceived({ businessId: 'shop', sender: person('a'), category: category('region:us') });
    recorder.recordSent({ businessId: 'shop', messageId: 'm2', recipient: person('y') });
    recorder.recordFailed({ businessId: 'shop', messageId: 'm2' });
    return parts;
  }

  it('a ledger restored from its records has equal snapshots and the same open windows', () => {
    const before = busyLedger();
    const days = before.statistics.days();
    const encoded = encodeStatisticsState(before.recorder, 'shop');
    expect(encoded.people).toBeDefined();

    const after = setup({ time: before.clock.time, now: () => 0 });
    restoreStatisticsState(after.recorder, 'shop', encoded.days?.bytes, encoded.people?.bytes);
    expect(after.statistics.days()).toEqual(days);
    for (const d of days) {
      expect(after.statistics.snapshot(d)).toEqual(before.statistics.snapshot(d));
      expect(after.billing.snapshot(d)).toEqual(before.billing.snapshot(d));
    }
    expect(after.recorder.heldPeople('shop')).toBe(before.recorder.heldPeople('shop'));
    // 'a' wrote 1 h ago after a restart: still in their conversation, not billed again; 'z' is new.
    const today = dayOf(after.clock.time);
    after.clock.time += HOUR;
    before.clock.time += HOUR;
    for (const parts of [before, after]) {
      parts.recorder.recordReceived({ businessId: 'shop', sender: person('a') });
      parts.recorder.recordReceived({ businessId: 'shop', sender: person('z') });
    }
    expect(after.billing.snapshot(today)).toEqual(before.billing.snapshot(today));
    expect(after.billing.snapshot(today).businesses[0]?.conversationsOpenedBy.person).toBe(2);
    // The small-count tags of the running day came back: region:us stays folded until 5 people.
    expect(after.statistics.snapshot(today)).toEqual(before.statistics.snapshot(today));
  });

  it('expiry: the people record expires with the newest window; counts with the retention', () => {
    const { recorder, clock } = busyLedger();
    const encoded = encodeStatisticsState(recorder, 'shop');
    // Sends open no window; 'a' wrote last, at START + DAY.
    expect(encoded.people?.expiresAt).toBe(START + 2 * DAY);
    expect(encoded.days?.expiresAt).toBe(Date.parse(`${dayOf(clock.time)}T00:00:00Z`) + 63 * DAY);
    clock.time += DAY;
    // Every window is over: nothing personal is left to store.
    expect(encodeStatisticsState(recorder, 'shop').people).toBeUndefined();
  });

  it('erasure leaves no tag of the person in the encoded state', () => {
    const { recorder } = setup();
    recorder.recordReceived({ businessId: 'shop', sender: person('a'), category: category('region:eu') });
    recorder.recordReceived({ businessId: 'shop', sender: person('b'), category: category('region:eu') });
    const tagsOf = () => {
      const people = decodePeopleState(encodeStatisticsState(recorder, 'shop').people!.bytes);
      return {
        people: people.people.map((p) => p.tag),
        tally: people.tallyTags?.categories.flatMap((c) => c.tags) ?? [],
      };
    };
    const held = tagsOf();
    expect(held.people).toHaveLength(2);
    expect(new Set(held.tally)).toEqual(new Set(held.people));
    recorder.forgetPerson('shop', person('a'));
    const after = tagsOf();
    expect(after.people).toHaveLength(1);
    expect(after.tally).toEqual(after.people);
    recorder.forgetPerson('shop', person('b'));
    expect(encodeStatisticsState(recorder, 'shop').people).toBeUndefined();
  });

  it('people written under another tag key are dropped, counts kept; corrupt records start over', () => {
    const before = busyLedger();
    const encoded = encodeStatisticsState(before.recorder, 'shop');
    const other = setup({ time: before.clock.time, now: () => 0 }, 9);
    expect(
      restoreStatisticsState(other.recorder, 'shop', encoded.days?.bytes, encoded.people?.bytes).peopleKept,
    ).toBe(false);
    expect(other.recorder.heldPeople('shop')).toBe(0);
    const today = dayOf(before.clock.time);
    expect(other.billing.snapshot(today)).toEqual(before.billing.snapshot(today));

    const corrupt = Uint8Array.from(encoded.days!.bytes);
    corrupt[4] = 0xff;
    corrupt[5] = 0xff;
    expect(() => restoreStatisticsState(other.recorder, 'shop', corrupt, undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_RECORD' }),
    );
    expect(other.statistics.days()).toEqual([]);
  });

  it('changes are listed once; a restore that expired something lists the business again', () => {
    const { recorder, clock } = setup();
    expect(recorder.takeChanged()).toEqual([]);
    recorder.recordReceived({ businessId: 'shop', sender: person('a') });
    expect(recorder.takeChanged()).toEqual(['shop']);
    expect(recorder.takeChanged()).toEqual([]);
    const encoded = encodeStatisticsState(recorder, 'shop');
    clock.time += DAY;
    const later = setup({ time: clock.time, now: () => 0 });
    restoreStatisticsState(later.recorder, 'shop', encoded.days?.bytes, encoded.people?.bytes);
    expect(later.recorder.heldPeople('shop')).toBe(0);
    expect(later.recorder.takeChanged()).toEqual(['shop']);
    const fresh = setup({ time: START, now: () => 0 });
    restoreStatisticsState(fresh.recorder, 'shop', encoded.days?.bytes, encoded.people?.bytes);
    expect(fresh.recorder.takeChanged()).toEqual([]);
    expect(bytesEqual(encodeStatisticsState(fresh.recorder, 'shop').days!.bytes, encoded.days!.bytes)).toBe(
      true,
    );
  });
});
