/**
 * Memory per held session, for one library, in a process of its own (started by run.ts), so no
 * other library's heap or native allocations are counted: the RSS growth of the process while
 * it comes to hold N established sessions, both read after full garbage collections. The young
 * generation is pinned small (--max-semi-space-size=1) so that its size, which V8 grows and
 * shrinks on its own, is not counted as sessions. Prints one JSON line on stdout; nothing else.
 *
 *   node --expose-gc --max-semi-space-size=1 --conditions=parley-source --import tsx \
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
const before = await settled();
const started = performance.now();
await holdSessions(lib, hub, count, 'held');
const seconds = (performance.now() - started) / 1000;
const after = await settled();
const heapPlus = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;

process.stdout.write(
  `${JSON.stringify({
    lib: lib.id,
    sessions: count,
    seconds,
    /** RSS growth over the held sessions, after GC, per session. */
    rssPerSession: (after.rss - before.rss) / count,
    /** V8 heap + external (ArrayBuffers, native wrappers that report their size), after GC. */
    heapPerSession: (heapPlus(after) - heapPlus(before)) / count,
    rssBefore: before.rss,
    rssAfter: after.rss,
    // Keeps the hub reachable until after the last measurement.
    hubAlive: hub.address.name === 'hub',
  })}\n`,
);
