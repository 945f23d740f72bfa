import { assertInteger } from '../crypto/guards.js';
import { ParleyError } from '../errors.js';
import { MAX_FORWARD_JUMPS } from '../ratchet/limits.js';
import { unverifiedWorkCeiling, type WorkMeter } from '../ratchet/work-meter.js';
import type { Clock } from '../storage/contract.js';

/**
 * Budgets for the work forged messages can make us do before their MAC fails (see
 * `ratchet/work-meter.ts`). The transport attributes every frame to a sender device, so each
 * device has its own token bucket: it covers a genuine maximal gap and then some, and refills
 * over time. A bucket shared by every device bounds the total, so many attacking devices
 * together cannot take more than a fixed share of the CPU from the others. Work on a message
 * that then verifies is given back: only unverified work counts.
 *
 * Units are chain steps (`CHAIN_STEP_COST`, one HMAC, ~2 µs with node:crypto on an idle core).
 * One instance can be shared by several `SessionManager`s (a gateway's business numbers) so the
 * total holds across them.
 */
export interface UnverifiedWorkLimits {
  /**
   * Bucket size per sender device. Default: one maximal genuine gap — MAX_FORWARD_JUMPS steps
   * of the receiving chain and as many of the SPQR chain — plus 5 000 for a DH step and a
   * handshake (155 000, ~0.3 s of CPU). Within it, a message may use only what a genuine one of
   * its session can need (`WorkMeter.charge`'s ceiling: 30 000 without SPQR), so a forging
   * device gets one maximal walk of its kind of session, then waits for refill.
   */
  readonly perDevice?: number;
  /** Refill per second per device. Default 5 000 (~10 ms of CPU each second per forging device). */
  readonly perDeviceRefillPerSecond?: number;
  /** Bucket shared by all devices. Default two device buckets: one forger never starves a genuine gap. */
  readonly total?: number;
  /** Refill per second of the shared bucket. Default 50 000 (~0.1 s of CPU each second). */
  readonly totalRefillPerSecond?: number;
  /** Devices tracked; the least recently seen beyond this are forgotten (a full bucket). Default 10 000. */
  readonly maxDevices?: number;
}

const MAXIMAL_GAP = unverifiedWorkCeiling(MAX_FORWARD_JUMPS, true);

export const DEFAULT_UNVERIFIED_WORK_LIMITS: Required<UnverifiedWorkLimits> = {
  perDevice: MAXIMAL_GAP,
  perDeviceRefillPerSecond: 5_000,
  total: 2 * MAXIMAL_GAP,
  totalRefillPerSecond: 50_000,
  maxDevices: 10_000,
};

const MAX_SETTING = 1_000_000_000;

/** One bucket: `level` tokens at time `at`, refilled continuously up to `capacity`. */
class Bucket {
  level: number;
  at: number;

  constructor(
    readonly capacity: number,
    private readonly refillPerMs: number,
    now: number,
  ) {
    this.level = capacity;
    this.at = now;
  }

  refill(now: number): void {
    if (now > this.at) {
      this.level = Math.min(this.capacity, this.level + (now - this.at) * this.refillPerMs);
      this.at = now;
    }
  }

  /** Milliseconds until `units` are available (Infinity when they never fit). */
  waitFor(units: number): number {
    if (units > this.capacity) return Number.POSITIVE_INFINITY;
    return this.refillPerMs > 0
      ? Math.ceil((units - this.level) / this.refillPerMs)
      : Number.POSITIVE_INFINITY;
  }
}

/** The meter of one decrypt operation; `settle` after it, with whether the message verified. */
export interface UnverifiedWorkMeter extends WorkMeter {
  settle(verified: boolean): void;
  /** Units charged so far (for tests and diagnostics). */
  readonly charged: number;
}

export class UnverifiedWorkBudget {
  private readonly limits: Required<UnverifiedWorkLimits>;
  private readonly devices = new Map<string, Bucket>();
  private totalBucket: Bucket | undefined;

  constructor(
    private readonly clock: Clock,
    limits: UnverifiedWorkLimits = {},
  ) {
    this.limits = { ...DEFAULT_UNVERIFIED_WORK_LIMITS, ...limits };
    assertInteger(this.limits.perDevice, 'unverifiedWork.perDevice', 0, MAX_SETTING);
    assertInteger(
      this.limits.perDeviceRefillPerSecond,
      'unverifiedWork.perDeviceRefillPerSecond',
      0,
      MAX_SETTING,
    );
    assertInteger(this.limits.total, 'unverifiedWork.total', 0, MAX_SETTING);
    assertInteger(this.limits.totalRefillPerSecond, 'unverifiedWork.totalRefillPerSecond', 0, MAX_SETTING);
    assertInteger(this.limits.maxDevices, 'unverifiedWork.maxDevices', 1, MAX_SETTING);
  }

  /** A meter for one operation on messages from `device` (any stable key for the sender device). */
  meter(device: string): UnverifiedWorkMeter {
    let charged = 0;
    const budget = this;
    return {
      get charged() {
        return charged;
      },
      charge(units: number, ceiling?: number): void {
        if (units <= 0) return;
        budget.take(device, units, ceiling);
        charged += units;
      },
      settle(verified: boolean): void {
        if (verified && charged > 0) budget.giveBack(device, charged);
        charged = 0;
      },
    };
  }

  /** Units currently available to a device (after refill), for tests and diagnostics. */
  available(device: string): number {
    const now = this.clock.now();
    const bucket = this.deviceBucket(device, now);
    const total = this.total(now);
    return Math.min(bucket.level, total.level);
  }

  private take(device: string, units: number, ceiling = Number.POSITIVE_INFINITY): void {
    const now = this.clock.now();
    const bucket = this.deviceBucket(device, now);
    const total = this.total(now);
    // Below a ceiling c, the device may have at most c units outstanding: its level must stay
    // at or above capacity − c.
    const floor = Math.max(0, bucket.capacity - ceiling);
    if (bucket.level - floor < units || total.level < units) {
      const scope = bucket.level - floor < units ? 'device' : 'total';
      const wait = (scope === 'device' ? bucket : total).waitFor(units + floor);
      throw new ParleyError(
        'ERR_WORK_BUDGET_EXHAUSTED',
        scope === 'device'
          ? 'this device sent too many messages that failed verification after costly key derivation; try later'
          : 'too much key derivation for messages that failed verification across all devices; try later',
        { scope, units, retryAfterMs: Number.isFinite(wait) ? wait : undefined },
      );
    }
    bucket.level -= units;
    total.level -= units;
  }

  private giveBack(device: string, units: number): void {
    const now = this.clock.now();
    const bucket = this.deviceBucket(device, now);
    bucket.level = Math.min(bucket.capacity, bucket.level + units);
    const total = this.total(now);
    total.level = Math.min(total.capacity, total.level + units);
  }

  private deviceBucket(device: string, now: number): Bucket {
    let bucket = this.devices.get(device);
    if (bucket) {
      this.devices.delete(device);
    } else {
      bucket = new Bucket(this.limits.perDevice, this.limits.perDeviceRefillPerSecond / 1000, now);
    }
    this.devices.set(device, bucket);
    if (this.devices.size > this.limits.maxDevices) this.devices.delete(this.devices.keys().next().value!);
    bucket.refill(now);
    return bucket;
  }

  private total(now: number): Bucket {
    this.totalBucket ??= new Bucket(this.limits.total, this.limits.totalRefillPerSecond / 1000, now);
    this.totalBucket.refill(now);
    return this.totalBucket;
  }
}
