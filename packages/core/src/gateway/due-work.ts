import type { GatewayContext } from './context.js';
import { DUE_PREFIX, outboxKey } from './durable/layout.js';
import { commitIfUnchanged, del, dueAt } from './durable/message-store.js';
import { decodeOutboxEntry } from './durable/records.js';
import { deliver } from './inbound.js';
import { processOutbound } from './outbound.js';
import { expire } from './retention.js';
import type { MessageId } from './types.js';

export async function runDue(g: GatewayContext, businessId?: string): Promise<void> {
  g.assertOpen();
  const now = g.clock.now();
  // Hints left in place (busy, another business, not yet deliverable) are skipped by key.
  const skipped = new Set<string>();
  for (;;) {
    const limit = skipped.size + DUE_PAGE;
    const page = await g.store.list('outbox', { prefix: DUE_PREFIX, limit });
    let progressed = false;
    for (const hint of page) {
      if (skipped.has(hint.key)) continue;
      const due = parseDueKey(hint.key);
      if (due && due.at > now) return;
      if (
        !due ||
        (businessId !== undefined && due.businessId !== businessId) ||
        // Already under way (a slow transport, store or handler): not waited for here.
        g.queue.busy(due.id)
      ) {
        skipped.add(hint.key);
        continue;
      }
      progressed = true;
      try {
        if (!(await runHint(g, hint.key, due, now))) skipped.add(hint.key);
      } catch (error) {
        skipped.add(hint.key);
        g.reportError(error);
      }
    }
    if (page.length < limit || !progressed) return;
  }
}

/** Runs one due item; true when its hint is spent (and deleted). */
export async function runHint(
  g: GatewayContext,
  hintKey: string,
  due: { at: number; businessId: string; id: MessageId },
  now: number,
): Promise<boolean> {
  const { businessId: biz, id } = due;
  const before = await g.store.get('outbox', outboxKey(biz, id));
  if (before) {
    const entry = decodeOutboxEntry(before.value);
    if (dueAt(entry) === due.at) {
      if (entry.deadline <= now) await g.queue.run(id, () => expire(g, biz, id, entry.direction));
      else await (entry.direction === 'inbound' ? deliver(g, biz, id) : processOutbound(g, biz, id));
    }
  }
  // Spent once the entry is gone or has another due time (it wrote its own hint); an entry
  // still due at this time (no handler yet) keeps its hint.
  const after = await g.store.get('outbox', outboxKey(biz, id));
  if (after && dueAt(decodeOutboxEntry(after.value)) === due.at) return false;
  return commitIfUnchanged(g, [del('outbox', hintKey)], 'outbox', outboxKey(biz, id), after?.version ?? 0);
}

/** Hints of due work listed per round of `runDue`. */
export const DUE_PAGE = 256;

export function parseDueKey(key: string): { at: number; businessId: string; id: MessageId } | undefined {
  const match = /^gw\/due\/(\d{15})\/([^/]+)\/(m[0-9a-f]{32})$/.exec(key);
  return match ? { at: Number(match[1]), businessId: match[2]!, id: match[3] as MessageId } : undefined;
}
