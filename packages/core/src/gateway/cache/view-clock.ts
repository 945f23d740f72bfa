import type { Clock } from '../../storage/contract.js';

/**
 * The clock of this instance's integrity and statistics view: the gateway's clock, except while
 * an event from the tally journal is applied — then the event's own time, so an event counts in
 * the window it happened in, whichever instance wrote it and whenever this one reads it.
 */
export class ViewClock implements Clock {
  #at: number | undefined;

  constructor(private readonly base: Clock) {}

  now(): number {
    return this.#at ?? this.base.now();
  }

  at<T>(time: number, work: () => T): T {
    const previous = this.#at;
    this.#at = time;
    try {
      return work();
    } finally {
      this.#at = previous;
    }
  }
}
