import type { RandomSource } from '../crypto/provider.js';

/** Retry schedules. Every time here is measured on the injected clock. */
export interface BackoffPolicy {
  /** Delay before the second attempt. */
  readonly initialMs: number;
  /** Delays double up to this. */
  readonly maxMs: number;
  /**
   * Spread each delay uniformly over its upper half (default true), from the injected random
   * source: messages that failed together in one outage do not all retry on the same tick.
   */
  readonly jitter?: boolean;
}

/** 5 s doubling to 10 min: quick recovery from a blip, about 10 attempts in the first hour. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 5_000, maxMs: 10 * 60_000 };

/**
 * Delay after `attempts` failed attempts (attempts ≥ 1): the doubling schedule's delay `d`, or
 * with jitter a delay drawn from [d/2, d] ("equal jitter": never later than the schedule).
 */
export function backoffDelay(policy: BackoffPolicy, attempts: number, random?: RandomSource): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  const delay = Math.min(policy.initialMs * 2 ** exponent, policy.maxMs);
  if (policy.jitter === false || random === undefined) return delay;
  const bytes = random(4);
  const unit = (((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0) / 2 ** 32;
  return Math.ceil(delay / 2 + unit * (delay / 2));
}
