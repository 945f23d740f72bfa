import { ParleyError } from '../errors.js';
import type { Clock } from '../storage/contract.js';

/** 2026-01-01T00:00:00Z: a fixed start so timestamps in test output never depend on the day. */
export const DEFAULT_TEST_TIME = Date.UTC(2026, 0, 1);

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A clock that moves only when told to. Every deadline in Parley (retention, redelivery,
 * retries, prekey rotation) is read from the injected clock, so a test can jump 31 days in
 * one call instead of sleeping.
 */
export class ManualClock implements Clock {
  private time: number;

  constructor(start: number = DEFAULT_TEST_TIME) {
    assertTime(start, 'start');
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** Moves forward by `ms` (never backwards: expiry logic assumes a monotonic clock). */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"ms" expected a finite, non-negative number');
    }
    this.time += ms;
    return this.time;
  }

  advanceDays(days: number): number {
    return this.advance(days * DAY_MS);
  }

  /** Jumps to an absolute time, which must not be earlier than now. */
  set(time: number): void {
    assertTime(time, 'time');
    if (time < this.time) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"time" must not be earlier than the current time');
    }
    this.time = time;
  }
}

export function createManualClock(start?: number): ManualClock {
  return new ManualClock(start);
}

function assertTime(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected epoch milliseconds`);
  }
}
