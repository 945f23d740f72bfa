import { assertInteger } from '../crypto/guards.js';
import type { RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import type { Clock } from '../storage/contract.js';

/**
 * How an operation that lost an optimistic commit to another writer (`ERR_STORE_CONFLICT`)
 * is re-run. Several gateway instances over one database collide on a busy address; re-running
 * at once, in lock step, makes them collide again, so each retry waits a randomized,
 * exponentially growing delay ("equal jitter": half the cap plus a random part up to the other
 * half), drawn from the injected random source. The operation gives up when its time budget is
 * spent — not after a fixed number of attempts, which a burst of contention exhausts in
 * microseconds.
 */
export interface CommitRetryOptions {
  /**
   * Time an operation may spend re-running after conflicts, by the injected clock (and at
   * least by the sum of its own waits, so a stopped test clock still ends). Default 2 000 ms.
   */
  readonly budgetMs?: number;
  /** Cap of the first wait; each further wait's cap doubles. Default 2 ms. */
  readonly baseDelayMs?: number;
  /** Largest cap. Default 100 ms. */
  readonly maxDelayMs?: number;
  /** How to wait. Default: a timer. Tests inject one that advances a manual clock. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_BUDGET_MS = 2_000;
const DEFAULT_BASE_DELAY_MS = 2;
const DEFAULT_MAX_DELAY_MS = 100;
/** An hour: anything longer is a unit mistake (seconds passed as milliseconds). */
const MAX_SETTING_MS = 3_600_000;

const timerSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class CommitRetry {
  readonly budgetMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    options: CommitRetryOptions = {},
  ) {
    this.budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
    this.baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    assertInteger(this.budgetMs, 'retry.budgetMs', 0, MAX_SETTING_MS);
    assertInteger(this.baseDelayMs, 'retry.baseDelayMs', 1, MAX_SETTING_MS);
    assertInteger(this.maxDelayMs, 'retry.maxDelayMs', this.baseDelayMs, MAX_SETTING_MS);
    if (options.sleep !== undefined && typeof options.sleep !== 'function') {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"retry.sleep" expected a function');
    }
    this.sleep = options.sleep ?? timerSleep;
  }

  /** A fresh schedule for one operation, started now. */
  start(): RetrySchedule {
    return new RetrySchedule(this, this.clock.now());
  }

  /** The wait before retry number `retry` (1-based): cap/2 + uniform [0, cap/2]. */
  delayFor(retry: number): number {
    const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(retry - 1, 30));
    const bytes = this.random(4);
    const fraction = (((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0) / 2 ** 32;
    return cap / 2 + fraction * (cap / 2);
  }

  wait(ms: number): Promise<void> {
    return this.sleep(ms);
  }

  now(): number {
    return this.clock.now();
  }
}

/** The retries of one operation. */
export class RetrySchedule {
  private retries = 0;
  private waited = 0;

  constructor(
    private readonly policy: CommitRetry,
    private readonly startedAt: number,
  ) {}

  /**
   * Waits before the next attempt and returns true, or returns false when the budget does not
   * allow another wait (the caller then gives up with the conflict it has).
   */
  async backOff(): Promise<boolean> {
    const delay = this.policy.delayFor(this.retries + 1);
    const elapsed = Math.max(this.policy.now() - this.startedAt, this.waited);
    if (elapsed + delay > this.policy.budgetMs) return false;
    this.retries++;
    this.waited += delay;
    await this.policy.wait(delay);
    return true;
  }

  get attempts(): number {
    return this.retries + 1;
  }
}
