/**
 * A sliding window as a ring of equal time buckets, each with a few counters and optionally
 * HyperLogLog register arrays. Memory is `buckets × (counters × 8 + sketches × 2^p)` bytes
 * whatever the traffic; a bucket is zeroed when the ring wraps onto it, so a window of
 * duration D covers between D − D/buckets and D of history.
 */
import { hllAdd, hllEstimate, hllMergeInto } from './hyperloglog.js';
import type { Hash64 } from './sketch-key.js';

export interface WindowOptions {
  readonly durationMs: number;
  readonly buckets: number;
}

export class BucketRing {
  readonly window: WindowOptions;
  readonly counterCount: number;
  readonly sketchCount: number;
  readonly precision: number;
  readonly counters: Float64Array;
  readonly registers: Uint8Array;
  /** Index (time / bucket length) of the newest bucket written; -1 before the first event. */
  newest = -1;
  readonly #bucketMs: number;

  constructor(window: WindowOptions, counterCount: number, sketchCount = 0, precision = 8) {
    this.window = window;
    this.counterCount = counterCount;
    this.sketchCount = sketchCount;
    this.precision = precision;
    this.#bucketMs = Math.ceil(window.durationMs / window.buckets);
    this.counters = new Float64Array(window.buckets * counterCount);
    this.registers = new Uint8Array(window.buckets * sketchCount * (1 << precision));
  }

  advance(now: number): void {
    const bucket = Math.floor(now / this.#bucketMs);
    if (this.newest >= 0 && bucket > this.newest) {
      const stale = Math.min(bucket - this.newest, this.window.buckets);
      for (let step = 1; step <= stale; step++) this.#clear((this.newest + step) % this.window.buckets);
    }
    // A clock that steps back keeps writing into the newest bucket rather than an old one.
    if (bucket > this.newest) this.newest = bucket;
  }

  add(counter: number, amount = 1): void {
    this.counters[this.#slot() * this.counterCount + counter]! += amount;
  }

  addToSketch(sketch: number, hash: Hash64): void {
    const size = 1 << this.precision;
    const offset = (this.#slot() * this.sketchCount + sketch) * size;
    hllAdd(this.registers.subarray(offset, offset + size), this.precision, hash);
  }

  sum(counter: number): number {
    let total = 0;
    for (let b = 0; b < this.window.buckets; b++) total += this.counters[b * this.counterCount + counter]!;
    return total;
  }

  /** Distinct values added to one sketch across the whole window. */
  distinct(sketch: number): number {
    const size = 1 << this.precision;
    const union = new Uint8Array(size);
    for (let b = 0; b < this.window.buckets; b++) {
      const offset = (b * this.sketchCount + sketch) * size;
      hllMergeInto(union, this.registers.subarray(offset, offset + size));
    }
    return hllEstimate(union);
  }

  clearSketches(): void {
    this.registers.fill(0);
  }

  #slot(): number {
    return Math.max(this.newest, 0) % this.window.buckets;
  }

  #clear(slot: number): void {
    this.counters.fill(0, slot * this.counterCount, (slot + 1) * this.counterCount);
    const size = this.sketchCount * (1 << this.precision);
    this.registers.fill(0, slot * size, (slot + 1) * size);
  }
}
