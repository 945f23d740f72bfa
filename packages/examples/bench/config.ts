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
  /** Libraries whose memory is measured (default: all but the floors). */
  readonly rssLibs?: readonly string[];
  /** Ping-pongs before the session record size is read. */
  readonly recordPingPongs: number;
  /** Messages decrypted and persisted per round, per store. */
  readonly storage: { readonly memory: number; readonly sqliteFile: number; readonly sqliteMemory: number };
  /** Child processes for the memory measurement running at once (they do not time anything). */
  readonly rssConcurrency: number;
  /** Group messages encrypted, then decrypted in order, per round (see groups.ts). */
  readonly groups: { readonly fast: number; readonly slow: number };
}

/**
 * `pnpm bench`: sized for about a quarter of an hour on a 2-core machine shared with other
 * work (three interleaved rounds; medians of three).
 */
export const FULL: BenchConfig = {
  mode: 'full',
  rounds: 3,
  counts: {
    fast: { sessions: 100, stream: 1500, pingPong: 200 },
    medium: { sessions: 20, stream: 600, pingPong: 30 },
    slow: { sessions: 6, stream: 150, pingPong: 8 },
  },
  overrides: { 'libsignal-6.0.0': { sessions: 60, pingPong: 120 } },
  warmup: {
    fast: { sessions: 20, stream: 300, pingPong: 30 },
    medium: { sessions: 3, stream: 100, pingPong: 5 },
    slow: { sessions: 2, stream: 30, pingPong: 2 },
  },
  reverse: 1000,
  rssSessions: { fast: 10_000, medium: 2_000, slow: 300 },
  // Slow handshakes (pure-JS signatures; Kyber-1024 key generation for every v4 bundle) get a
  // smaller N, the same for every v4 library.
  rssOverrides: {
    'libsignal-6.0.0': 2_000,
    'parley-node-v4-spqr': 2_000,
    'lsc-0.90.0': 2_000,
    'lsc-0.103.0': 2_000,
  },
  // The compared libraries (not Parley v4 without SPQR or the portable provider).
  rssLibs: [
    'parley-node',
    'parley-node-v4-spqr',
    'lsc-0.23.1',
    'libsignal-6.0.0',
    'privacyresearch-0.0.16',
    'lsc-0.90.0',
    'lsc-0.103.0',
  ],
  recordPingPongs: 1000,
  storage: { memory: 1500, sqliteFile: 500, sqliteMemory: 1500 },
  rssConcurrency: 2,
  groups: { fast: 1500, slow: 60 },
};

/**
 * CI's smoke run (`pnpm bench --quick`, under a minute on a quiet 2-core machine): every row
 * runs once with small counts, memory for two libraries only. Its figures are not measurements.
 */
export const QUICK: BenchConfig = {
  mode: 'quick',
  rounds: 1,
  counts: {
    fast: { sessions: 12, stream: 200, pingPong: 20 },
    medium: { sessions: 3, stream: 100, pingPong: 4 },
    slow: { sessions: 2, stream: 30, pingPong: 2 },
  },
  overrides: { 'libsignal-6.0.0': { sessions: 8, pingPong: 10 } },
  warmup: {
    fast: { sessions: 2, stream: 30, pingPong: 3 },
    medium: { sessions: 1, stream: 10, pingPong: 1 },
    slow: { sessions: 1, stream: 5, pingPong: 1 },
  },
  reverse: 100,
  rssSessions: { fast: 100, medium: 20, slow: 5 },
  rssOverrides: {},
  rssLibs: ['parley-node', 'lsc-0.23.1'],
  recordPingPongs: 20,
  storage: { memory: 150, sqliteFile: 60, sqliteMemory: 150 },
  rssConcurrency: 2,
  groups: { fast: 100, slow: 10 },
};

export function countsFor(config: BenchConfig, lib: BenchLib, warmup = false): Counts {
  const base = (warmup ? config.warmup : config.counts)[lib.speed];
  return warmup ? base : { ...base, ...config.overrides[lib.id] };
}
