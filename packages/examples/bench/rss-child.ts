/**
 * Memory per held session, for one library, in a process of its own (started by run.ts), so no
 * other library's heap or native allocations are counted: the RSS growth of the process while
 * it comes to hold N established sessions, read after full garbage collections at five
 * checkpoints (the slope), without the heap pages V8 keeps committed but free (see residentNet). The young
 * generation is pinned small (--max-semi-space-size=1) so that its size, which V8 grows and
 * shrinks on its own, is not counted as sessions. Prints one JSON line on stdout; nothing else.
 *
 * Bytecode flushing is off (--no-flush-bytecode): V8 otherwise drops the bytecode of functions
 * not run lately at every few collections, and memory falls while the sessions grow.
 *
 *   node --expose-gc --max-semi-space-size=1 --no-flush-bytecode --conditions=parley-source --import tsx \
 *     bench/rss-child.ts <library> <sessions>
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { libById } from './libs.js';
import { silenceConsole } from './output.js';
import { holdSessions } from './workloads.js';

silenceConsole();

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

async function settled(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 6; i++) {
    gc!();
    await nextTurn();
  }
  return process.memoryUsage();
}

const [libId, countText] = process.argv.slice(2);
const lib = libById(libId ?? '');
const count = Number(countText);
if (!Number.isSafeInteger(count) || count <= 0) throw new Error('expected a session count');

const hub = await lib.createParty({ name: 'hub', deviceId: 1 });
// Warm up with sessions the hub keeps (a fifth of N, before the baseline): code paths, lazily
// made singletons and the allocators reach their steady state. Nothing is dropped after it: the
// heap pages a dropped warm-up leaves committed would be reused by the held sessions, and RSS
// growth would come out below the heap's own growth.
await holdSessions(lib, hub, Math.max(3, Math.ceil(count / 5)), 'warm');
// Five checkpoints; the figure is the least-squares slope of memory against sessions held, which
// a one-off jump at either end (a heap page, an allocator arena) moves far less than it moves a
// difference of two readings.
const CHECKPOINTS = 5;
const readings: { sessions: number; memory: NodeJS.MemoryUsage }[] = [
  { sessions: 0, memory: await settled() },
];
const started = performance.now();
for (let k = 1; k <= CHECKPOINTS; k++) {
  const target = Math.round((count * k) / CHECKPOINTS);
  const held = readings[readings.length - 1]!.sessions;
  await holdSessions(lib, hub, target - held, `held-${k}`);
  readings.push({ sessions: target, memory: await settled() });
}
const seconds = (performance.now() - started) / 1000;
const before = readings[0]!.memory;
const after = readings[readings.length - 1]!.memory;
const heapPlus = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;
// V8's heap pages that are committed but free after GC are slack any later allocation reuses: a
// baseline holding more of them than the end (garbage of the warm-up, freed) would make the
// sessions look smaller than their own heap growth, or negative. They are left out throughout.
const residentNet = (m: NodeJS.MemoryUsage) => m.rss - (m.heapTotal - m.heapUsed);

function slope(value: (m: NodeJS.MemoryUsage) => number): number {
  const n = readings.length;
  const meanX = readings.reduce((sum, r) => sum + r.sessions, 0) / n;
  const meanY = readings.reduce((sum, r) => sum + value(r.memory), 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const r of readings) {
    covariance += (r.sessions - meanX) * (value(r.memory) - meanY);
    variance += (r.sessions - meanX) ** 2;
  }
  return covariance / variance;
}

process.stdout.write(
  `${JSON.stringify({
    lib: lib.id,
    sessions: count,
    seconds,
    /** RSS growth per held session, after GC, without V8's free heap pages (slope over the checkpoints). */
    rssPerSession: slope(residentNet),
    /** RSS growth from the first reading to the last, free heap pages counted, ÷ N. */
    rawRssPerSession: (after.rss - before.rss) / count,
    /** V8 heap + external (ArrayBuffers, native wrappers that report their size), slope. */
    heapPerSession: slope(heapPlus),
    rssBefore: before.rss,
    rssAfter: after.rss,
    // Keeps the hub reachable until after the last measurement.
    hubAlive: hub.address.name === 'hub',
  })}\n`,
);
