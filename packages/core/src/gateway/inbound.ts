import { toHex, utf8, wipe } from '../bytes.js';
import { contentBytes, decodeMessagePlaintext } from '../content/message-plaintext.js';
import { unpadContent } from '../content/padding.js';
import { isParleyError, ParleyError } from '../errors.js';
import type { ProtocolAddress } from '../session/address.js';
import type { IdentityChange } from '../session/session-manager.js';
import type { WriteOperation } from '../storage/contract.js';
import { backoffDelay } from './backoff.js';
import { business, businessOfNumber } from './businesses.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { receiveDecryptionError, requestRetry } from './decryption-errors.js';
import { claimDue, claimedEntry, releaseWrites } from './durable/claims.js';
import { deviceListWrite, readDeviceList } from './durable/device-lists.js';
import { handOver, newEvent } from './durable/event-outbox.js';
import { messageKey, outboxKey, seenKey } from './durable/layout.js';
import { commitExpecting, messageWrites, readMessage, sealedPut } from './durable/message-store.js';
import {
  contentAad,
  encodeMessageRecord,
  type MessageRecord,
  openContent,
  sealContent,
} from './durable/records.js';
import type { GroupHooks } from './group-hooks.js';
import { inboundMedia, inboundMediaWrites } from './media-content.js';
import { expire } from './retention.js';
import { applyAheadLoaded, loadTallyEngines, newTally, type PendingTally, settleTallies } from './tally.js';
import type { InboundFrame, InboundMessage, MessageHandler, MessageId, ReceiveOutcome } from './types.js';
import { assertFrame } from './validation.js';

export async function receiveFrame(g: GatewayContext, frame: InboundFrame): Promise<ReceiveOutcome> {
  g.assertOpen();
  assertFrame(frame);
  if (frame.type === 7) return groupHooks(g).receiveFrame(frame);
  const businessId = await businessOfNumber(g, frame.to);
  const ctx = await business(g, businessId);
  const pseudonym = g.pseudonym(ctx, frame.from);
  const sessions = g.sessions(ctx, frame.to);
  const address: ProtocolAddress = { name: pseudonym, deviceId: frame.deviceId };
  if (frame.type === 8) {
    const outcome = await receiveDecryptionError(g, ctx, frame, pseudonym);
    await acknowledge(g, frame.frameId);
    return outcome;
  }
  const now = g.clock.now();
  const digest = toHex(g.crypto.sha256(utf8(frame.frameId))).slice(0, 32);
  const seen = seenKey(businessId, pseudonym, digest);
  if (await g.store.get('meta', seen)) {
    await acknowledge(g, frame.frameId);
    return { kind: 'duplicate' };
  }
  const id = g.newMessageId();
  const deadline = now + ctx.retentionMs;
  const { period, key: periodKey } = await g.periodKeys.forDeadline(businessId, deadline);
  const known = await readDeviceList(g, ctx, pseudonym);

  let identityChange: IdentityChange | undefined;
  let newSession = false;
  // A group member's distribution message in the envelope (group-inbound.ts).
  let distribution: { readonly write: WriteOperation; readonly only: boolean } | undefined;
  // The events counted with this message, applied to this instance's view right before each
  // commit attempt (as a send does): the engines load first, so an unreadable counter key
  // refuses the frame before anything is stored.
  const attempts: PendingTally[][] = [];
  await loadTallyEngines(g);
  try {
    const result = await sessions.decrypt(
      address,
      { type: frame.type, body: frame.body },
      {
        alsoWrite: (decrypted) => {
          const content =
            g.paddingBlock === false ? decrypted.plaintext.slice() : unpadContent(decrypted.plaintext);
          distribution = g.groupHooks?.takeDistribution(ctx, {
            content,
            pseudonym,
            deviceId: frame.deviceId,
            deadline,
            frameDigest: digest,
          });
          const record = inboundRecord(g, frame, id, {
            businessId,
            pseudonym,
            now,
            deadline,
            period,
            periodKey,
            content,
          });
          // A media pointer gets its media record in the same commit (media-content.ts).
          const media = inboundMediaWrites(g, ctx, {
            messageId: id,
            content,
            deadline,
            period,
            periodKey,
            pseudonym,
            now,
          });
          // Nothing holds plaintext while the commit is awaited.
          wipe(content, decrypted.plaintext);
          const writes = [
            // Nothing for the business when the envelope carried only the distribution message;
            // otherwise this instance hands it to the handler at once: the entry is written claimed.
            ...(distribution?.only
              ? []
              : messageWrites(ctx, id, record, now, claimedEntry(g, { direction: 'inbound', deadline }))),
            ...(distribution ? [distribution.write] : []),
            sealedPut(ctx, 'meta', seen, new Uint8Array(0), deadline),
            ...media,
          ];
          if (!known?.devices.includes(frame.deviceId)) {
            // A device the business had not heard of: kept, and the list marked unconfirmed so
            // that the next send asks the directory for all of the person's devices.
            writes.push(
              deviceListWrite(ctx, pseudonym, {
                devices: [...(known?.devices ?? []), frame.deviceId],
                confirmedAt: 0,
              }),
            );
          }
          // An envelope with only a distribution message is no message of the person's.
          const tallies: PendingTally[] = distribution?.only
            ? []
            : [newTally(g, ctx, { kind: 'received', at: now, person: pseudonym })];
          if (decrypted.newSession) tallies.push(newTally(g, ctx, { kind: 'session', at: now }));
          applyAheadLoaded(g, tallies);
          attempts.push(tallies);
          return [...writes, ...tallies.map((tally) => tally.write)];
        },
      },
    );
    identityChange = result.identityChange;
    newSession = result.newSession;
    wipe(result.plaintext);
    // The last attempt's commit landed; earlier attempts (retried after a conflict) did not.
    for (const [index, tallies] of attempts.entries())
      settleTallies(g, tallies, index === attempts.length - 1);
  } catch (error) {
    for (const tallies of attempts) settleTallies(g, tallies, false);
    return undecryptable(g, ctx, frame, pseudonym, error);
  }
  if (distribution) {
    await groupHooks(g).storeDistributions(ctx, frame.to, { pseudonym, deviceId: frame.deviceId });
    if (distribution.only) {
      await acknowledge(g, frame.frameId);
      return { kind: 'distribution' };
    }
  }
  g.log('debug', 'inbound message stored', { businessId, messageId: id, newSession });
  await acknowledge(g, frame.frameId);
  if (identityChange) {
    g.log('info', 'a person’s identity key changed; the new one is accepted', { businessId });
    g.emit(businessId, {
      type: 'identity-changed',
      eventId: g.newEventId(),
      at: now,
      businessId,
      number: frame.to,
      phoneNumber: frame.from,
      deviceId: frame.deviceId,
    });
  }
  g.track(g.arrivals.run(`${businessId}/${pseudonym}`, () => deliver(g, businessId, id)));
  return { kind: 'accepted', messageId: id };
}

export async function undecryptable(
  g: GatewayContext,
  ctx: BusinessContext,
  frame: InboundFrame,
  pseudonym: string,
  error: unknown,
): Promise<ReceiveOutcome> {
  if (!isParleyError(error) || error.code.startsWith('ERR_STORE_') || error.code === 'ERR_RESIDENCY')
    throw error;
  if (error.code === 'ERR_DUPLICATE_MESSAGE') {
    g.log('debug', 'inbound frame is a duplicate', { businessId: ctx.id });
    await acknowledge(g, frame.frameId);
    return { kind: 'duplicate' };
  }
  // A decryption-error message (type 8) back to the device, a few per retry interval.
  const retryRequested = await requestRetry(g, ctx, frame, pseudonym, error.code);
  g.log('warn', 'inbound frame could not be decrypted', {
    businessId: ctx.id,
    code: error.code,
    retryRequested,
  });
  await acknowledge(g, frame.frameId);
  return { kind: 'undecryptable', reason: error.code, retryRequested };
}

/** One delivery attempt of a stored inbound message, if it is due. */
export function deliver(g: GatewayContext, businessId: string, id: MessageId): Promise<void> {
  return g.queue.run(id, async () => {
    const handler = g.messageHandlers.get(businessId);
    if (!handler) return;
    const ctx = await business(g, businessId);
    const now = g.clock.now();
    // Exactly one instance hands a message to a handler at a time (durable/claims.ts).
    const claim = await claimDue(g, businessId, id);
    if (!claim) return;
    if ('expired' in claim) return expire(g, businessId, id, 'inbound');
    const stored = await readMessage(g, ctx, id);
    if (stored?.record.status !== 'pending') return;
    const record = stored.record;
    const periodKey = await g.periodKeys.forPeriod(businessId, record.period);
    if (!periodKey) return;
    record.attempts += 1;
    if (record.firstAttemptAt === 0) record.firstAttemptAt = now;
    const delivered = await callHandler(g, handler, () => {
      const opened = openContent(g.crypto, periodKey, contentAad(businessId, id), record.content);
      // Stored unpadded as the person's device sent it: the content envelope (or raw bytes).
      const envelope = decodeMessagePlaintext(opened.content, false);
      const content = envelope.raw ? opened.content : contentBytes(envelope);
      if (content !== opened.content) wipe(opened.content);
      return {
        id,
        businessId,
        to: record.number,
        from: opened.phoneNumber,
        deviceId: record.deviceId,
        receivedAt: record.createdAt,
        attempt: record.attempts,
        ...(envelope.text === undefined ? {} : { text: envelope.text }),
        ...(record.group === undefined ? {} : { group: record.group }),
        ...(envelope.media === undefined ? {} : { media: inboundMedia(id, envelope.media) }),
        content,
      };
    });
    let dropped = false;
    let next: number | undefined;
    const limit = record.firstAttemptAt + g.redeliveryLimitMs;
    if (delivered) {
      record.status = 'delivered';
    } else if (now >= limit) {
      record.status = 'dropped';
      dropped = true;
    } else {
      next = Math.min(now + backoffDelay(g.redeliveryBackoff, record.attempts, g.random), limit);
    }
    // The attempt ends the claim: the entry goes, or waits for the next attempt.
    const writes: WriteOperation[] = [...releaseWrites(businessId, id, claim, next)];
    writes.push(
      sealedPut(ctx, 'messages', messageKey(businessId, id), encodeMessageRecord(record), record.deadline),
    );
    const event = dropped
      ? newEvent(g, ctx, { type: 'dropped', businessId, messageId: id, attempts: record.attempts })
      : undefined;
    if (event) writes.push(event.write);
    const committed = await commitExpecting(g, writes, [
      { namespace: 'messages', key: messageKey(businessId, id), version: stored.version },
      { namespace: 'outbox', key: outboxKey(businessId, id), version: claim.version },
    ]);
    if (committed) {
      if (event) {
        g.log('warn', 'inbound message dropped: the handler failed until the redelivery limit', {
          businessId,
          messageId: id,
          attempts: record.attempts,
        });
        await handOver(g, [event.pending]);
      } else if (!delivered) {
        g.log('warn', 'message handler failed; redelivery scheduled', {
          businessId,
          messageId: id,
          attempt: record.attempts,
        });
      }
    }
  });
}

/**
 * Hands a message to the business's handler. The content buffer is the handler's once it
 * settles (the gateway keeps no reference); a handler still running when the plaintext TTL
 * runs out counts as a failed attempt and the buffer it was handed is zeroed.
 */
export async function callHandler(
  g: GatewayContext,
  handler: MessageHandler,
  message: () => InboundMessage,
): Promise<boolean> {
  const opened = message();
  const lease = g.leases.acquire(opened.content);
  const settled = (async () => handler(opened))().then(
    () => true,
    // The handler's failure is the business's; the message waits for the next attempt.
    () => false,
  );
  const delivered = await Promise.race([settled, lease.expired.then(() => false)]);
  lease.handOver();
  return delivered && !lease.revoked;
}

/** Group work, registered by the Gateway (group-hooks.ts). */
function groupHooks(g: GatewayContext): GroupHooks {
  if (!g.groupHooks) throw new ParleyError('ERR_CONFIGURATION', 'this gateway does not handle groups');
  return g.groupHooks;
}

export async function acknowledge(g: GatewayContext, frameId: string): Promise<void> {
  try {
    await g.transport.acknowledge(frameId);
  } catch (error) {
    // The message is stored; an unacknowledged frame comes back and is recognised as a duplicate.
    g.reportError(error);
  }
}

/**
 * The record of a person's message as received: its content sealed under the period key with
 * the sender's number (the number is kept only there, inside the seal).
 */
export function inboundRecord(
  g: GatewayContext,
  frame: InboundFrame,
  id: MessageId,
  fields: {
    readonly businessId: string;
    readonly pseudonym: string;
    readonly now: number;
    readonly deadline: number;
    readonly period: number;
    readonly periodKey: Uint8Array;
    readonly content: Uint8Array;
  },
): MessageRecord {
  return {
    direction: 'inbound',
    status: 'pending',
    createdAt: fields.now,
    deadline: fields.deadline,
    number: frame.to,
    pseudonym: fields.pseudonym,
    deviceId: frame.deviceId,
    attempts: 0,
    firstAttemptAt: 0,
    devices: [],
    period: fields.period,
    content: sealContent(
      g.crypto,
      g.random,
      fields.periodKey,
      contentAad(fields.businessId, id),
      frame.from,
      fields.content,
    ),
  };
}
