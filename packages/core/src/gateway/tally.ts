import { isParleyError } from '../errors.js';
import { encodeIntegrityState, restoreIntegrityState } from '../integrity/codec.js';
import { createIntegrity, type IntegrityMonitor } from '../integrity/monitor.js';
import type { IntegrityLevel } from '../integrity/signal.js';
import { pseudonym as brandPseudonym } from '../privacy/branded.js';
import type { UsageLedger } from '../stats/ledger.js';
import { createStatistics } from '../stats/ledger.js';
import { encodeStatisticsState, restoreStatisticsState } from '../stats/state.js';
import type {
  CommitResult,
  ExpectedVersion,
  ListedRecord,
  StoredRecord,
  WriteOperation,
} from '../storage/contract.js';
import { allBusinesses } from './businesses.js';
import type { TallyView } from './cache/tally-view.js';
import { ViewClock } from './cache/view-clock.js';
import type { BusinessContext, GatewayContext } from './context.js';
import {
  integrityStateKey,
  statisticsDaysKey,
  statisticsPeopleKey,
  tallyJournalPrefix,
} from './durable/layout.js';
import { commitExpecting, del, sealedPut } from './durable/message-store.js';
import { decodeTallyEvent, type TallyEvent, tallyWrite } from './durable/tally-journal.js';
import { integrityMonitor, longestWindowMs, readLevel } from './integrity-counters.js';
import { errorCode } from './logger.js';
import { statisticsKey } from './usage-statistics.js';

/**
 * Integrity counters, statistics and billing over all traffic, whichever instance carried it.
 *
 * The truth is in the store: per business, the folded state (the integrity record and the two
 * statistics records, in their existing formats) plus the tally journal of events not folded
 * yet (`durable/tally-journal.ts`), each event committed with the change it counts. This
 * instance keeps a VIEW — the monitor and ledger in memory — equal to state + journal:
 * `refreshTally` reads both (a few records and one prefix list) and applies what is new;
 * `foldTally` writes the view back as the new state and deletes the events it folded, in one
 * commit expecting the state versions it read (so exactly one fold of an event ever lands).
 *
 * A send is checked against a view refreshed just before it, and its own event is applied to
 * the view before its commit (so concurrent sends in this instance see each other at once); a
 * commit that fails discards the view, which the next refresh rebuilds from the store. Across
 * instances, what one instance has in flight when another checks is the only thing the other
 * does not see.
 */

/** Unfolded events beyond which a refresh folds (keeps refreshes and rebuilds cheap). */
const FOLD_THRESHOLD = 256;

/** An event this instance is committing, applied to its view ahead of the commit. */
export interface PendingTally {
  readonly businessId: string;
  readonly key: string;
  readonly write: WriteOperation;
  readonly event: TallyEvent;
  generation: number;
}

const STATE_KEYS = (biz: string) => [
  integrityStateKey(biz),
  statisticsDaysKey(biz),
  statisticsPeopleKey(biz),
];

/** The journal write for an event (to put into the commit of the change it counts). */
export function newTally(g: GatewayContext, ctx: BusinessContext, event: TallyEvent): PendingTally {
  g.tallySequence = (g.tallySequence + 1) % 100_000_000;
  const { key, write } = tallyWrite(ctx, g.instanceId, g.tallySequence, event);
  return { businessId: ctx.id, key, write, event, generation: -1 };
}

/**
 * `applyAhead` for a caller that just refreshed the view (the engines are loaded): synchronous,
 * so a check and the count of what it allowed are one step.
 */
export function applyAheadLoaded(g: GatewayContext, pending: readonly PendingTally[]): void {
  for (const tally of pending) {
    const view = g.tallyViews.get(tally.businessId);
    tally.generation = view?.generation ?? -1;
    view?.inFlight.add(tally.key);
    applyEvent({ monitor: g.monitor, ledger: g.ledger }, g.viewClock, tally.businessId, tally.event);
  }
}

/**
 * Loads the monitor and the ledger (their keys) before a commit whose events will be applied
 * ahead with `applyAheadLoaded`: a key that cannot be read fails the operation before it writes.
 */
export async function loadTallyEngines(g: GatewayContext): Promise<void> {
  await engines(g);
}

/** Applies pending events to this instance's view before their commit (see `settleTallies`). */
export async function applyAhead(g: GatewayContext, pending: readonly PendingTally[]): Promise<void> {
  if (pending.length === 0) return;
  await engines(g);
  applyAheadLoaded(g, pending);
}

/**
 * After the commit: committed events stay in the view (and are remembered as applied, unless
 * the view was rebuilt meanwhile — then the next refresh applies them from the journal); events
 * whose commit failed leave a view that is discarded.
 */
export function settleTallies(g: GatewayContext, pending: readonly PendingTally[], committed: boolean): void {
  for (const tally of pending) {
    const view = g.tallyViews.get(tally.businessId);
    if (!view) continue;
    view.inFlight.delete(tally.key);
    if (!committed) {
      view.versions = '';
      continue;
    }
    if (view.generation === tally.generation) view.applied.add(tally.key);
  }
}

/** Commits `writes` with the events, applying them ahead; failures discard the view. */
export async function commitWithTallies(
  g: GatewayContext,
  writes: readonly WriteOperation[],
  pending: readonly PendingTally[],
  expectVersions?: Parameters<GatewayContext['store']['commit']>[1],
): Promise<Awaited<ReturnType<GatewayContext['store']['commit']>>> {
  await applyAhead(g, pending);
  try {
    const result = await g.store.commit([...writes, ...pending.map((tally) => tally.write)], expectVersions);
    settleTallies(g, pending, true);
    return result;
  } catch (error) {
    settleTallies(g, pending, false);
    throw error;
  }
}

/** `commitExpecting` with events: undefined (and the view discarded) when another writer won. */
export async function commitExpectingWithTallies(
  g: GatewayContext,
  writes: readonly WriteOperation[],
  pending: readonly PendingTally[],
  expectVersions: readonly ExpectedVersion[],
): Promise<CommitResult | undefined> {
  try {
    return await commitWithTallies(g, writes, pending, { expectVersions });
  } catch (error) {
    if (isParleyError(error, 'ERR_STORE_CONFLICT')) return undefined;
    throw error;
  }
}

/** The business's integrity level on a freshly refreshed view (logs a change). */
export async function refreshedLevel(
  g: GatewayContext,
  ctx: BusinessContext,
): Promise<IntegrityLevel | undefined> {
  if (!g.integrityConfig) return undefined;
  await refreshTally(g, ctx);
  return readLevel(g, g.monitor!, ctx.id);
}

/**
 * Brings this instance's view of a business up to the store: the folded state plus the journal.
 * Concurrent callers share refreshes (`TallyRefreshes`); each still gets one that began after it
 * asked. `fold: false` (from `foldAll`, which has just folded) runs a refresh of its own.
 */
export function refreshTally(g: GatewayContext, ctx: BusinessContext, fold = true): Promise<void> {
  if (!fold) return refreshOnce(g, ctx, false);
  let slot = g.tallyRefreshes.get(ctx.id);
  if (!slot) {
    slot = {};
    g.tallyRefreshes.set(ctx.id, slot);
  }
  const shared = slot;
  const start = (): Promise<void> => {
    const running = refreshOnce(g, ctx, true).finally(() => {
      if (shared.running === running) shared.running = undefined;
    });
    shared.running = running;
    return running;
  };
  if (!shared.running) return start();
  shared.queued ??= shared.running
    .then(
      () => undefined,
      () => undefined,
    )
    .then(() => {
      shared.queued = undefined;
      return start();
    });
  return shared.queued;
}

async function refreshOnce(g: GatewayContext, ctx: BusinessContext, fold: boolean): Promise<void> {
  const { monitor, ledger } = await engines(g);
  if (!monitor && !ledger) return;
  const keys = STATE_KEYS(ctx.id);
  const { records, journal } = await readState(g, ctx, keys);
  const versions = versionsOf(keys, records);
  let view: TallyView | undefined = g.tallyViews.get(ctx.id);
  if (!view || view.versions !== versions) {
    view = { versions, generation: (view?.generation ?? 0) + 1, applied: new Set(), inFlight: new Set() };
    g.tallyViews.set(ctx.id, view);
    restoreView(g, ctx, monitor, ledger, records);
  }
  // `applied` only ever loses keys through a fold (this instance's, below, or another's, which
  // changes the state versions and so rebuilds the view). Never by comparing with this listing:
  // it may predate an event committed and settled meanwhile, which would then count twice.
  for (const entry of journal) {
    if (view.applied.has(entry.key) || view.inFlight.has(entry.key)) continue;
    const event = openEvent(g, ctx, entry);
    if (event) applyEvent({ monitor, ledger }, g.viewClock, ctx.id, event);
    view.applied.add(entry.key);
  }
  if (fold && journal.length >= FOLD_THRESHOLD) await foldTally(g, ctx);
}

/**
 * The folded state and the journal, read apart but consistent: a fold landing between the two
 * reads would hide events (in neither), so they are read until the state is the same on both
 * sides of the journal.
 */
async function readState(
  g: GatewayContext,
  ctx: BusinessContext,
  keys: readonly string[],
): Promise<{ records: ReadonlyMap<string, StoredRecord>; journal: ListedRecord[] }> {
  let records = await g.store.getMany('counters', keys);
  for (let attempt = 0; ; attempt++) {
    const journal = await g.store.list('counters', { prefix: tallyJournalPrefix(ctx.id) });
    const again = await g.store.getMany('counters', keys);
    if (versionsOf(keys, again) === versionsOf(keys, records) || attempt >= 5)
      return { records: again, journal };
    records = again;
  }
}

function openEvent(g: GatewayContext, ctx: BusinessContext, entry: ListedRecord): TallyEvent | undefined {
  try {
    return decodeTallyEvent(ctx.sealer.open('counters', entry.key, entry.value));
  } catch (error) {
    g.log('warn', 'a tally journal record does not open; skipped', {
      businessId: ctx.id,
      code: errorCode(error),
    });
    return undefined;
  }
}

/**
 * Folds the journal into the business's state: the stored state plus every journal event, counted
 * on engines of the fold's own (never this instance's view, which may hold events whose commit is
 * still under way), written back in one commit that also deletes the folded events and expects
 * the state versions it read — so of two instances folding at once exactly one lands, and every
 * event is in the state once. `force` rewrites the state even with no events (windows ended).
 */
export async function foldTally(g: GatewayContext, ctx: BusinessContext, force = false): Promise<void> {
  const { monitor, ledger } = await engines(g);
  if (!monitor && !ledger) return;
  const keys = STATE_KEYS(ctx.id);
  const [integrityKey, daysKey, peopleKey] = keys as [string, string, string];
  const { records, journal } = await readState(g, ctx, keys);
  if (journal.length === 0 && !force) return;
  const clock = new ViewClock(g.clock);
  const scratch = {
    monitor:
      monitor && g.integrityConfig && g.integritySketchKey
        ? createIntegrity({
            clock,
            config: g.integrityConfig,
            sketchKey: g.integritySketchKey,
            wasDeliveredTo: () => false,
          }).monitor
        : undefined,
    ledger:
      ledger && g.statisticsTagKey
        ? createStatistics({ ...g.statisticsOptions, clock, tagKey: g.statisticsTagKey }).recorder
        : undefined,
  };
  restoreView(g, ctx, scratch.monitor, scratch.ledger, records);
  const folded: string[] = [];
  for (const entry of journal) {
    folded.push(entry.key);
    const event = openEvent(g, ctx, entry);
    if (event) applyEvent(scratch, clock, ctx.id, event);
  }
  const writes: WriteOperation[] = [];
  if (scratch.monitor && g.integrityConfig) {
    const expiresAt = g.clock.now() + longestWindowMs(g.integrityConfig);
    writes.push(
      sealedPut(ctx, 'counters', integrityKey, encodeIntegrityState(scratch.monitor, ctx.id), expiresAt),
    );
  }
  if (scratch.ledger) {
    const state = encodeStatisticsState(scratch.ledger, ctx.id);
    writes.push(
      state.days
        ? sealedPut(ctx, 'counters', daysKey, state.days.bytes, state.days.expiresAt)
        : del('counters', daysKey),
      state.people
        ? sealedPut(ctx, 'counters', peopleKey, state.people.bytes, state.people.expiresAt)
        : del('counters', peopleKey),
    );
  }
  for (const key of folded) writes.push(del('counters', key));
  const before = versionsOf(keys, records);
  const result = await commitExpecting(
    g,
    writes,
    keys.map((key) => ({ namespace: 'counters' as const, key, version: records.get(key)?.version ?? 0 })),
  );
  const view = g.tallyViews.get(ctx.id);
  if (!result || !view) return;
  // The view held exactly this state and these events: it stays valid on the new versions.
  // Otherwise (it lacked some of them, or was built on another state) the next refresh rebuilds.
  if (view.versions === before && folded.every((key) => view.applied.has(key) || view.inFlight.has(key))) {
    const written = new Map(result.versions.map((entry) => [entry.key, entry.version]));
    view.versions = keys.map((key) => written.get(key) ?? 0).join(',');
    for (const key of folded) view.applied.delete(key);
  } else {
    view.versions = '';
  }
}

/**
 * Folds every business with unfolded events or windows that ended, and brings this instance's
 * view of each up to the store — what the transport's signals and the platform's statistics
 * export read (from `tick()` and `close()`).
 */
export async function foldAll(g: GatewayContext): Promise<void> {
  const changed = new Set(g.ledger?.takeChanged() ?? []);
  for (const ctx of await allBusinesses(g)) {
    try {
      await foldTally(g, ctx, changed.has(ctx.id));
      await refreshTally(g, ctx, false);
    } catch (error) {
      g.reportError(error);
    }
  }
}

/**
 * The gateway's count of a business's contacts (people with protocol state, from the sweep):
 * journaled when it changed since this instance last journaled it.
 */
export async function journalKnownContacts(
  g: GatewayContext,
  ctx: BusinessContext,
  count: number,
): Promise<void> {
  if (!g.integrityConfig || g.knownContacts.get(ctx.id) === count) return;
  const tally = newTally(g, ctx, { kind: 'contacts', at: g.clock.now(), count });
  await commitWithTallies(g, [], [tally]);
  g.knownContacts.set(ctx.id, count);
}

/** The monitor and the ledger, with their keys loaded (either may be off). */
async function engines(g: GatewayContext): Promise<{ monitor?: IntegrityMonitor; ledger?: UsageLedger }> {
  const monitor = await integrityMonitor(g);
  const ledger = g.ledger;
  if (ledger) await statisticsKey(g, ledger);
  return { ...(monitor ? { monitor } : {}), ...(ledger ? { ledger } : {}) };
}

function versionsOf(keys: readonly string[], records: ReadonlyMap<string, StoredRecord>): string {
  return keys.map((key) => records.get(key)?.version ?? 0).join(',');
}

/** Replaces the business's part of the view with the stored state (a corrupt record: start over). */
function restoreView(
  g: GatewayContext,
  ctx: BusinessContext,
  monitor: IntegrityMonitor | undefined,
  ledger: UsageLedger | undefined,
  records: ReadonlyMap<string, StoredRecord>,
): void {
  const [integrityKey, daysKey, peopleKey] = STATE_KEYS(ctx.id) as [string, string, string];
  const open = (key: string) => {
    const record = records.get(key);
    return record && ctx.sealer.open('counters', key, record.value);
  };
  if (monitor) {
    monitor.forgetBusiness(ctx.id);
    try {
      const bytes = open(integrityKey);
      if (bytes) {
        const { sketchesKept } = restoreIntegrityState(monitor, ctx.id, bytes);
        if (!sketchesKept)
          g.log('warn', 'integrity sketches written under another key were dropped; counts kept', {
            businessId: ctx.id,
          });
      }
    } catch (error) {
      monitor.forgetBusiness(ctx.id);
      g.log('warn', 'integrity counters not restored (another configuration); starting over', {
        businessId: ctx.id,
        code: errorCode(error),
      });
    }
  }
  if (ledger) {
    ledger.forgetBusiness(ctx.id);
    try {
      const days = open(daysKey);
      const people = open(peopleKey);
      if (days || people) {
        const { peopleKept } = restoreStatisticsState(ledger, ctx.id, days, people);
        if (!peopleKept)
          g.log('warn', 'statistics windows written under another key were dropped; counts kept', {
            businessId: ctx.id,
          });
      }
    } catch (error) {
      ledger.forgetBusiness(ctx.id);
      g.log('warn', 'statistics not restored (unreadable record); starting over', {
        businessId: ctx.id,
        code: errorCode(error),
      });
    }
  }
}

/** Applies one event to a view (or a fold's engines), at the event's own time. */
function applyEvent(
  engines: { readonly monitor?: IntegrityMonitor | undefined; readonly ledger?: UsageLedger | undefined },
  clock: ViewClock,
  businessId: string,
  event: TallyEvent,
): void {
  const { monitor, ledger } = engines;
  clock.at(event.at, () => {
    switch (event.kind) {
      case 'sent': {
        const recipient = brandPseudonym(event.person);
        monitor?.recordSent({ businessId, recipient });
        ledger?.recordSent({ businessId, messageId: event.messageId, recipient });
        return;
      }
      case 'received': {
        const sender = brandPseudonym(event.person);
        monitor?.recordReceived({ businessId, sender });
        ledger?.recordReceived({ businessId, sender });
        return;
      }
      case 'delivered':
        monitor?.recordDelivered({ businessId });
        ledger?.recordDelivered({
          businessId,
          messageId: event.messageId,
          recipient: brandPseudonym(event.person),
        });
        return;
      case 'failed':
        if (event.integrity) monitor?.recordFailed({ businessId });
        ledger?.recordFailed({ businessId, messageId: event.messageId });
        return;
      case 'expired':
        ledger?.recordExpired({ businessId, messageId: event.messageId });
        return;
      case 'session':
        ledger?.recordSessionEstablished({ businessId });
        return;
      case 'spam':
        monitor?.countSpamReport(businessId, event.messageId);
        return;
      case 'contacts':
        monitor?.setKnownContacts(businessId, event.count);
        return;
      case 'forget':
        ledger?.forgetPerson(businessId, brandPseudonym(event.person));
        return;
      case 'group-sent':
        for (const person of event.people)
          monitor?.recordSent({ businessId, recipient: brandPseudonym(person) });
        ledger?.recordGroupSent({ businessId, messageId: event.messageId });
        return;
      case 'group-delivered':
        monitor?.recordDelivered({ businessId });
        ledger?.recordGroupDelivered({ businessId, messageId: event.messageId });
        return;
      case 'group-received':
        ledger?.recordGroupReceived({ businessId });
        return;
    }
  });
}
