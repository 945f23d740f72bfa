import { ParleyError } from '../errors.js';
import type { SpamReportOutcome } from '../integrity/monitor.js';
import { pseudonym as brandPseudonym } from '../privacy/branded.js';
import { business, businessOfNumber } from './businesses.js';
import type { GatewayContext } from './context.js';
import { spamReportKey } from './durable/layout.js';
import { commitExpecting, put } from './durable/message-store.js';
import { readLevel, wasDeliveredTo } from './integrity-counters.js';
import { applyAhead, newTally, refreshTally, settleTallies } from './tally.js';
import type { SpamReport } from './types.js';
import {
  assertArgumentObject,
  assertPhoneNumber,
  MESSAGE_ID,
  PHONE_NUMBER,
  parseFrameId,
} from './validation.js';

/**
 * A person's spam report, relayed by the transport. It counts when the gateway's own record
 * shows the message was delivered to that reporter, and once per message across every
 * instance: a marker record, created only if absent, is committed with the journal event.
 */
export async function receiveSpamReport(g: GatewayContext, report: SpamReport): Promise<SpamReportOutcome> {
  g.assertOpen();
  assertArgumentObject(report, 'report', 'a spam report { reporter, to, messageId }');
  assertPhoneNumber(report.reporter, 'reporter');
  const to: unknown = report.to;
  if (typeof to !== 'string')
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"to" expected a business number or business id');
  const messageId = parseFrameId(report.messageId)?.id ?? report.messageId;
  if (typeof messageId !== 'string' || !MESSAGE_ID.test(messageId))
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"messageId" expected a message id this gateway issued');
  const businessId = PHONE_NUMBER.test(to) ? await businessOfNumber(g, to) : to;
  const ctx = await business(g, businessId);
  if (!g.integrityConfig) {
    throw new ParleyError('ERR_CONFIGURATION', 'integrity monitoring is off (integrity: false)');
  }
  await refreshTally(g, ctx);
  const monitor = g.monitor!;
  let outcome: SpamReportOutcome;
  if (monitor.wasReported(businessId, messageId)) {
    outcome = 'duplicate';
  } else if (
    !(await wasDeliveredTo(g, {
      businessId,
      messageId,
      reporter: brandPseudonym(g.pseudonym(ctx, report.reporter)),
    }))
  ) {
    outcome = 'not-delivered';
  } else {
    const tally = newTally(g, ctx, { kind: 'spam', at: g.clock.now(), messageId });
    const marker = spamReportKey(businessId, messageId);
    await applyAhead(g, [tally]);
    const committed = await commitExpecting(
      g,
      [
        put('counters', marker, new Uint8Array(0), g.clock.now() + g.integrityConfig.reportDedup.lookbackMs),
        tally.write,
      ],
      [{ namespace: 'counters', key: marker, version: 0 }],
    );
    settleTallies(g, [tally], committed !== undefined);
    outcome = committed ? 'counted' : 'duplicate';
  }
  g.log('info', 'spam report', { businessId, outcome });
  if (outcome === 'counted') readLevel(g, monitor, businessId);
  return outcome;
}
