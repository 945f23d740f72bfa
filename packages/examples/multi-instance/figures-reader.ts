/**
 * Reads what "the rest of the platform" and the transport side see of one business, through
 * the gateway's public exports only: statistics and billing summed over every retained day,
 * and the integrity signal.
 */
import type { Gateway } from '@parley/core';
import type { InstanceFigures } from './protocol.js';

export async function readFigures(gateway: Gateway, businessId: string): Promise<InstanceFigures> {
  // A tick loads the business (its counters are restored on first use) and runs what is due.
  await gateway.tick();
  const { statistics, billing } = gateway.statisticsExport();
  const totals = {
    messagesIn: 0,
    messagesOut: 0,
    delivered: 0,
    failed: 0,
    expired: 0,
    sessionsEstablished: 0,
  };
  const bill = {
    businessInitiatedDelivered: 0,
    conversationsOpened: 0,
    openedByBusiness: 0,
    openedByPerson: 0,
  };
  for (const day of statistics.days()) {
    const row = statistics.snapshot(day).businesses.find((entry) => entry.businessId === businessId);
    if (row) {
      totals.messagesIn += row.messagesIn;
      totals.messagesOut += row.messagesOut;
      totals.delivered += row.delivered;
      totals.failed += row.failed;
      totals.expired += row.expired;
      totals.sessionsEstablished += row.sessionsEstablished;
    }
    const charge = billing.snapshot(day).businesses.find((entry) => entry.businessId === businessId);
    if (charge) {
      bill.businessInitiatedDelivered += charge.businessInitiatedDelivered;
      bill.conversationsOpened += charge.conversationsOpened;
      bill.openedByBusiness += charge.conversationsOpenedBy.business;
      bill.openedByPerson += charge.conversationsOpenedBy.person;
    }
  }
  const signal = gateway.integritySignals().signal(businessId);
  const s = signal.snapshot;
  return {
    statistics: totals,
    billing: bill,
    integrity: {
      level: signal.level,
      rules: signal.reasons.map((reason) => `${reason.rule}:${reason.level}`),
      sent: s.sent,
      delivered: s.delivered,
      failed: s.failed,
      distinctRecipients: s.distinctRecipients,
      unsolicitedRecipients: s.unsolicitedRecipients,
      newRecipients: s.newRecipients,
      knownContacts: s.knownContacts,
    },
  };
}
