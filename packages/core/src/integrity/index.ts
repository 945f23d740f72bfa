/** Integrity: per-business sending-pattern counters, spam reports and the signals they yield. */

export type { WindowOptions } from './bucket-ring.js';
export { encodeIntegrityState, restoreIntegrityState } from './codec.js';
export {
  createIntegrity,
  type DeliveryVerifier,
  emptyIntegritySnapshot,
  IntegrityMonitor,
  type IntegrityMonitorOptions,
  type SendPermit,
  type SpamReportOutcome,
} from './monitor.js';
export type {
  IntegrityLevel,
  IntegrityReason,
  IntegrityRule,
  IntegritySignal,
  IntegritySignals,
  IntegritySnapshot,
} from './signal.js';
export {
  DEFAULT_INTEGRITY_CONFIG,
  type IntegrityConfig,
  type IntegrityConfigInput,
  type IntegrityThresholds,
  type LevelThresholds,
  resolveIntegrityConfig,
  type SketchOptions,
} from './thresholds.js';
