/**
 * One instance's view of a business's integrity counters, statistics and billing (kept in the
 * monitor and ledger in memory): which stored state it was built on and which journal events it
 * holds. Per instance and disposable; the truth is the state plus the journal (tally.ts).
 */
export interface TallyView {
  /** The state versions the view was built on ("integrity,days,people"). */
  versions: string;
  /** Bumped on every rebuild: an event applied before a rebuild is not in the view after it. */
  generation: number;
  /** Journal events folded into the view (committed; present in the store's journal). */
  readonly applied: Set<string>;
  /**
   * This instance's events applied ahead whose commit has not answered yet. A refresh may
   * already find them in the journal (the store committed; our caller has not resumed): they
   * are in the view, and applying them again would count them twice.
   */
  readonly inFlight: Set<string>;
}

/**
 * Refreshes of one business's view, coalesced: callers that arrive while a refresh is under way
 * share the next one, which starts when it ends — so each caller's refresh reads the store after
 * the caller asked, and 64 concurrent sends cost two refreshes instead of 64.
 */
export interface TallyRefreshes {
  running?: Promise<void> | undefined;
  queued?: Promise<void> | undefined;
}
