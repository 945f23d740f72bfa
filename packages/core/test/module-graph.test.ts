/**
 * The module graph of `src/` has no cycles through value imports (type-only imports vanish at
 * run time): every concept depends in one direction. In the gateway this is what keeps the
 * durable record families (`gateway/durable/`) and the per-instance caches (`gateway/cache/`)
 * below the operations that use them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Relative value imports (`import { x } from './y.js'`; not `import type`). */
function valueImports(file: string, known: ReadonlySet<string>): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const match of text.matchAll(
    /^(?:import|export)\s+(type\s+)?[^;]*?from\s+'(\.{1,2}\/[^']+)\.js';/gms,
  )) {
    if (match[1]) continue;
    const target = normalize(join(dirname(file), `${match[2]}.ts`));
    if (known.has(target)) out.push(target);
  }
  return out;
}

function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1) found.push(component.map((file) => relative(SRC, file)).sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('module graph', () => {
  const files = sources(SRC);
  const known = new Set(files);
  const graph = new Map(files.map((file) => [file, valueImports(file, known)]));

  it('the scan sees the gateway and its imports (a scan that finds nothing proves nothing)', () => {
    const gateway = graph.get(join(SRC, 'gateway/gateway.ts')) ?? [];
    expect(gateway.length).toBeGreaterThan(10);
    expect(gateway).toContain(join(SRC, 'gateway/durable/access-log.ts'));
  });

  it('has no import cycles', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('durable records and per-instance caches never import the gateway operations', () => {
    const operations = [
      'inbound',
      'outbound',
      'due-work',
      'prekeys',
      'retention',
      'gateway',
      'business-handle',
    ];
    for (const [file, imports] of graph) {
      const where = relative(SRC, file);
      if (!where.startsWith('gateway/durable/') && !where.startsWith('gateway/cache/')) continue;
      for (const target of imports) {
        expect(
          operations.map((name) => join(SRC, `gateway/${name}.ts`)),
          `${where} imports ${relative(SRC, target)}`,
        ).not.toContain(target);
      }
    }
  });
});
