/**
 * Summarises a .cpuprofile written by `node --cpu-prof`: the functions with the most self
 * time, and the Parley functions with the most inclusive time (time with them on the stack).
 *
 *   node --conditions=parley-source --import tsx bench/profile-summary.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import { print, table } from './output.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

const [file, topText = '25'] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
const top = Number(topText);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

function where(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const short = url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/packages\//, '')
    .replace(/^.*\/node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '');
  return `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
}

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const node = byId.get(id)!;
  self.set(where(node), (self.get(where(node)) ?? 0) + dt);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const key = where(byId.get(at)!);
    if (!seen.has(key)) {
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  }
});

const pct = (us: number) => `${((100 * us) / total).toFixed(1)} %`;
const ranked = (map: Map<string, number>, filter: (key: string) => boolean = () => true) =>
  [...map]
    .filter(([key]) => filter(key))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);

print(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
print();
print('Self time');
for (const line of table(
  ['function', 'self'],
  ranked(self).map(([key, us]) => [key, pct(us)]),
))
  print(line);
print();
print('Inclusive time, Parley code (core/src)');
for (const line of table(
  ['function', 'inclusive'],
  ranked(inclusive, (key) => key.includes('core/src/')).map(([key, us]) => [key, pct(us)]),
)) {
  print(line);
}
