import { describe, expect, it } from 'vitest';
import { pseudonym } from '../src/privacy/branded.js';
import { type Category, category, OTHER_CATEGORY } from '../src/stats/category.js';
import { day } from '../src/stats/day.js';
import { createStatistics } from '../src/stats/ledger.js';
import { foldSmallCounts } from '../src/stats/small-count.js';

const tags = (n: number, prefix = 't') => new Set(Array.from({ length: n }, (_, i) => `${prefix}${i}`));
const row = (name: string, people: number | 'at-least-k', messagesIn = 1, messagesOut = 0) => ({
  category: category(name),
  messagesIn,
  messagesOut,
  people: people === 'at-least-k' ? ('at-least-k' as const) : tags(people, name),
});

describe('the small-count rule', () => {
  it('folds categories describing fewer than k people into other', () => {
    expect(
      foldSmallCounts(
        [
          row('region:eu', 'at-least-k', 10),
          row('region:us', 'at-least-k', 7),
          row('region:ch', 2, 3),
          row('region:jp', 3, 4),
        ],
        5,
      ),
    ).toEqual([
      { category: 'region:eu', messagesIn: 10, messagesOut: 0 },
      { category: 'region:us', messagesIn: 7, messagesOut: 0 },
      { category: OTHER_CATEGORY, messagesIn: 7, messagesOut: 0 },
    ]);
  });

  it('when other alone would describe fewer than k, the smallest shown category joins it', () => {
    expect(
      foldSmallCounts(
        [row('region:eu', 'at-least-k', 10), row('region:us', 'at-least-k', 7), row('region:ch', 2, 3)],
        5,
      ),
    ).toEqual([
      { category: 'region:eu', messagesIn: 10, messagesOut: 0 },
      { category: OTHER_CATEGORY, messagesIn: 10, messagesOut: 0 },
    ]);
  });

  it('counts people in other once even when they appear in several folded categories', () => {
    const a: { category: Category; messagesIn: number; messagesOut: number; people: Set<string> } = {
      category: category('region:ch'),
      messagesIn: 1,
      messagesOut: 0,
      people: tags(3),
    };
    const b = { ...a, category: category('region:jp'), people: tags(3) };
    // Three distinct people in total: below k = 5, so "eu" joins.
    const rows = foldSmallCounts([row('region:eu', 'at-least-k', 9), a, b], 5);
    expect(rows.map((r) => r.category)).toEqual([OTHER_CATEGORY]);
  });

  it('shows nothing extra when there is nothing to fold', () => {
    expect(foldSmallCounts([row('region:eu', 'at-least-k')], 5)).toEqual([
      { category: 'region:eu', messagesIn: 1, messagesOut: 0 },
    ]);
    expect(foldSmallCounts([], 5)).toEqual([]);
  });
});

describe('breakdowns in the statistics snapshot', () => {
  it('a category of four people is folded; of five it is shown; by day end only counts remain', () => {
    const clock = {
      time: Date.UTC(2025, 2, 3, 9),
      now() {
        return this.time;
      },
    };
    const { recorder, statistics } = createStatistics({ clock });
    const send = (region: string, who: string, id: string) =>
      recorder.recordSent({
        businessId: 'shop',
        messageId: id,
        recipient: pseudonym(`person-${who}`),
        category: category(region),
      });
    for (let i = 0; i < 8; i++) send('region:eu', `eu${i}`, `e${i}`);
    for (let i = 0; i < 4; i++) send('region:ch', `ch${i}`, `c${i}`);
    // Repeat messages to the same four people add messages, not people.
    for (let i = 0; i < 4; i++) send('region:ch', `ch${i}`, `c${i}b`);
    for (let i = 0; i < 5; i++) send('region:us', `us${i}`, `u${i}`);
    for (let i = 0; i < 3; i++) send('region:jp', `jp${i}`, `j${i}`);
    const today = day('2025-03-03');
    // ch (4 people) and jp (3) are folded; together they are 7 people, so "other" may show.
    expect(statistics.snapshot(today).businesses[0]?.breakdown).toEqual([
      { category: 'region:eu', messagesIn: 0, messagesOut: 8 },
      { category: 'region:us', messagesIn: 0, messagesOut: 5 },
      { category: 'other', messagesIn: 0, messagesOut: 11 },
    ]);
    // A fifth person in ch shows ch; "other" (jp, 3 people) would now single them out, so the
    // smallest shown category (us) joins it.
    send('region:ch', 'ch4', 'c4');
    expect(statistics.snapshot(today).businesses[0]?.breakdown).toEqual([
      { category: 'region:ch', messagesIn: 0, messagesOut: 9 },
      { category: 'region:eu', messagesIn: 0, messagesOut: 8 },
      { category: 'other', messagesIn: 0, messagesOut: 8 },
    ]);
    clock.time += 86_400_000;
    // Finalized after the day: the same rows, now from stored counts without any tags.
    expect(statistics.snapshot(today).businesses[0]?.breakdown).toEqual([
      { category: 'region:ch', messagesIn: 0, messagesOut: 9 },
      { category: 'region:eu', messagesIn: 0, messagesOut: 8 },
      { category: 'other', messagesIn: 0, messagesOut: 8 },
    ]);
  });

  it('k is configurable but never below 2', () => {
    const clock = { now: () => 0 };
    expect(createStatistics({ clock, k: 3 }).recorder.k).toBe(3);
    expect(() => createStatistics({ clock, k: 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIGURATION' }),
    );
  });
});
