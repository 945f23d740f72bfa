/** Retry schedules. Every time here is measured on the injected clock. */
export interface BackoffPolicy {
  /** Delay before the second attempt. */
  readonly initialMs: number;
  /** Delays double up to this. */
  readonly maxMs: number;
}

/** 5 s doubling to 10 min: quick recovery from a blip, about 10 attempts in the first hour. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 5_000, maxMs: 10 * 60_000 };

/** Delay after `attempts` failed attempts (attempts ≥ 1). */
export function backoffDelay(policy: BackoffPolicy, attempts: number): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(policy.initialMs * 2 ** exponent, policy.maxMs);
}
