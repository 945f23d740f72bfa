/**
 * `pnpm fuzz`: fuzzing of every decoder and public entry point of `@parley/core`, seeded from
 * real messages and real stored records (see campaigns/README.md).
 *
 *   pnpm fuzz --quick                 CI slice (about 2 minutes on 2 cores)
 *   pnpm fuzz                         full run (more than 1 000 000 inputs)
 *   options: --seed=S (default "parley"; "random" picks one)  --only=gateway,session.decrypt
 *            --scale=0.5 (inputs × factor)  --replay=<target>:<index>  --list
 *
 * Exits non-zero on any violation (an untyped throw, a stored byte changed by a refused input,
 * an invalid input accepted, a failed round trip, a background error in a healthy world), on a
 * target where most inputs died at the first stage, and on a harness error.
 */
import { performance } from 'node:perf_hooks';
import { type Finding, runTarget, type TargetReport } from './fuzz/engine.js';
import { printFindings, printTarget, shallow } from './fuzz/report.js';
import type { FuzzTarget } from './fuzz/target.js';
import { gatewayApiTarget } from './fuzz/targets/gateway-api.js';
import { gatewayConstructionTarget } from './fuzz/targets/gateway-construction.js';
import { gatewayFramesTarget } from './fuzz/targets/gateway-frames.js';
import { gatewayRecordsTarget } from './fuzz/targets/gateway-records.js';
import { recordsTarget } from './fuzz/targets/records.js';
import { processBundleTarget, sessionApiTarget, sessionDecryptTarget } from './fuzz/targets/session.js';
import { sessionRecordsTarget } from './fuzz/targets/session-records.js';
import { preKeyMessageTarget, signalMessageTarget, wireEncodersTarget } from './fuzz/targets/wire.js';
import { freshSeed } from './rng.js';

// biome-ignore lint/suspicious/noExplicitAny: targets differ in their input type
const TARGETS: readonly FuzzTarget<any>[] = [
  signalMessageTarget,
  preKeyMessageTarget,
  wireEncodersTarget,
  recordsTarget,
  sessionDecryptTarget,
  processBundleTarget,
  sessionApiTarget,
  sessionRecordsTarget,
  gatewayFramesTarget,
  gatewayApiTarget,
  gatewayConstructionTarget,
  gatewayRecordsTarget,
];

const argv = process.argv.slice(2);
const option = (name: string) => argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = argv.includes('--quick');
const seedOption = option('seed') ?? 'parley';
const seed = seedOption === 'random' ? freshSeed() : seedOption;
const scale = Number(option('scale') ?? 1);
const only = option('only')?.split(',');
const replay = option('replay');

if (argv.includes('--list')) {
  for (const target of TARGETS)
    process.stdout.write(`${target.name}  quick ${target.inputs.quick}  full ${target.inputs.full}\n`);
  process.exit(0);
}

let selected = TARGETS.filter((t) => !only || only.some((prefix) => t.name.startsWith(prefix)));
let replayIndex: number | undefined;
if (replay) {
  const at = replay.lastIndexOf(':');
  const name = replay.slice(0, at);
  replayIndex = Number(replay.slice(at + 1));
  selected = TARGETS.filter((t) => t.name === name);
  if (selected.length === 0 || !Number.isSafeInteger(replayIndex)) {
    process.stderr.write(
      `--replay expects <target>:<index>; targets: ${TARGETS.map((t) => t.name).join(', ')}\n`,
    );
    process.exit(2);
  }
}

process.stdout.write(
  `pnpm fuzz ${quick ? '--quick ' : ''}— seed "${seed}" (replay with --seed=${seed}), ${selected.length} targets\n\n`,
);
const started = performance.now();
const reports: TargetReport[] = [];
for (const target of selected) {
  const inputs = Math.max(1, Math.round((quick ? target.inputs.quick : target.inputs.full) * scale));
  const report = await runTarget(target, {
    seed,
    inputs,
    replay: replayIndex,
    progressEvery: quick ? 0 : Math.max(10_000, Math.round(inputs / 10)),
    shrinkBudget: quick ? 150 : 400,
  });
  printTarget(report);
  reports.push(report);
}

const findings: Finding[] = reports.flatMap((r) => [...r.findings.values()]);
printFindings(findings, seed);

const total = reports.reduce((sum, r) => sum + r.inputs, 0);
const count = (kind: string) => reports.reduce((sum, r) => sum + (r.violations.get(kind) ?? 0), 0);
const shallowTargets = reports.filter(shallow).map((r) => r.name);
const harnessErrors = reports.filter((r) => r.harnessError).map((r) => r.name);
const seconds = (performance.now() - started) / 1000;
const firstByte = reports.reduce((sum, r) => sum + (r.depthCounts[0] ?? 0), 0);
process.stdout.write(
  [
    `Summary — seed "${seed}", ${total.toLocaleString('en')} inputs in ${seconds.toFixed(0)} s`,
    `  died at the first stage: ${((100 * firstByte) / Math.max(total, 1)).toFixed(1)}% of all inputs`,
    `  untyped throws: ${count('untyped-throw')}   stored records changed by a refused input: ${count('state-changed')}`,
    `  invalid input accepted: ${count('accepted-invalid')}   round-trip failures: ${count('round-trip')}   background errors: ${count('background-error')}`,
    `  distinct findings: ${findings.length}${shallowTargets.length ? `   shallow targets: ${shallowTargets.join(', ')}` : ''}${
      harnessErrors.length ? `   harness errors: ${harnessErrors.join(', ')}` : ''
    }`,
    '',
  ].join('\n'),
);
const failed = findings.length > 0 || shallowTargets.length > 0 || harnessErrors.length > 0;
process.stdout.write(failed ? 'FAILED\n' : 'PASSED\n');
process.exit(failed ? 1 : 0);
