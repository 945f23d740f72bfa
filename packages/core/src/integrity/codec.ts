/**
 * Integrity counters to and from bytes, for the store's `counters` namespace (suggested key
 * `integrity/<businessId>`, no expiry needed: the state ages out by itself once restored).
 *
 * Layout (big-endian): "PIC" 0x01 ‖ 8-byte config fingerprint ‖ 8-byte sketch-key fingerprint
 * ‖ f64 known-contacts override (NaN = none) ‖ per ring: f64 newest, f64 counters, u8
 * registers ‖ per bitmap: f64 newest, u32 words. Sizes follow from the configuration, which
 * must match. The key itself is never written; under another key the keyed sketches are
 * meaningless, so they are dropped and only the plain counts are kept.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, utf8 } from '../bytes.js';
import { ParleyError } from '../errors.js';
import type { BucketRing } from './bucket-ring.js';
import type { GenerationalBitmap } from './generational-bitmap.js';
import type { BusinessCounters, IntegrityMonitor } from './monitor.js';
import type { IntegrityConfig } from './thresholds.js';

const MAGIC = [0x50, 0x49, 0x43, 0x01] as const;
const HEADER_BYTES = 4 + 8 + 8 + 8;

function configFingerprint(config: IntegrityConfig): Uint8Array {
  const { thresholds: _thresholds, ...structure } = config;
  return sha256(utf8(JSON.stringify(structure))).slice(0, 8);
}

function parts(counters: BusinessCounters): { rings: BucketRing[]; bitmaps: GenerationalBitmap[] } {
  return {
    rings: [counters.activity, counters.quality, counters.contacts],
    bitmaps: [counters.messaged, counters.wroteIn, counters.reported],
  };
}

function encodedLength(counters: BusinessCounters): number {
  const { rings, bitmaps } = parts(counters);
  let length = HEADER_BYTES;
  for (const ring of rings) length += 8 + ring.counters.length * 8 + ring.registers.length;
  for (const bitmap of bitmaps) length += 8 + bitmap.words.length * 4;
  return length;
}

export function encodeIntegrityState(monitor: IntegrityMonitor, businessId: string): Uint8Array {
  const counters = monitor.countersFor(businessId);
  const out = new Uint8Array(encodedLength(counters));
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out.set(configFingerprint(monitor.config), 4);
  out.set(monitor.sketchKeyFingerprint, 12);
  view.setFloat64(20, counters.knownContactsOverride ?? Number.NaN);
  let offset = HEADER_BYTES;
  const { rings, bitmaps } = parts(counters);
  for (const ring of rings) {
    view.setFloat64(offset, ring.newest);
    offset += 8;
    for (const value of ring.counters) {
      view.setFloat64(offset, value);
      offset += 8;
    }
    out.set(ring.registers, offset);
    offset += ring.registers.length;
  }
  for (const bitmap of bitmaps) {
    view.setFloat64(offset, bitmap.newest);
    offset += 8;
    for (const word of bitmap.words) {
      view.setUint32(offset, word);
      offset += 4;
    }
  }
  return out;
}

function invalidRecord(message: string): ParleyError {
  return new ParleyError('ERR_INVALID_RECORD', `integrity state: ${message}`, { record: 'integrity' });
}

/** Replaces a business's counters with the encoded ones. Returns whether the sketches were kept. */
export function restoreIntegrityState(
  monitor: IntegrityMonitor,
  businessId: string,
  bytes: Uint8Array,
): { readonly sketchesKept: boolean } {
  monitor.forgetBusiness(businessId);
  const counters = monitor.countersFor(businessId);
  if (!(bytes instanceof Uint8Array) || bytes.length !== encodedLength(counters)) {
    monitor.forgetBusiness(businessId);
    throw invalidRecord('length does not match this configuration');
  }
  if (MAGIC.some((byte, i) => bytes[i] !== byte)) {
    monitor.forgetBusiness(businessId);
    throw invalidRecord('unknown format');
  }
  if (!bytesEqual(bytes.subarray(4, 12), configFingerprint(monitor.config))) {
    monitor.forgetBusiness(businessId);
    throw invalidRecord('written under another window configuration');
  }
  const sketchesKept = bytesEqual(bytes.subarray(12, 20), monitor.sketchKeyFingerprint);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const override = view.getFloat64(20);
  counters.knownContactsOverride = Number.isNaN(override) ? undefined : override;
  let offset = HEADER_BYTES;
  const { rings, bitmaps } = parts(counters);
  for (const ring of rings) {
    ring.newest = view.getFloat64(offset);
    offset += 8;
    for (let i = 0; i < ring.counters.length; i++) {
      ring.counters[i] = view.getFloat64(offset);
      offset += 8;
    }
    if (sketchesKept) ring.registers.set(bytes.subarray(offset, offset + ring.registers.length));
    offset += ring.registers.length;
  }
  for (const bitmap of bitmaps) {
    bitmap.newest = view.getFloat64(offset);
    offset += 8;
    if (sketchesKept) {
      for (let i = 0; i < bitmap.words.length; i++) bitmap.words[i] = view.getUint32(offset + i * 4);
    }
    offset += bitmap.words.length * 4;
    bitmap.restored();
  }
  return { sketchesKept };
}
