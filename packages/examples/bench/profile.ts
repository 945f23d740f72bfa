/**
 * Runs one Parley workload in a loop for a CPU profile (only Parley is loaded):
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/parley-prof --conditions=parley-source --import tsx \
 *     bench/profile.ts <stream|ping-pong|sessions> [seconds] [parley-node|parley-portable]
 *   node --conditions=parley-source --import tsx bench/profile-summary.ts /tmp/parley-prof/<file>.cpuprofile
 */
import { performance } from 'node:perf_hooks';
import { libById } from './libs.js';
import { print, silenceConsole } from './output.js';
import { pingPongsPerSecond, sessionsPerSecond, streamRates } from './workloads.js';

silenceConsole();
const [workload = 'stream', secondsText = '10', libId = 'parley-node'] = process.argv.slice(2);
const lib = libById(libId);
const deadline = performance.now() + Number(secondsText) * 1000;
const rates: number[] = [];
while (performance.now() < deadline) {
  if (workload === 'stream') {
    const r = await streamRates(lib, 2000, 0);
    rates.push(r.encrypt, r.decrypt);
  } else if (workload === 'ping-pong') {
    rates.push(await pingPongsPerSecond(lib, 300));
  } else if (workload === 'sessions') {
    rates.push(await sessionsPerSecond(lib, 100));
  } else {
    throw new Error('workload: stream | ping-pong | sessions');
  }
}
print(
  `${lib.id} ${workload}: ${rates.length} batches, last rates ${rates
    .slice(-4)
    .map((r) => r.toFixed(0))
    .join(' ')}/s`,
);
