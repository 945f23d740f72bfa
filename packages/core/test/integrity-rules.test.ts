import { describe, expect, it } from 'vitest';
import { encodeIntegrityState, restoreIntegrityState } from '../src/integrity/codec.js';
import { emptyIntegritySnapshot, IntegrityMonitor } from '../src/integrity/monitor.js';
import { evaluateRules, formatDuration } from '../src/integrity/rules.js';
import type { IntegritySnapshot } from '../src/integrity/signal.js';
import { DEFAULT_INTEGRITY_CONFIG, resolveIntegrityConfig } from '../src/integrity/thresholds.js';
import { pseudonym } from '../src/privacy/branded.js';

const quiet: IntegritySnapshot = emptyIntegritySnapshot(DEFAULT_INTEGRITY_CONFIG);
const thresholds = DEFAULT_INTEGRITY_CONFIG.thresholds;

describe('rules', () => {
  it('name the pattern in the reason', () => {
    const result = evaluateRules(
      { ...quiet, knownContacts: 400, unsolicitedRecipients: 340, contactShare: 0.85 },
      thresholds,
    );
    expect(result.level).toBe('block');
    expect(result.reasons).toEqual([
      {
        rule: 'contact-share',
        level: 'block',
        observed: 0.85,
        threshold: 0.8,
        message: 'messaged 85 % of known contacts within 1 h',
      },
    ]);
  });

  it('ignore small businesses and small samples', () => {
    expect(evaluateRules({ ...quiet, knownContacts: 49, contactShare: 1 }, thresholds).level).toBe('ok');
    expect(
      evaluateRules({ ...quiet, delivered: 20, failed: 29, failureRate: 29 / 49 }, thresholds).level,
    ).toBe('ok');
    expect(evaluateRules({ ...quiet, delivered: 4, spamReports: 4, spamRate: 1 }, thresholds).level).toBe(
      'ok',
    );
  });

  it('report every rule that fires, worst first', () => {
    const result = evaluateRules(
      { ...quiet, newRecipients: 300, delivered: 1_000, spamReports: 25, spamRate: 0.025, failed: 0 },
      thresholds,
    );
    expect(result.level).toBe('block');
    expect(result.reasons.map((r) => [r.rule, r.level])).toEqual([
      ['spam-reports', 'block'],
      ['new-recipients', 'warn'],
    ]);
  });

  it('failures never block by default', () => {
    expect(evaluateRules({ ...quiet, delivered: 0, failed: 500, failureRate: 1 }, thresholds).level).toBe(
      'throttle',
    );
  });

  it('format windows for people', () => {
    expect([5 * 60_000, 3_600_000, 86_400_000, 7 * 86_400_000, 90 * 60_000].map(formatDuration)).toEqual([
      '5 min',
      '1 h',
      '24 h',
      '7 d',
      '2 h',
    ]);
  });
});

describe('configuration', () => {
  it('merges overrides onto the defaults', () => {
    const config = resolveIntegrityConfig({ thresholds: { spamRate: { block: 0.05 } } });
    expect(config.thresholds.spamRate).toEqual({ warn: 0.005, throttle: 0.01, block: 0.05, minReports: 5 });
    expect(config.activityWindow).toEqual(DEFAULT_INTEGRITY_CONFIG.activityWindow);
  });

  it('refuses nonsense, naming the field', () => {
    const cases: [Parameters<typeof resolveIntegrityConfig>[0], string][] = [
      [{ activityWindow: { durationMs: 0, buckets: 12 } }, 'activityWindow.durationMs'],
      [{ qualityWindow: { durationMs: 1_000, buckets: 0 } }, 'qualityWindow.buckets'],
      [{ recipientLookback: { lookbackMs: 1_000, generations: 4, bits: 1_000 } }, 'recipientLookback.bits'],
      [{ hllPrecision: 20 }, 'hllPrecision'],
      [{ thresholds: { contactShare: { warn: 0.9, throttle: 0.5 } } }, 'thresholds.contactShare.throttle'],
      [{ thresholds: { spamRate: { block: 2 } } }, 'thresholds.spamRate.block'],
      [{ thresholds: { failureRate: { minAttempts: -1 } } }, 'thresholds.failureRate.minAttempts'],
      [{ thresholds: { throttleRatePerMinute: 0 } }, 'thresholds.throttleRatePerMinute'],
    ];
    for (const [input, field] of cases)
      expect(() => resolveIntegrityConfig(input)).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIGURATION', details: { field } }),
      );
  });

  it('a monitor without a delivery verifier is refused', () => {
    expect(
      () => new IntegrityMonitor({ clock: { now: () => 0 }, wasDeliveredTo: undefined as never }),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIGURATION' }));
  });
});

describe('serialization for the counters namespace', () => {
  const key = new Uint8Array(32).fill(9);
  function busy(sketchKey: Uint8Array, time: { now: number }) {
    const monitor = new IntegrityMonitor({
      clock: { now: () => time.now },
      wasDeliveredTo: () => true,
      sketchKey,
    });
    monitor.setKnownContacts('biz', 100);
    for (let i = 0; i < 60; i++) {
      monitor.recordSent({ businessId: 'biz', recipient: pseudonym(`p-${i}`) });
      monitor.recordDelivered({ businessId: 'biz' });
    }
    return monitor;
  }

  it('round-trips: the restored monitor gives the same signal and keeps counting', () => {
    const time = { now: Date.UTC(2025, 2, 3, 12) };
    const original = busy(key, time);
    const bytes = encodeIntegrityState(original, 'biz');
    const restored = new IntegrityMonitor({
      clock: { now: () => time.now },
      wasDeliveredTo: () => true,
      sketchKey: key,
    });
    expect(restoreIntegrityState(restored, 'biz', bytes)).toEqual({ sketchesKept: true });
    expect(restored.signal('biz')).toEqual(original.signal('biz'));
    expect(restored.signal('biz').level).toBe('throttle');
    // The same recipients again are not new after the restore.
    restored.recordSent({ businessId: 'biz', recipient: pseudonym('p-1') });
    expect(restored.signal('biz').snapshot.newRecipients).toBe(60);
    time.now += 2 * 3_600_000;
    expect(restored.signal('biz').level).toBe('ok');
  });

  it('under another key keeps the counts and drops the keyed sketches', () => {
    const time = { now: Date.UTC(2025, 2, 3, 12) };
    const bytes = encodeIntegrityState(busy(key, time), 'biz');
    const other = new IntegrityMonitor({
      clock: { now: () => time.now },
      wasDeliveredTo: () => true,
      sketchKey: new Uint8Array(32).fill(8),
    });
    expect(restoreIntegrityState(other, 'biz', bytes)).toEqual({ sketchesKept: false });
    const snapshot = other.signal('biz').snapshot;
    expect(snapshot.sent).toBe(60);
    expect(snapshot.delivered).toBe(60);
    expect(snapshot.distinctRecipients).toBe(0);
  });

  it('refuses bytes of another shape or configuration', () => {
    const time = { now: Date.UTC(2025, 2, 3, 12) };
    const bytes = encodeIntegrityState(busy(key, time), 'biz');
    const target = new IntegrityMonitor({
      clock: { now: () => time.now },
      wasDeliveredTo: () => true,
      sketchKey: key,
    });
    const corrupt = bytes.slice();
    corrupt[0] = 0;
    for (const bad of [bytes.subarray(1), corrupt])
      expect(() => restoreIntegrityState(target, 'biz', bad)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_RECORD' }),
      );
    const otherWindows = new IntegrityMonitor({
      clock: { now: () => time.now },
      wasDeliveredTo: () => true,
      sketchKey: key,
      config: { activityWindow: { durationMs: 7_200_000, buckets: 12 } },
    });
    expect(() => restoreIntegrityState(otherWindows, 'biz', bytes)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_RECORD' }),
    );
    // A refused restore leaves no half-written state behind.
    expect(target.stateBytes('biz')).toBe(0);
  });
});
