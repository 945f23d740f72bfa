/**
 * Where CPU time went during a timed phase, from Linux's /proc: the whole machine (busy share
 * of all cores), the PostgreSQL server's processes, and — given by the caller — the gateway
 * processes and the harness. Says what bounds a throughput figure: all cores busy means CPU,
 * idle cores mean waiting (locks, round trips). Elsewhere than Linux the figures are absent.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc times are in 1/100 s on every common configuration. */
const TICKS_PER_SECOND = 100;

export interface CpuSnapshot {
  readonly at: number;
  /** Busy and total time of all cores, seconds (undefined without /proc). */
  readonly machine: { readonly busy: number; readonly total: number } | undefined;
  /** CPU seconds of every process named `postgres`. */
  readonly postgres: number | undefined;
}

export function cpuSnapshot(): CpuSnapshot {
  return { at: performance.now(), machine: machineTimes(), postgres: postgresSeconds() };
}

export interface CpuShare {
  /** Cores' worth of CPU used by PostgreSQL over the phase. */
  readonly postgresCores: number | undefined;
  /** Share of all cores busy over the phase, 0…1 (other work on the machine included). */
  readonly machineBusy: number | undefined;
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuShare {
  const seconds = (after.at - before.at) / 1000;
  return {
    postgresCores:
      before.postgres === undefined || after.postgres === undefined || seconds <= 0
        ? undefined
        : (after.postgres - before.postgres) / seconds,
    machineBusy:
      before.machine && after.machine && after.machine.total > before.machine.total
        ? (after.machine.busy - before.machine.busy) / (after.machine.total - before.machine.total)
        : undefined,
  };
}

function machineTimes(): CpuSnapshot['machine'] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return undefined;
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

function postgresSeconds(): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // "pid (comm) state ppid …": the name may hold spaces, so split after the last ')'.
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      if (stat.slice(open + 1, close) !== 'postgres') continue;
      const rest = stat.slice(close + 2).split(' ');
      // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after "state".
      ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ticks / TICKS_PER_SECOND;
}
