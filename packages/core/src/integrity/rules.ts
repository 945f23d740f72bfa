/** Turns an integrity snapshot into a level and reasons; pure, so rules are tested alone. */

import type { IntegrityLevel, IntegrityReason, IntegrityRule, IntegritySnapshot } from './signal.js';
import type { IntegrityThresholds, LevelThresholds } from './thresholds.js';

const RANK: Record<IntegrityLevel, number> = { ok: 0, warn: 1, throttle: 2, block: 3 };

export function worseLevel(a: IntegrityLevel, b: IntegrityLevel): IntegrityLevel {
  return RANK[a] >= RANK[b] ? a : b;
}

/** "1 h", "24 h", "5 min", "7 d": how a window reads in a reason. */
export function formatDuration(ms: number): string {
  const minutes = ms / 60_000;
  if (minutes < 60) return `${Math.round(minutes)} min`;
  const hours = minutes / 60;
  if (hours < 48 || hours % 24 !== 0) return `${Math.round(hours)} h`;
  return `${hours / 24} d`;
}

function percent(fraction: number): string {
  const value = fraction * 100;
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} %`;
}

function levelFor(
  value: number,
  levels: LevelThresholds,
): { level: Exclude<IntegrityLevel, 'ok'>; threshold: number } | undefined {
  for (const level of ['block', 'throttle', 'warn'] as const) {
    const threshold = levels[level];
    if (threshold !== undefined && value >= threshold) return { level, threshold };
  }
  return undefined;
}

export function evaluateRules(
  snapshot: IntegritySnapshot,
  thresholds: IntegrityThresholds,
): { level: IntegrityLevel; reasons: IntegrityReason[] } {
  const reasons: IntegrityReason[] = [];
  const push = (
    rule: IntegrityRule,
    observed: number,
    levels: LevelThresholds,
    message: (threshold: number) => string,
  ) => {
    const hit = levelFor(observed, levels);
    if (hit)
      reasons.push({
        rule,
        level: hit.level,
        observed,
        threshold: hit.threshold,
        message: message(hit.threshold),
      });
  };
  const activity = formatDuration(snapshot.activityWindowMs);
  const quality = formatDuration(snapshot.qualityWindowMs);

  if (snapshot.knownContacts >= thresholds.contactShare.minKnownContacts) {
    push(
      'contact-share',
      snapshot.contactShare,
      thresholds.contactShare,
      () => `messaged ${percent(snapshot.contactShare)} of known contacts within ${activity}`,
    );
  }
  push(
    'new-recipients',
    snapshot.newRecipients,
    thresholds.newRecipients,
    () => `messaged ${Math.round(snapshot.newRecipients)} new recipients within ${activity}`,
  );
  const attempts = snapshot.delivered + snapshot.failed;
  if (attempts >= thresholds.failureRate.minAttempts) {
    push(
      'delivery-failures',
      snapshot.failureRate,
      thresholds.failureRate,
      (threshold) =>
        `delivery failures above ${percent(threshold)} of ${attempts} attempts within ${quality}`,
    );
  }
  if (snapshot.spamReports >= thresholds.spamRate.minReports) {
    push(
      'spam-reports',
      snapshot.spamRate,
      thresholds.spamRate,
      (threshold) =>
        `spam reports above ${percent(threshold)} of deliveries within ${quality} (${snapshot.spamReports} reports)`,
    );
  }
  reasons.sort((a, b) => RANK[b.level] - RANK[a.level]);
  const level = reasons.reduce<IntegrityLevel>((worst, reason) => worseLevel(worst, reason.level), 'ok');
  return { level, reasons };
}
