/** UTC calendar days: the period of statistics and billing. */
import { ParleyError } from '../errors.js';

/** "YYYY-MM-DD" (UTC). A template type, so no branded personal string fits into it. */
export type Day = `${number}-${number}-${number}`;

const DAY_MS = 86_400_000;
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

export function dayOf(epochMs: number): Day {
  return new Date(epochMs).toISOString().slice(0, 10) as Day;
}

export function isDay(value: unknown): value is Day {
  if (typeof value !== 'string' || !DAY_PATTERN.test(value)) return false;
  // "2026-13-01" parses to NaN; "2026-02-30" to another day.
  const start = Date.parse(`${value}T00:00:00Z`);
  return Number.isFinite(start) && dayOf(start) === value;
}

export function day(value: string): Day {
  if (!isDay(value))
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"day" expected a UTC date YYYY-MM-DD', { field: 'day' });
  return value;
}

/** Epoch ms of the day's first millisecond. */
export function dayStart(value: Day): number {
  return Date.parse(`${value}T00:00:00Z`);
}

export function addDays(value: Day, days: number): Day {
  return dayOf(dayStart(value) + days * DAY_MS);
}
