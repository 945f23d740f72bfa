/** Non-personal statistics and billing: recorded by the gateway, exported as counts. */
export { type Category, category, isCategory, OTHER_CATEGORY } from './category.js';
export { addDays, type Day, day, dayOf, dayStart, isDay } from './day.js';
export { createStatistics, type StatisticsOptions, UsageLedger } from './ledger.js';
export { foldSmallCounts } from './small-count.js';
export type {
  BillingExport,
  BillingSnapshot,
  BusinessBilling,
  BusinessStatistics,
  CategoryStatistics,
  ConversationOpener,
  StatisticsExport,
  StatisticsSnapshot,
} from './snapshots.js';
