import { wipe } from '../bytes.js';
import type { UsageLedger } from '../stats/ledger.js';
import { encodeStatisticsState, restoreStatisticsState } from '../stats/state.js';
import type { WriteOperation } from '../storage/contract.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { STATISTICS_KEY, statisticsDaysKey, statisticsPeopleKey } from './durable/layout.js';
import { del, sealedPut } from './durable/message-store.js';
import { loadOrCreateKey } from './durable/wrapped-keys.js';
import { errorCode } from './logger.js';

/** Gives the ledger the store's people-tag key (created and wrapped on first use), once. */
export function statisticsKey(g: GatewayContext, ledger: UsageLedger): Promise<void> {
  if (!g.statisticsKeyLoading) {
    const loading = (async () => {
      const tagKey = await loadOrCreateKey(g, STATISTICS_KEY, STATISTICS_KEY_CONTEXT);
      ledger.useTagKey(tagKey);
      wipe(tagKey);
    })();
    g.statisticsKeyLoading = loading;
    loading.catch(() => {
      if (g.statisticsKeyLoading === loading) g.statisticsKeyLoading = undefined;
    });
  }
  return g.statisticsKeyLoading;
}

/** Restores a business's statistics and billing from the store (when the business is loaded). */
export async function restoreStatistics(g: GatewayContext, ctx: BusinessContext): Promise<void> {
  const ledger = g.ledger;
  if (!ledger) return;
  await statisticsKey(g, ledger);
  const days = await g.store.get('counters', statisticsDaysKey(ctx.id));
  const people = await g.store.get('counters', statisticsPeopleKey(ctx.id));
  if (!days && !people) return;
  try {
    const { peopleKept } = restoreStatisticsState(
      ledger,
      ctx.id,
      days && ctx.sealer.open('counters', statisticsDaysKey(ctx.id), days.value),
      people && ctx.sealer.open('counters', statisticsPeopleKey(ctx.id), people.value),
    );
    if (!peopleKept)
      g.log('warn', 'statistics windows written under another key were dropped; counts kept', {
        businessId: ctx.id,
      });
  } catch (error) {
    ledger.forgetBusiness(ctx.id);
    g.log('warn', 'statistics not restored (unreadable record); starting over', {
      businessId: ctx.id,
      code: errorCode(error),
    });
  }
}

/**
 * Writes the statistics of the businesses that changed (from `tick()` and `close()`): the
 * counts expire with the retention, the people's windows with the newest window (and are
 * deleted when none is open, e.g. after an erasure or expiry).
 */
export function persistStatistics(g: GatewayContext): Promise<void> {
  const run = g.statisticsWriting.then(() => writeStatistics(g));
  g.statisticsWriting = run.catch(() => undefined);
  return run;
}

export async function writeStatistics(g: GatewayContext): Promise<void> {
  const ledger = g.ledger;
  if (!ledger) return;
  const failures: unknown[] = [];
  // One commit per business: a record one business cannot write never holds up the others.
  for (const businessId of ledger.takeChanged()) {
    const ctx = await g.businesses.get(businessId)?.catch(() => undefined);
    if (!ctx) {
      ledger.markChanged([businessId]);
      continue;
    }
    const state = encodeStatisticsState(ledger, businessId);
    const writes: WriteOperation[] = [
      state.days
        ? sealedPut(ctx, 'counters', statisticsDaysKey(businessId), state.days.bytes, state.days.expiresAt)
        : del('counters', statisticsDaysKey(businessId)),
      state.people
        ? sealedPut(
            ctx,
            'counters',
            statisticsPeopleKey(businessId),
            state.people.bytes,
            state.people.expiresAt,
          )
        : del('counters', statisticsPeopleKey(businessId)),
    ];
    try {
      await g.store.commit(writes);
    } catch (error) {
      ledger.markChanged([businessId]);
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

export const STATISTICS_KEY_CONTEXT = 'parley/statistics/tag-key';
