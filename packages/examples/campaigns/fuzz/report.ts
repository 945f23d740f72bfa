import type { Finding, TargetReport } from './engine.js';

/** A target where more than this share of inputs died at the first byte does not count. */
export const SHALLOW_LIMIT = 0.5;

const percent = (part: number, whole: number) =>
  whole === 0 ? '0.0%' : `${((100 * part) / whole).toFixed(1)}%`;

export function printTarget(report: TargetReport): void {
  const rate = report.inputs / Math.max(report.seconds, 1e-9);
  const lines = [
    `${report.name}: ${report.inputs.toLocaleString('en')} inputs in ${report.seconds.toFixed(1)} s (${rate.toFixed(0)}/s)`,
  ];
  const stopped = report.depths.map(
    (name, i) => `${name} ${percent(report.depthCounts[i] ?? 0, report.inputs)}`,
  );
  const past = report.inputs - (report.depthCounts[0] ?? 0);
  const deepest = report.depthCounts[report.depths.length - 1] ?? 0;
  lines.push(`  stopped at: ${stopped.join(' | ')}`);
  lines.push(
    `  depth: ${percent(past, report.inputs)} got past "${report.depths[0]}", ${percent(deepest, report.inputs)} reached "${report.depths.at(-1)}"`,
  );
  const outcomes = [...report.outcomes].sort((a, b) => b[1] - a[1]);
  lines.push(`  outcomes: ${outcomes.map(([code, n]) => `${code} ${n}`).join(', ')}`);
  if (report.backgroundCodes.size > 0)
    lines.push(
      `  background errors (onError): ${[...report.backgroundCodes].map(([c, n]) => `${c} ${n}`).join(', ')}`,
    );
  if (report.violations.size > 0)
    lines.push(`  VIOLATIONS: ${[...report.violations].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (shallow(report))
    lines.push(`  SHALLOW: ${percent(report.depthCounts[0] ?? 0, report.inputs)} died at the first stage`);
  if (report.harnessError) lines.push(`  HARNESS ERROR (the run does not count): ${report.harnessError}`);
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

export function shallow(report: TargetReport): boolean {
  return report.inputs > 0 && (report.depthCounts[0] ?? 0) / report.inputs > SHALLOW_LIMIT;
}

export function printFindings(findings: readonly Finding[], seed: string): void {
  if (findings.length === 0) return;
  process.stdout.write(`Findings (${findings.length} distinct):\n\n`);
  findings.forEach((finding, i) => {
    process.stdout.write(
      `${[
        `#${i + 1} [${finding.violation.kind}] ${finding.target} — ${finding.count} input(s), first at index ${finding.firstIndex}`,
        `   ${finding.violation.detail}`,
        `   signature: ${finding.violation.signature}`,
        `   reproducer${finding.shrinkSteps > 0 ? ` (minimized in ${finding.shrinkSteps} tries)` : ''}${
          finding.reproducible ? '' : ' (NOT reproduced from the base state: depends on earlier inputs)'
        }: ${finding.reproducer}`,
        `   replay: pnpm fuzz --seed=${seed} --replay=${finding.target}:${finding.firstIndex}`,
        '',
      ].join('\n')}\n`,
    );
  });
}
