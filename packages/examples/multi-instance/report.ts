/**
 * The figures of a multi-instance run beside the one-instance run of the same traffic, as text
 * (counts, codes and instance numbers only: no content, no phone numbers), and the comparison
 * of statistics, billing and integrity the test asserts.
 */
import type { InstanceFigures } from './protocol.js';
import type { ScenarioResult } from './scenario.js';

export interface Comparison {
  readonly field: string;
  readonly one: number | string;
  readonly many: number | string;
  /** `exact` for counts; `sketch` for estimates compared within the sketch's error. */
  readonly kind: 'exact' | 'sketch';
  readonly equal: boolean;
}

/**
 * The two runs hash under two different sketch keys, so their estimates are two independent
 * draws. HyperLogLog at the default precision (m = 256 registers) uses linear counting below
 * 2.5·m, whose standard error is √(m·(e^t − t − 1)) at t = n/m (Whang et al. 1990: ~11 at
 * n = 200, 5.5 %), and 1.04·n/√m above. The difference of two draws has √2 times that error;
 * allowed: three of those (a correct run fails about once in 370), at least 2.
 */
export function sketchTolerance(value: number, registers = 256): number {
  const t = value / registers;
  const error =
    value <= 2.5 * registers
      ? Math.sqrt(registers * (Math.exp(t) - t - 1))
      : (1.04 * value) / Math.sqrt(registers);
  return Math.max(2, Math.ceil(3 * Math.SQRT2 * error));
}

export function compareExports(one: InstanceFigures, many: InstanceFigures): Comparison[] {
  const rows: Comparison[] = [];
  const exact = (field: string, a: number | string, b: number | string) =>
    rows.push({ field, one: a, many: b, kind: 'exact', equal: a === b });
  const sketch = (field: string, a: number, b: number) =>
    rows.push({
      field,
      one: a,
      many: b,
      kind: 'sketch',
      equal: Math.abs(a - b) <= sketchTolerance(Math.max(a, b)),
    });
  for (const [field, value] of Object.entries(one.statistics)) {
    exact(`statistics.${field}`, value, many.statistics[field as keyof typeof one.statistics]);
  }
  for (const [field, value] of Object.entries(one.billing)) {
    exact(`billing.${field}`, value, many.billing[field as keyof typeof one.billing]);
  }
  exact('integrity.level', one.integrity.level, many.integrity.level);
  exact('integrity.rules', one.integrity.rules.join(',') || '—', many.integrity.rules.join(',') || '—');
  exact('integrity.sent', one.integrity.sent, many.integrity.sent);
  exact('integrity.delivered', one.integrity.delivered, many.integrity.delivered);
  exact('integrity.failed', one.integrity.failed, many.integrity.failed);
  sketch('integrity.distinctRecipients', one.integrity.distinctRecipients, many.integrity.distinctRecipients);
  sketch(
    'integrity.unsolicitedRecipients',
    one.integrity.unsolicitedRecipients,
    many.integrity.unsolicitedRecipients,
  );
  sketch('integrity.newRecipients', one.integrity.newRecipients, many.integrity.newRecipients);
  sketch('integrity.knownContacts', one.integrity.knownContacts, many.integrity.knownContacts);
  return rows;
}

export function reportLines(one: ScenarioResult, many: ScenarioResult): string[] {
  const lines: string[] = [];
  const f = many.figures;
  const b = one.figures;
  const row = (label: string, a: number | string, c: number | string) =>
    lines.push(`  ${label.padEnd(58)} ${String(a).padStart(9)} ${String(c).padStart(9)}`);
  lines.push(`  ${'figure'.padEnd(58)} ${'1 inst.'.padStart(9)} ${'3 inst.'.padStart(9)}`);
  lines.push('  inbound (devices → business)');
  row('messages planned', b.inbound.planned, f.inbound.planned);
  row('handler got it once', b.inbound.handledOnce, f.inbound.handledOnce);
  row(
    'handler got it again, same id (allowed, counted)',
    b.inbound.handledAgainSameId,
    f.inbound.handledAgainSameId,
  );
  row('handler got it under two ids (doubled)', b.inbound.handledUnderTwoIds, f.inbound.handledUnderTwoIds);
  row('handler never got it', b.inbound.never, f.inbound.never);
  row('frames re-routed (instance gone or failed)', b.inbound.frameReroutes, f.inbound.frameReroutes);
  row('gateway outcomes: accepted', b.inbound.gatewayOutcomes.accepted, f.inbound.gatewayOutcomes.accepted);
  row(
    'gateway outcomes: duplicate',
    b.inbound.gatewayOutcomes.duplicate,
    f.inbound.gatewayOutcomes.duplicate,
  );
  lines.push('  outbound (business → devices)');
  row('messages planned (replies + first messages)', b.outbound.planned, f.outbound.planned);
  row('accepted by the gateway', b.outbound.accepted, f.outbound.accepted);
  row('lost (accepted, a device never got it)', b.outbound.lost, f.outbound.lost);
  row('never accepted (planned, no id)', b.outbound.neverSent, f.outbound.neverSent);
  row('status failed', b.outbound.failedStatus, f.outbound.failedStatus);
  row('doubled: one message under two ids', b.outbound.doubledIds, f.outbound.doubledIds);
  row('doubled: one id shown twice on a device', b.outbound.doubledShownTwice, f.outbound.doubledShownTwice);
  row('doubled: (id, device) got two ciphertexts', b.outbound.twoCiphertexts, f.outbound.twoCiphertexts);
  for (const seen of f.outbound.twoCiphertextsSeen) lines.push(`    two ciphertexts: ${seen}`);
  row('same bytes sent again (allowed, counted)', b.outbound.sameBytesFrames, f.outbound.sameBytesFrames);
  row(
    'sends of unknown outcome / sent again',
    `${b.outbound.ambiguousSends}/${b.outbound.resentAfterAmbiguity}`,
    `${f.outbound.ambiguousSends}/${f.outbound.resentAfterAmbiguity}`,
  );
  row('receipts re-routed', b.outbound.receiptReroutes, f.outbound.receiptReroutes);
  const entries = (record: Readonly<Record<string, number>>) =>
    Object.entries(record)
      .map(([key, count]) => `${key} ${count}`)
      .join(', ') || '—';
  lines.push(
    `    lost, by the status events they got: one ${entries(b.outbound.lostByStatus)}; three ${entries(f.outbound.lostByStatus)}`,
  );
  lines.push(
    `    send calls failed with: one ${entries(b.outbound.sendFailures)}; three ${entries(f.outbound.sendFailures)}`,
  );
  lines.push('  sessions');
  row(
    'devices desynchronised (could not decrypt)',
    b.sessions.devicesDesynchronised,
    f.sessions.devicesDesynchronised,
  );
  row('device decrypt failures', b.sessions.deviceDecryptFailures, f.sessions.deviceDecryptFailures);
  row(
    'frames the gateway could not decrypt',
    b.sessions.gatewayUndecryptableFrames,
    f.sessions.gatewayUndecryptableFrames,
  );
  row('retry requests sent by the gateway', b.sessions.retryRequests, f.sessions.retryRequests);
  lines.push('  prekeys (directory)');
  row('uploads', one.publishing.uploads, many.publishing.uploads);
  row('one-time EC prekeys published', one.publishing.oneTimePreKeys, many.publishing.oneTimePreKeys);
  row(
    'one-time Kyber prekeys published',
    one.publishing.oneTimeKyberPreKeys,
    many.publishing.oneTimeKyberPreKeys,
  );
  row('prekey ids published twice', one.publishing.repeatedIds, many.publishing.repeatedIds);
  row('one-time prekeys served to two devices', one.publishing.servedTwice, many.publishing.servedTwice);
  row('highest integrity level an instance applied', one.highestLevel, many.highestLevel);
  lines.push(`  statistics, billing, integrity (read from instance ${many.readFrom} after the run)`);
  for (const c of compareExports(one.platform, many.platform)) {
    lines.push(
      `  ${c.field.padEnd(58)} ${String(c.one).padStart(9)} ${String(c.many).padStart(9)}  ${c.equal ? 'equal' : c.kind === 'sketch' ? 'OUTSIDE sketch error' : 'DIFFERENT'}`,
    );
  }
  lines.push('  faults');
  for (const kill of f.kills) {
    lines.push(
      `  SIGKILL instance ${kill.instance} at ${kill.atHandled} handled: ${kill.kind}${kill.kind === 'claim-commit' ? (kill.inClaimCommit ? ' (died inside the claimed-work commit)' : ' (NOT inside the commit)') : ''}, exit ${kill.exitSignal}`,
    );
  }
  for (const t of f.terminations) {
    lines.push(
      `  pg_terminate_backend on instance ${t.instance}'s held commit: ${t.terminated} backend(s) "${t.applicationName}", commit returned ${t.outcome}`,
    );
  }
  for (const missed of many.missedFaults) lines.push(`  missed fault: ${missed}`);
  lines.push(
    `  runs: one instance ${one.seconds.toFixed(1)} s, ${many.processesStarted} processes for three instances ${many.seconds.toFixed(1)} s; drained ${one.drained}/${many.drained}`,
  );
  for (const h of many.health) {
    lines.push(
      `  instance ${h.instance} at the end: ${h.backgroundErrors} background errors, ${h.plaintext} plaintext buffers held`,
    );
  }
  return lines;
}
