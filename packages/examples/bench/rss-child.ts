/**
 * Memory per held session, for one library, in a process of its own (started by run.ts with
 * `node --expose-gc --conditions=parley-source --import tsx`), so no other library's heap or
 * native allocations are counted. Prints one JSON line on stdout; nothing else.
 *
 *   node --expose-gc --conditions=parley-source --import tsx bench/rss-child.ts <library> <sessions>
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
// Warm up code paths, lazily created singletons and the allocators' pools with a separate hub,
// then drop it: what stays is the steady state a long-running process would have.
{
  const warm = await lib.createParty({ name: 'warm', deviceId: 1 });
  await holdSessions(lib, warm, Math.max(5, Math.min(300, Math.floor(count / 20))), 'warm');
  await holdSessions(lib, hub, 1, 'first');
}
const half = Math.floor(count / 2);
const before = await settled();
const started = performance.now();
await holdSessions(lib, hub, half, 'held-a');
const middle = await settled();
await holdSessions(lib, hub, count - half, 'held-b');
const seconds = (performance.now() - started) / 1000;
const after = await settled();
const heapPlus = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;

process.stdout.write(
  `${JSON.stringify({
    lib: lib.id,
    sessions: count,
    seconds,
    /** The issue's measure: RSS growth over all held sessions, after GC. */
    rssPerSession: (after.rss - before.rss) / count,
    /** Growth over the second half only: less sensitive to one-time pools and high-water marks. */
    rssPerSessionSecondHalf: (after.rss - middle.rss) / (count - half),
    /** V8 heap + external (ArrayBuffers, native wrappers that report their size), after GC. */
    heapPerSession: (heapPlus(after) - heapPlus(before)) / count,
    rssBefore: before.rss,
    rssAfter: after.rss,
    // Keeps the hub reachable until after the last measurement.
    hubAlive: hub.address.name === 'hub',
  })}\n`,
);
