import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_KEYS } from '../src/ratchet/limits.js';
import { SKIPPED_ENTRY_SIZE, SkippedKeys } from '../src/ratchet/skipped-keys.js';

const seedOf = (index: number) => Uint8Array.from({ length: 32 }, (_, i) => (index * 31 + i) & 0xff);

const steps = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('walk' as const), gap: fc.nat(5), count: fc.nat(40) }),
    fc.record({ kind: fc.constant('late' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('trim' as const), limit: fc.nat(60) }),
  ),
  { maxLength: 60 },
);

// A model of what the ratchet needs: keys added by forward walks, removed by late messages
// (any of them, or one never held), the oldest dropped beyond a limit.
describe('skipped keys', () => {
  it('behaves as an ordered map of the keys walks add, and survives encode/decode at every step', () => {
    fc.assert(
      fc.property(steps, (script) => {
        const keys = SkippedKeys.empty();
        const model = new Map<number, Uint8Array>();
        let next = 0;
        for (const step of script) {
          if (step.kind === 'walk') {
            next += step.gap;
            const entries: [number, Uint8Array][] = [];
            for (let i = 0; i < step.count; i++, next++) entries.push([next, seedOf(next)]);
            keys.append(entries);
            for (const [i, s] of entries) model.set(i, s);
          } else if (step.kind === 'late') {
            const held = [...model.keys()];
            const index = held.length > 0 && step.pick % 3 !== 0 ? held[step.pick % held.length]! : next + 7;
            expect(keys.get(index)).toEqual(model.get(index));
            expect(keys.delete(index)).toBe(model.delete(index));
            expect(keys.has(index)).toBe(false);
          } else {
            keys.trimTo(step.limit);
            const sorted = [...model.keys()].sort((a, b) => a - b);
            for (const i of sorted.slice(0, Math.max(0, sorted.length - step.limit))) model.delete(i);
          }
          expect(keys.size).toBe(model.size);
          expect([...keys.keys()]).toEqual([...model.keys()].sort((a, b) => a - b));
          const copy = SkippedKeys.decode(keys.encoded().slice(), keys.size);
          if (typeof copy === 'string') throw new Error(copy);
          for (const [i, s] of model) expect(copy.get(i)).toEqual(s);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('hands out copies: a seed taken before a removal is not changed by it', () => {
    const keys = SkippedKeys.empty();
    keys.append([
      [1, seedOf(1)],
      [2, seedOf(2)],
      [3, seedOf(3)],
    ]);
    const seed = keys.get(2)!;
    keys.delete(1);
    keys.delete(2);
    expect(seed).toEqual(seedOf(2));
    expect(keys.get(3)).toEqual(seedOf(3));
  });

  it('refuses stored sections out of order, repeated or of the wrong length', () => {
    const keys = SkippedKeys.empty();
    keys.append([
      [5, seedOf(5)],
      [9, seedOf(9)],
    ]);
    const good = keys.encoded().slice();
    const swapped = new Uint8Array(good.length);
    swapped.set(good.subarray(SKIPPED_ENTRY_SIZE), 0);
    swapped.set(good.subarray(0, SKIPPED_ENTRY_SIZE), SKIPPED_ENTRY_SIZE);
    expect(typeof SkippedKeys.decode(swapped, 2)).toBe('string');
    const repeated = good.slice();
    repeated.set(good.subarray(0, 4), SKIPPED_ENTRY_SIZE);
    expect(typeof SkippedKeys.decode(repeated, 2)).toBe('string');
    expect(typeof SkippedKeys.decode(good, 3)).toBe('string');
    expect(SkippedKeys.decode(good, 2)).toBeInstanceOf(SkippedKeys);
  });

  it('refuses an append that would break the order', () => {
    const keys = SkippedKeys.empty();
    keys.append([[10, seedOf(10)]]);
    expect(() => keys.append([[10, seedOf(10)]])).toThrow();
    expect(() => keys.append([[4, seedOf(4)]])).toThrow();
    expect(keys.size).toBe(1);
  });

  it('holds MAX_MESSAGE_KEYS in one compact buffer', () => {
    const keys = SkippedKeys.empty();
    keys.append(Array.from({ length: MAX_MESSAGE_KEYS + 10 }, (_, i) => [i, seedOf(i)] as const));
    keys.trimTo(MAX_MESSAGE_KEYS);
    expect(keys.size).toBe(MAX_MESSAGE_KEYS);
    expect(keys.get(9)).toBeUndefined();
    expect(keys.get(10)).toEqual(seedOf(10));
    expect(keys.encoded().length).toBe(MAX_MESSAGE_KEYS * SKIPPED_ENTRY_SIZE);
  });

  it('clones are independent, dropBelow drops exactly the smaller indices, equality sees the keys', () => {
    const keys = SkippedKeys.empty();
    keys.append([3, 5, 8, 13, 21].map((i) => [i, seedOf(i)] as const));
    const copy = keys.clone();
    copy.delete(8);
    copy.dropBelow(6);
    expect([...copy.keys()]).toEqual([13, 21]);
    expect([...keys.keys()]).toEqual([3, 5, 8, 13, 21]);
    keys.dropBelow(5);
    expect([...keys.keys()]).toEqual([5, 8, 13, 21]);
    keys.dropBelow(100);
    expect(keys.size).toBe(0);
    // States holding these are compared with toEqual in tests: contents must count.
    const a = SkippedKeys.empty();
    const b = SkippedKeys.empty();
    a.append([[1, seedOf(1)]]);
    b.append([[1, seedOf(2)]]);
    expect(a).not.toEqual(b);
    expect(a).toEqual(a.clone());
    expect([...a]).toEqual([[1, seedOf(1)]]);
  });

  it('clones share their bytes until one changes: any sequence of changes on any clone leaves the others as they were', () => {
    const cloneSteps = fc.array(
      fc.record({
        on: fc.nat(),
        kind: fc.constantFrom('walk', 'newest', 'late', 'trim', 'clone'),
        n: fc.nat(30),
      }),
      { maxLength: 80 },
    );
    fc.assert(
      fc.property(cloneSteps, (script) => {
        // Each holder with the model of what it must hold; walks continue past the highest key.
        const holders: { keys: SkippedKeys; model: Map<number, Uint8Array> }[] = [
          { keys: SkippedKeys.empty(), model: new Map() },
        ];
        let next = 0;
        for (const step of script) {
          const holder = holders[step.on % holders.length]!;
          const held = [...holder.model.keys()];
          if (step.kind === 'walk') {
            const entries: [number, Uint8Array][] = [];
            const from = Math.max(next, ...held.map((i) => i + 1));
            for (let i = 0; i < step.n; i++) entries.push([from + i, seedOf(from + i)]);
            next = from + step.n;
            holder.keys.append(entries);
            for (const [i, seed] of entries) holder.model.set(i, seed);
          } else if (step.kind === 'newest' || step.kind === 'late') {
            // Late messages newest first (the shared bytes are only cut off), or any of them.
            const index =
              step.kind === 'newest' ? Math.max(-1, ...held) : held[step.n % Math.max(1, held.length)];
            if (index === undefined || index < 0) continue;
            expect(holder.keys.get(index)).toEqual(holder.model.get(index));
            expect(holder.keys.delete(index)).toBe(holder.model.delete(index));
          } else if (step.kind === 'trim') {
            holder.keys.trimTo(step.n);
            const kept = [...holder.model.keys()].sort((a, b) => a - b).slice(-step.n);
            for (const index of [...holder.model.keys()])
              if (!kept.includes(index)) holder.model.delete(index);
            if (step.n === 0) holder.model.clear();
          } else {
            holders.push({ keys: holder.keys.clone(), model: new Map(holder.model) });
          }
          for (const { keys, model } of holders) {
            const expected = [...model.entries()].sort((a, b) => a[0] - b[0]);
            expect([...keys]).toEqual(expected);
            const decoded = SkippedKeys.decode(keys.encoded().slice(), keys.size);
            expect(decoded instanceof SkippedKeys && [...decoded]).toEqual(expected);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
