import type { UsageLedger } from '../stats/ledger.js';
import type { GatewayContext } from './context.js';
import { STATISTICS_KEY } from './durable/layout.js';
import { loadOrCreateKey } from './durable/wrapped-keys.js';

/** Gives the ledger the store's people-tag key (created and wrapped on first use), once. */
export function statisticsKey(g: GatewayContext, ledger: UsageLedger): Promise<void> {
  if (!g.statisticsKeyLoading) {
    const loading = (async () => {
      const tagKey = await loadOrCreateKey(g, STATISTICS_KEY, STATISTICS_KEY_CONTEXT);
      ledger.useTagKey(tagKey);
      // Kept for the folds, which count on ledgers of their own (tally.ts).
      g.statisticsTagKey = tagKey;
    })();
    g.statisticsKeyLoading = loading;
    loading.catch(() => {
      if (g.statisticsKeyLoading === loading) g.statisticsKeyLoading = undefined;
    });
  }
  return g.statisticsKeyLoading;
}

export const STATISTICS_KEY_CONTEXT = 'parley/statistics/tag-key';
