import { toHex, utf8, wipe } from '../bytes.js';
import { contentBytes, decodeMessagePlaintext } from '../content/message-plaintext.js';
import { unpadContent } from '../content/padding.js';
import { isParleyError, ParleyError } from '../errors.js';
import { pseudonym as brandPseudonym } from '../privacy/branded.js';
import type { ProtocolAddress } from '../session/address.js';
import type { IdentityChange } from '../session/session-manager.js';
import type { WriteOperation } from '../storage/contract.js';
import { backoffDelay } from './backoff.js';
import { business, businessOfNumber } from './businesses.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { deviceListWrite, readDeviceList } from './durable/device-lists.js';
import { handOver, newEvent } from './durable/event-outbox.js';
import { dueKey, messageKey, outboxKey, retryLimitKey, seenKey } from './durable/layout.js';
import {
  commitIfUnchanged,
  del,
  dueAt,
  messageWrites,
  outboxPut,
  readMessage,
  sealedPut,
} from './durable/message-store.js';
import {
  contentAad,
  decodeOutboxEntry,
  encodeMessageRecord,
  type MessageRecord,
  openContent,
  sealContent,
} from './durable/records.js';
import type { GroupHooks } from './group-hooks.js';
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
          const record: MessageRecord = {
            direction: 'inbound',
            status: 'pending',
            createdAt: now,
            deadline,
            number: frame.to,
            pseudonym,
            deviceId: frame.deviceId,
            attempts: 0,
            firstAttemptAt: 0,
            devices: [],
            period,
            content: sealContent(
              g.crypto,
              g.random,
              periodKey,
              contentAad(businessId, id),
              frame.from,
              content,
            ),
          };
          // Nothing holds plaintext while the commit is awaited.
          wipe(content, decrypted.plaintext);
          const writes = [
            // Nothing for the business when the envelope carried only the distribution message.
            ...(distribution?.only ? [] : messageWrites(ctx, id, record, now)),
            ...(distribution ? [distribution.write] : []),
            sealedPut(ctx, 'meta', seen, new Uint8Array(0), deadline),
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
          return writes;
        },
      },
    );
    identityChange = result.identityChange;
    newSession = result.newSession;
    wipe(result.plaintext);
  } catch (error) {
    return undecryptable(g, ctx, frame, pseudonym, error);
  }
  if (distribution) {
    await groupHooks(g).storeDistributions(ctx, frame.to, { pseudonym, deviceId: frame.deviceId });
    if (distribution.only) {
      if (newSession) g.ledger?.recordSessionEstablished({ businessId });
      await acknowledge(g, frame.frameId);
      return { kind: 'distribution' };
    }
  }
  const sender = brandPseudonym(pseudonym);
  if (g.monitor) {
    g.monitor.recordReceived({ businessId, sender });
    g.integrityDirty.add(businessId);
  }
  g.ledger?.recordReceived({ businessId, sender });
  if (newSession) g.ledger?.recordSessionEstablished({ businessId });
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
  g.track(deliver(g, businessId, id));
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
  // Rate limit: the marker expires after the interval (store expiry, injected clock).
  const limitKey = retryLimitKey(ctx.id, frame.to, pseudonym, frame.deviceId);
  let retryRequested = false;
  try {
    await g.store.commit(
      [sealedPut(ctx, 'meta', limitKey, new Uint8Array(0), g.clock.now() + g.retryRequestIntervalMs)],
      { expectVersions: [{ namespace: 'meta', key: limitKey, version: 0 }] },
    );
    retryRequested = true;
  } catch (commitError) {
    if (!isParleyError(commitError, 'ERR_STORE_CONFLICT')) throw commitError;
  }
  if (retryRequested) {
    await g.transport.requestRetry({
      from: frame.to,
      to: frame.from,
      deviceId: frame.deviceId,
      frameId: frame.frameId,
      reason: error.code,
      ...(frame.groupId === undefined ? {} : { groupId: frame.groupId }),
    });
  }
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
    const entryRecord = await g.store.get('outbox', outboxKey(businessId, id));
    const entry = entryRecord && decodeOutboxEntry(entryRecord.value);
    if (!entry || entry.nextAttemptAt > now) return;
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
        content,
      };
    });
    // This attempt spends the entry's hint in the time index.
    const writes: WriteOperation[] = [del('outbox', dueKey(dueAt(entry), businessId, id))];
    let dropped = false;
    const limit = record.firstAttemptAt + g.redeliveryLimitMs;
    if (delivered) {
      record.status = 'delivered';
      writes.push(del('outbox', outboxKey(businessId, id)));
    } else if (now >= limit) {
      record.status = 'dropped';
      dropped = true;
      writes.push(del('outbox', outboxKey(businessId, id)));
    } else {
      const next = Math.min(now + backoffDelay(g.redeliveryBackoff, record.attempts, g.random), limit);
      writes.push(...outboxPut(businessId, id, 'inbound', next, record.deadline));
    }
    writes.push(
      sealedPut(ctx, 'messages', messageKey(businessId, id), encodeMessageRecord(record), record.deadline),
    );
    const event = dropped
      ? newEvent(g, ctx, { type: 'dropped', businessId, messageId: id, attempts: record.attempts })
      : undefined;
    if (event) writes.push(event.write);
    if (await commitIfUnchanged(g, writes, 'messages', messageKey(businessId, id), stored.version)) {
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
