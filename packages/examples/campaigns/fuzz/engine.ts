import { performance } from 'node:perf_hooks';
import { Rng } from '../rng.js';
import type { Execution, FuzzTarget, Violation } from './target.js';

/** One distinct defect: its first occurrence (minimized) and how often it was hit. */
export interface Finding {
  readonly target: string;
  readonly violation: Violation;
  count: number;
  readonly firstIndex: number;
  reproducer: string;
  /** Inputs tried while minimizing, and whether the minimized input still shows the defect. */
  shrinkSteps: number;
  /** False when a fresh world did not show it again (the defect depends on earlier inputs). */
  reproducible: boolean;
}

export interface TargetReport {
  readonly name: string;
  readonly depths: readonly string[];
  inputs: number;
  readonly outcomes: Map<string, number>;
  /** inputs per depth index reached */
  readonly depthCounts: number[];
  readonly backgroundCodes: Map<string, number>;
  readonly violations: Map<string, number>;
  readonly findings: Map<string, Finding>;
  seconds: number;
  /** Infrastructure failure (a bug in the harness, not in Parley): the run does not count. */
  harnessError?: string;
}

export interface RunOptions {
  readonly seed: string;
  readonly inputs: number;
  /** Progress line every this many inputs (0: none). */
  readonly progressEvery: number;
  /** Run only this input index (replay of a reproducer). */
  readonly replay?: number | undefined;
  readonly shrinkBudget: number;
}

/** Input i of a target comes from this stream alone: replays need only (seed, target, i). */
export function inputRng(seed: string, target: string, index: number): Rng {
  return new Rng(`${seed}/${target}/${index}`);
}

export async function runTarget<I>(target: FuzzTarget<I>, options: RunOptions): Promise<TargetReport> {
  const report: TargetReport = {
    name: target.name,
    depths: target.depths,
    inputs: 0,
    outcomes: new Map(),
    depthCounts: target.depths.map(() => 0),
    backgroundCodes: new Map(),
    violations: new Map(),
    findings: new Map(),
    seconds: 0,
  };
  const started = performance.now();
  const harness = await target.setup(options.seed);
  try {
    const first = options.replay ?? 0;
    const end = options.replay === undefined ? options.inputs : options.replay + 1;
    for (let index = first; index < end; index++) {
      const input = harness.generate(inputRng(options.seed, target.name, index), index);
      let execution: Execution;
      try {
        execution = await harness.execute(input, index);
      } catch (error) {
        report.harnessError = `input ${index}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
        break;
      }
      report.inputs += 1;
      bump(report.outcomes, execution.outcome);
      report.depthCounts[Math.min(execution.depth, target.depths.length - 1)]! += 1;
      for (const code of execution.backgroundCodes ?? []) bump(report.backgroundCodes, code);
      const violation = execution.violation;
      if (violation) {
        bump(report.violations, violation.kind);
        const known = report.findings.get(violation.signature);
        if (known) known.count += 1;
        else {
          const finding: Finding = {
            target: target.name,
            violation,
            count: 1,
            firstIndex: index,
            reproducer: harness.describe(input),
            shrinkSteps: 0,
            reproducible: true,
          };
          report.findings.set(violation.signature, finding);
          await minimize(harness, input, index, finding, options.shrinkBudget);
        }
      }
      if (options.progressEvery > 0 && (index + 1) % options.progressEvery === 0) {
        const rate = report.inputs / ((performance.now() - started) / 1000);
        process.stdout.write(
          `  … ${target.name}: ${index + 1}/${end} inputs, ${rate.toFixed(0)}/s, ${report.findings.size} findings\n`,
        );
      }
    }
  } finally {
    await harness.close?.();
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/**
 * Greedy minimization: take the first smaller input that still shows the same defect, and
 * start over from it, within a budget of executions. The first execution replays the
 * original input, which also tells whether the defect shows again from the base state.
 */
async function minimize<I>(
  harness: Awaited<ReturnType<FuzzTarget<I>['setup']>>,
  input: I,
  index: number,
  finding: Finding,
  budget: number,
): Promise<void> {
  const signature = finding.violation.signature;
  const again = await harness.execute(input, index).catch(() => undefined);
  finding.reproducible = again?.violation?.signature === signature;
  if (!finding.reproducible || !harness.shrink) return;
  let current = input;
  let steps = 0;
  let improved = true;
  while (improved && steps < budget) {
    improved = false;
    for (const candidate of harness.shrink(current)) {
      if (steps >= budget) break;
      steps += 1;
      const result = await harness.execute(candidate, index).catch(() => undefined);
      if (result?.violation?.signature === signature) {
        current = candidate;
        improved = true;
        break;
      }
    }
  }
  finding.shrinkSteps = steps;
  finding.reproducer = harness.describe(current);
}

export function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** Byte inputs get smaller by dropping halves, quarters, … down to single bytes. */
export function* shrinkBytes(bytes: Uint8Array, keepPrefix = 0): Iterable<Uint8Array> {
  for (let size = Math.max(1, bytes.length >> 1); size >= 1; size >>= 1) {
    for (let at = keepPrefix; at + size <= bytes.length; at += size) {
      const out = new Uint8Array(bytes.length - size);
      out.set(bytes.subarray(0, at));
      out.set(bytes.subarray(at + size), at);
      yield out;
    }
  }
}

export function hex(bytes: Uint8Array, max = 2048): string {
  const text = Buffer.from(bytes.subarray(0, max)).toString('hex');
  return bytes.length > max ? `${text}… (${bytes.length} bytes)` : text;
}
