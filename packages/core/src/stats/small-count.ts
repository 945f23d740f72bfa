/**
 * The small-count rule: a breakdown row may only describe at least k people. Rows below k are
 * folded into "other"; if "other" itself stays below k while other rows are shown, the
 * smallest shown row joins it too — otherwise "other" would single out its few people just
 * the same. Pure, so the rule is tested on its own.
 */
import { type Category, OTHER_CATEGORY } from './category.js';
import type { CategoryStatistics } from './snapshots.js';

/** People behind a row: their keyed tags while fewer than k, then only the fact. */
export type PeopleTally = ReadonlySet<string> | 'at-least-k';

export interface CategoryTally {
  readonly category: Category;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly people: PeopleTally;
}

function enough(people: PeopleTally, k: number): boolean {
  return people === 'at-least-k' || people.size >= k;
}

export function foldSmallCounts(tallies: readonly CategoryTally[], k: number): CategoryStatistics[] {
  const shown: CategoryTally[] = [];
  const folded: CategoryTally[] = [];
  for (const tally of tallies) {
    if (tally.category !== OTHER_CATEGORY && enough(tally.people, k)) shown.push(tally);
    else folded.push(tally);
  }
  let otherPeople: PeopleTally = new Set<string>();
  const union = (people: PeopleTally): void => {
    if (otherPeople === 'at-least-k') return;
    if (people === 'at-least-k') {
      otherPeople = 'at-least-k';
      return;
    }
    const merged = new Set(otherPeople);
    for (const tag of people) merged.add(tag);
    otherPeople = merged;
  };
  for (const tally of folded) union(tally.people);
  if (folded.length > 0 && !enough(otherPeople, k) && shown.length > 0) {
    shown.sort(
      (a, b) =>
        a.messagesIn + a.messagesOut - (b.messagesIn + b.messagesOut) || a.category.localeCompare(b.category),
    );
    const smallest = shown.shift()!;
    folded.push(smallest);
  }
  const rows: CategoryStatistics[] = shown
    .sort((a, b) => a.category.localeCompare(b.category))
    .map(({ category, messagesIn, messagesOut }) => ({ category, messagesIn, messagesOut }));
  if (folded.length > 0) {
    let messagesIn = 0;
    let messagesOut = 0;
    for (const tally of folded) {
      messagesIn += tally.messagesIn;
      messagesOut += tally.messagesOut;
    }
    rows.push({ category: OTHER_CATEGORY, messagesIn, messagesOut });
  }
  return rows;
}
