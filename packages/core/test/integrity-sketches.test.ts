import { describe, expect, it } from 'vitest';
import { BucketRing } from '../src/integrity/bucket-ring.js';
import { GenerationalBitmap } from '../src/integrity/generational-bitmap.js';
import { hllAdd, hllEstimate } from '../src/integrity/hyperloglog.js';
import { IntegrityMonitor } from '../src/integrity/monitor.js';
import { HashDomain, SketchKey } from '../src/integrity/sketch-key.js';
import { pseudonym } from '../src/privacy/branded.js';

const key = new SketchKey(new Uint8Array(32).fill(1));
const hashOf = (i: number) => key.hash(HashDomain.person, `person-${i}`);

describe('HyperLogLog registers', () => {
  it('are near exact for small sets and within 4σ (26 %) at p = 8 for large ones', () => {
    for (const n of [0, 1, 5, 12, 50, 200, 2_000, 50_000]) {
      const registers = new Uint8Array(256);
      for (let i = 0; i < n; i++) hllAdd(registers, 8, hashOf(i));
      // Adding the same values again changes nothing.
      for (let i = 0; i < Math.min(n, 100); i++) hllAdd(registers, 8, hashOf(i));
      const estimate = hllEstimate(registers);
      if (n <= 12) expect(Math.round(estimate)).toBe(n);
      else expect(Math.abs(estimate - n) / n).toBeLessThan(0.26);
    }
  });
});

describe('generational bitmap', () => {
  const options = { lookbackMs: 4_000, generations: 4, bits: 1 << 12, positions: 1 };

  it('remembers a value for at least the lookback and at most a slice longer', () => {
    const bitmap = new GenerationalBitmap(options);
    bitmap.advance(10_000);
    expect(bitmap.add(hashOf(1))).toBe(true);
    expect(bitmap.add(hashOf(1))).toBe(false);
    bitmap.advance(13_999);
    expect(bitmap.has(hashOf(1))).toBe(true);
    bitmap.advance(15_000);
    expect(bitmap.has(hashOf(1))).toBe(false);
    expect(bitmap.fill()).toBe(0);
  });

  it('refreshing a value keeps it for another lookback', () => {
    const bitmap = new GenerationalBitmap(options);
    bitmap.advance(0);
    bitmap.add(hashOf(1));
    bitmap.advance(3_500);
    bitmap.add(hashOf(1));
    bitmap.advance(7_000);
    expect(bitmap.has(hashOf(1))).toBe(true);
  });

  it('tracks its fill exactly across rotations', () => {
    const bitmap = new GenerationalBitmap(options);
    bitmap.advance(0);
    for (let i = 0; i < 1_000; i++) bitmap.add(hashOf(i));
    const before = bitmap.fill();
    bitmap.advance(1_000);
    // A rotation recounts from the words; the count must agree with the incremental one.
    expect(bitmap.fill()).toBe(before);
    const popcount = [...bitmap.words].reduce(
      (sum, word) => sum + word.toString(2).replaceAll('0', '').length,
      0,
    );
    expect(bitmap.fill()).toBe(popcount / options.bits);
  });
});

describe('bucket ring', () => {
  it('slides: events leave the window bucket by bucket', () => {
    const ring = new BucketRing({ durationMs: 60_000, buckets: 6 }, 1);
    for (let t = 0; t < 60_000; t += 10_000) {
      ring.advance(t);
      ring.add(0, 1);
    }
    expect(ring.sum(0)).toBe(6);
    ring.advance(60_000);
    expect(ring.sum(0)).toBe(5);
    ring.advance(115_000);
    expect(ring.sum(0)).toBe(0);
  });

  it('a clock stepping back writes into the newest bucket, not an expired one', () => {
    const ring = new BucketRing({ durationMs: 60_000, buckets: 6 }, 1);
    ring.advance(100_000);
    ring.advance(5_000);
    ring.add(0, 1);
    ring.advance(100_000);
    expect(ring.sum(0)).toBe(1);
  });
});

describe('memory per business', () => {
  function monitorWith(recipients: number) {
    let time = Date.UTC(2025, 0, 1);
    const monitor = new IntegrityMonitor({ clock: { now: () => time }, wasDeliveredTo: () => true });
    for (let i = 0; i < recipients; i++) {
      monitor.recordSent({ businessId: 'biz', recipient: pseudonym(`recipient-${i}`) });
      if (i % 100 === 0) time += 1_000;
    }
    return monitor;
  }

  it('is the same for 1 and for 100 000 distinct recipients', () => {
    const one = monitorWith(1).stateBytes('biz');
    const many = monitorWith(100_000).stateBytes('biz');
    console.log(
      `integrity state per business: ${one} bytes (1 recipient), ${many} bytes (100 000 recipients)`,
    );
    expect(many).toBe(one);
    expect(one).toBeLessThan(32 * 1024);
  });

  it('keeps the new-recipient count unbiased as a small bitmap fills (fill correction)', () => {
    let time = Date.UTC(2025, 0, 1);
    const monitor = new IntegrityMonitor({
      clock: { now: () => time },
      wasDeliveredTo: () => true,
      config: { recipientLookback: { lookbackMs: 7 * 86_400_000, generations: 4, bits: 1 << 10 } },
    });
    monitor.setKnownContacts('biz', 1_000_000);
    for (let i = 0; i < 2_000; i++)
      monitor.recordSent({ businessId: 'biz', recipient: pseudonym(`cold-${i}`) });
    time += 1;
    const { newRecipients } = monitor.signal('biz').snapshot;
    // Uncorrected, 2 000 values in 1 024 bits would read as ~880 new.
    expect(newRecipients).toBeGreaterThan(1_700);
    expect(newRecipients).toBeLessThan(2_300);
  });
});
