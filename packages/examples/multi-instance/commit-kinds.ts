/**
 * Which commits the harness stops in, told apart by what they write (namespaces and the
 * gateway's documented key layout, gateway/durable/layout.ts) — never by reading record bytes.
 */
import type { Mutation } from '@parley/core';

/** The time index of due work: `outbox gw/due/{time}/{biz}/{messageId}`. */
const DUE_HINT = /^gw\/due\//;
/** Claim or lease records of due work, wherever the layout puts them. */
const CLAIM = /(^|\/)(claim|claims|lease|leases)(\/|$)/;

/**
 * The commit that records the outcome of a piece of due work the instance took — a sending
 * attempt after the transport took the frames, or a delivery after the business's handler
 * returned: it updates the message record and spends the work's entry in the due-time index
 * (or its claim). Killed inside it, the work is done but not recorded, and another instance
 * must finish it without doing it twice.
 */
export function finishesClaimedWork(mutation: Mutation): boolean {
  const updatesMessage = mutation.some((op) => op.type === 'put' && op.namespace === 'messages');
  const spendsWork = mutation.some(
    (op) =>
      op.namespace === 'outbox' && op.type === 'delete' && (DUE_HINT.test(op.key) || CLAIM.test(op.key)),
  );
  return updatesMessage && spendsWork;
}

/** A commit that writes a session record (a decrypt or an encrypt). */
export function writesSession(mutation: Mutation): boolean {
  return mutation.some((op) => op.type === 'put' && op.namespace === 'sessions');
}
