/** Sample sizes. Slow libraries get fewer operations per round; rates are per second either way. */
import type { BenchLib } from './libs.js';

export interface Counts {
  /** Sessions established per round (bundle → first message → decrypt). */
  readonly sessions: number;
  /** Messages encrypted, then decrypted in order, per round. */
  readonly stream: number;
  /** Round trips per round. */
  readonly pingPong: number;
}

export interface BenchConfig {
  readonly mode: 'full' | 'quick';
  readonly rounds: number;
  readonly counts: Record<BenchLib['speed'], Counts>;
  /** Per-library overrides (libsignal 6.0.0 is "fast" on messages but not on handshakes). */
  readonly overrides: Record<string, Partial<Counts>>;
  readonly warmup: Record<BenchLib['speed'], Counts>;
  /**
   * Messages decrypted newest-first per round. The same for every library: the ratio to the
   * in-order rate depends on it (every library keeps up to 2 000 skipped keys per chain).
   */
  readonly reverse: number;
  /** Sessions held for the memory measurement, per speed class. */
  readonly rssSessions: Record<BenchLib['speed'], number>;
  readonly rssOverrides: Record<string, number>;
  /** Ping-pongs before the session record size is read. */
  readonly recordPingPongs: number;
  /** Messages decrypted and persisted per round, per store. */
  readonly storage: { readonly memory: number; readonly sqliteFile: number; readonly sqliteMemory: number };
  /** Child processes for the memory measurement running at once (they do not time anything). */
  readonly rssConcurrency: number;
  /** Group messages encrypted, then decrypted in order, per round (see groups.ts). */
  readonly groups: { readonly fast: number; readonly slow: number };
}

export const FULL: BenchConfig = {
  mode: 'full',
  rounds: 7,
  counts: {
    fast: { sessions: 300, stream: 3000, pingPong: 500 },
    medium: { sessions: 40, stream: 2000, pingPong: 60 },
    slow: { sessions: 15, stream: 400, pingPong: 20 },
  },
  overrides: { 'libsignal-6.0.0': { sessions: 150, pingPong: 250 } },
  warmup: {
    fast: { sessions: 30, stream: 500, pingPong: 50 },
    medium: { sessions: 5, stream: 300, pingPong: 10 },
    slow: { sessions: 3, stream: 100, pingPong: 5 },
  },
  reverse: 1000,
  rssSessions: { fast: 10_000, medium: 2_000, slow: 500 },
  // Its handshakes run ~35/s with bundle creation: 5 000 sessions keep the run under 15 minutes.
  rssOverrides: { 'libsignal-6.0.0': 5_000 },
  recordPingPongs: 1000,
  storage: { memory: 2000, sqliteFile: 1000, sqliteMemory: 2000 },
  rssConcurrency: 2,
  groups: { fast: 3000, slow: 200 },
};

export const QUICK: BenchConfig = {
  mode: 'quick',
  rounds: 2,
  counts: {
    fast: { sessions: 40, stream: 500, pingPong: 60 },
    medium: { sessions: 5, stream: 300, pingPong: 8 },
    slow: { sessions: 3, stream: 80, pingPong: 4 },
  },
  overrides: { 'libsignal-6.0.0': { sessions: 20, pingPong: 30 } },
  warmup: {
    fast: { sessions: 5, stream: 100, pingPong: 10 },
    medium: { sessions: 1, stream: 50, pingPong: 2 },
    slow: { sessions: 1, stream: 20, pingPong: 1 },
  },
  reverse: 200,
  rssSessions: { fast: 200, medium: 20, slow: 5 },
  rssOverrides: { 'libsignal-6.0.0': 30 },
  recordPingPongs: 100,
  storage: { memory: 300, sqliteFile: 150, sqliteMemory: 300 },
  rssConcurrency: 2,
  groups: { fast: 300, slow: 20 },
};

export function countsFor(config: BenchConfig, lib: BenchLib, warmup = false): Counts {
  const base = (warmup ? config.warmup : config.counts)[lib.speed];
  return warmup ? base : { ...base, ...config.overrides[lib.id] };
}
