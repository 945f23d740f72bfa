/**
 * Bookkeeping for the harness's own asynchronous work: a limit on calls in flight (so 200
 * devices do not pile hundreds of requests onto three processes), a set of tracked promises
 * to wait for, and waiting with a deadline.
 */

export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await work();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}

export class Tracker {
  private readonly inFlight = new Set<Promise<unknown>>();
  /** The first failure of tracked work (a harness bug, not a gateway outcome). */
  failure: unknown;

  track(work: Promise<unknown>): void {
    const tracked = work
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  get size(): number {
    return this.inFlight.size;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `done` until it holds or `timeoutMs` passes; true when it held. */
export async function waitUntil(done: () => boolean, timeoutMs: number, pollMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= end) return false;
    await sleep(pollMs);
  }
  return true;
}
