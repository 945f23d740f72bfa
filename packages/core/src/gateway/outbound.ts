import { copyBytes, wipe } from '../bytes.js';
import { encodeContentEnvelope } from '../content/content-envelope.js';
import { padContent } from '../content/padding.js';
import { type ErrorCode, isParleyError, ParleyError } from '../errors.js';
import type { SendPermit } from '../integrity/monitor.js';
import { pseudonym as brandPseudonym } from '../privacy/branded.js';
import type { ProtocolAddress } from '../session/address.js';
import type {
  CiphertextMessage,
  EncryptOptions,
  ProcessBundleResult,
  SessionManager,
} from '../session/session-manager.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import { backoffDelay } from './backoff.js';
import { business, businessOfNumber } from './businesses.js';
import type { PlaintextLease } from './cache/plaintext-leases.js';
import { type BusinessContext, type GatewayContext, personQueueKey } from './context.js';
import { type Claim, claimDue, claimedEntry, receiptOutboxChanges, releaseWrites } from './durable/claims.js';
import { currentDevices } from './durable/device-lists.js';
import { handOver, statusEvent } from './durable/event-outbox.js';
import { decodeStoredFrame, encodeStoredFrame } from './durable/frames.js';
import {
  frameKey,
  groupFrameKey,
  messageIndexKey,
  messageKey,
  outboxKey,
  throttleKey,
} from './durable/layout.js';
import {
  del,
  messageIndex,
  messageWrites,
  outboxPut,
  put,
  readMessage,
  readSealed,
  sealedPut,
} from './durable/message-store.js';
import { commitWithTimestamp } from './durable/message-timestamps.js';
import {
  contentAad,
  decodeMessageIndex,
  decodeTimestamp,
  encodeMessageRecord,
  encodeTimestamp,
  type MessageRecord,
  type OutboxEntry,
  openContent,
  sealContent,
} from './durable/records.js';
import type { TallyEvent } from './durable/tally-journal.js';
import { memberTag } from './group-frames.js';
import { checkSend } from './integrity-counters.js';
import { checkMediaContent, loadAttachment } from './media-content.js';
import { MAX_CONTENT_LENGTH } from './options.js';
import { expire, expired } from './retention.js';
import {
  applyAhead,
  applyAheadLoaded,
  commitExpectingWithTallies,
  newTally,
  refreshedLevel,
  refreshTally,
  settleTallies,
} from './tally.js';
import type { DeliveryReceipt, MessageId, MessageStatus, OutboundFrame, SendRequest } from './types.js';
import {
  assertArgumentObject,
  assertPhoneNumber,
  DECRYPTION_ERROR_FRAME_ID,
  MESSAGE_ID,
  parseFrameId,
} from './validation.js';

export async function send(g: GatewayContext, request: SendRequest): Promise<MessageId> {
  g.assertOpen();
  assertArgumentObject(request, 'request', 'a send request { from, to, content }');
  assertPhoneNumber(request.from, 'from');
  assertPhoneNumber(request.to, 'to');
  const given = request.content;
  const media = checkMediaContent(given);
  const length =
    typeof given === 'string'
      ? utf8Length(given)
      : given instanceof Uint8Array
        ? given.length
        : media
          ? 1
          : -1;
  // Empty content would be encrypted, delivered and billed as a message of nothing.
  if (length < 1 || length > MAX_CONTENT_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"content" expected a non-empty string or bytes of at most ${MAX_CONTENT_LENGTH} bytes`,
      { field: 'content' },
    );
  }
  const businessId = await businessOfNumber(g, request.from);
  const ctx = await business(g, businessId);
  // Before anything is counted: an unknown or expired file refuses the send.
  const attachment = media && (await loadAttachment(g, ctx, media));
  const pseudonym = g.pseudonym(ctx, request.to);
  const _recipient = brandPseudonym(pseudonym);
  const id = g.newMessageId();
  const now = g.clock.now();
  const deadline = now + ctx.retentionMs;
  // Checked against the view refreshed from the store, and counted in the same synchronous
  // step (applied to the view ahead of the commit): concurrent sends in this instance cannot
  // all pass the check before any of them is counted.
  const tally = newTally(g, ctx, { kind: 'sent', at: now, person: pseudonym, messageId: id });
  let permit: SendPermit | undefined;
  if (g.integrityConfig) {
    await refreshTally(g, ctx);
    permit = checkSend(g, g.monitor!, businessId);
  }
  applyAheadLoaded(g, [tally]);
  const { period, key } = await g.periodKeys.forDeadline(businessId, deadline);
  // Encoded only now, after every await: sealed and zeroed in one synchronous step. What is
  // sealed is the content envelope (docs/content-envelope.md) the devices will receive.
  const content = attachment
    ? attachment.encode()
    : encodeContentEnvelope(
        typeof given === 'string' ? { text: given } : { bytes: copyBytes(given as Uint8Array) },
      );
  const stored: Omit<MessageRecord, 'createdAt'> = {
    direction: 'outbound',
    status: 'accepted',
    deadline,
    number: request.from,
    pseudonym,
    deviceId: 0,
    attempts: 0,
    firstAttemptAt: 0,
    devices: [],
    period,
    content: sealContent(g.crypto, g.random, key, contentAad(businessId, id), request.to, content),
  };
  wipe(content);
  const accepted = statusEvent(g, ctx, id, 'accepted', stored);
  let notBefore = now;
  try {
    notBefore = await commitSend(g, ctx, id, stored, now, permit, [
      accepted.write,
      tally.write,
      ...(attachment?.writes(pseudonym) ?? []),
    ]);
  } catch (error) {
    settleTallies(g, [tally], false);
    throw error;
  }
  settleTallies(g, [tally], true);
  await handOver(g, [accepted.pending]);
  if (notBefore > now) {
    // Throttled: the due-time index hands it to `runDue`/`tick` at its slot.
    g.log('debug', 'send throttled by integrity rules', {
      businessId,
      messageId: id,
      delayMs: notBefore - now,
    });
  } else {
    // First attempts to one person leave in the order of their sends. processOutbound reads the
    // outbox entry, the message and its period key before it queues for the person, and on a
    // real database those reads take different times (a pool opening a connection, a busy
    // session): without this queue a later send overtook an earlier one (found on PostgreSQL).
    g.track(g.queue.run(sendOrderKey(businessId, pseudonym), () => processOutbound(g, businessId, id)));
  }
  return id;
}

/**
 * Commits a new outbound message with its writes, under a timestamp of its own (its `createdAt`,
 * unique per person: durable/message-timestamps.ts). A throttled business's message takes the
 * next free slot — one slot record shared by every instance, taken by compare-and-swap (a lost
 * race reads the slot again) — and waits for the due-time index; any other message is written
 * claimed by this instance, which works on it at once. Returns when it may first go out.
 */
export async function commitSend(
  g: GatewayContext,
  ctx: BusinessContext,
  id: MessageId,
  stored: Omit<MessageRecord, 'createdAt'>,
  now: number,
  permit: SendPermit | undefined,
  extra: readonly WriteOperation[],
  // A group message has writes of its own (group-outbound.ts): no person index or contact;
  // and it must not land in a group deleted meanwhile (`alsoExpect`).
  group?: {
    readonly writesFor: (
      record: MessageRecord,
      first: Pick<OutboxEntry, 'nextAttemptAt' | 'claimedBy'>,
    ) => WriteOperation[];
    readonly alsoExpect: readonly ExpectedVersion[];
  },
): Promise<number> {
  const writesFor =
    group?.writesFor ??
    ((record: MessageRecord, first: Pick<OutboxEntry, 'nextAttemptAt' | 'claimedBy'>) =>
      messageWrites(ctx, id, record, now, first));
  const alsoExpect = group?.alsoExpect ?? [];
  const message = { id, pseudonym: stored.pseudonym, deadline: stored.deadline };
  const interval = permit?.level === 'throttle' ? permit.minIntervalMs : undefined;
  if (interval === undefined) {
    const first = claimedEntry(g, { direction: 'outbound', deadline: stored.deadline });
    await commitWithTimestamp(
      g,
      ctx,
      message,
      now,
      (createdAt) => [...writesFor({ ...stored, createdAt }, first), ...extra],
      alsoExpect,
    );
    return now;
  }
  const key = throttleKey(ctx.id);
  return g.queue.run(`throttle/${ctx.id}`, async () => {
    for (let attempt = 1; ; attempt++) {
      const slot = await g.store.get('counters', key);
      const notBefore = Math.max(now, slot ? decodeTimestamp(slot.value) : now);
      const next = notBefore + interval;
      // The first slot may be now: then this instance sends it at once, like any other.
      const first =
        notBefore > now
          ? { nextAttemptAt: notBefore, claimedBy: '' }
          : claimedEntry(g, { direction: 'outbound', deadline: stored.deadline });
      try {
        await commitWithTimestamp(
          g,
          ctx,
          message,
          now,
          (createdAt) => [
            ...writesFor({ ...stored, createdAt }, first),
            // The slot record outlives the throttle a little; an absent slot means "now".
            put('counters', key, encodeTimestamp(next), next + THROTTLE_SLOT_GRACE_MS),
            ...extra,
          ],
          [{ namespace: 'counters', key, version: slot?.version ?? 0 }, ...alsoExpect],
        );
        return notBefore;
      } catch (error) {
        // Another instance took the slot: read it again.
        if (!isParleyError(error, 'ERR_STORE_CONFLICT') || attempt >= THROTTLE_SLOT_ATTEMPTS) throw error;
      }
    }
  });
}

/** A throttle slot record is kept this long past its slot. */
const THROTTLE_SLOT_GRACE_MS = 60 * 60_000;
/** Instances racing for one business's slot: each loss means another send took the slot. */
const THROTTLE_SLOT_ATTEMPTS = 50;

export async function retransmit(g: GatewayContext, messageId: string): Promise<void> {
  g.assertOpen();
  const id = messageId as MessageId;
  const index = await messageIndex(g, id);
  const ctx = await business(g, index.businessId);
  if (g.integrityConfig) {
    await refreshTally(g, ctx);
    checkSend(g, g.monitor!, ctx.id);
  }
  await g.queue.run(id, async () => {
    const now = g.clock.now();
    const stored = await readMessage(g, ctx, id);
    if (!stored || index.deadline <= now) throw expired(id);
    const record = stored.record;
    if (record.direction !== 'outbound') {
      throw new ParleyError('ERR_INVALID_ARGUMENT', 'only outbound messages can be retransmitted');
    }
    for (const device of record.devices) if (device.state === 'sent') device.state = 'pending';
    record.attempts = 0;
    record.firstAttemptAt = 0;
    if (record.status !== 'delivered') record.status = 'accepted';
    const key = messageKey(ctx.id, id);
    const accepted = record.status === 'accepted' ? statusEvent(g, ctx, id, 'accepted', record) : undefined;
    await g.store.commit(
      [
        sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline),
        ...outboxPut(ctx.id, id, claimedEntry(g, { direction: 'outbound', deadline: record.deadline })),
        ...(accepted ? [accepted.write] : []),
      ],
      { expectVersions: [{ namespace: 'messages', key, version: stored.version }] },
    );
    if (accepted) await handOver(g, [accepted.pending]);
  });
  g.track(processOutbound(g, ctx.id, id));
}

export async function receiveReceipt(g: GatewayContext, receipt: DeliveryReceipt): Promise<void> {
  g.assertOpen();
  assertArgumentObject(receipt, 'receipt', 'a delivery receipt { frameId }');
  // A network that confirms every frame confirms decryption-error frames too: nothing to record.
  if (typeof receipt.frameId === 'string' && DECRYPTION_ERROR_FRAME_ID.test(receipt.frameId)) return;
  const parsed = parseFrameId(receipt.frameId);
  if (!parsed)
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"frameId" is not a frame id this gateway issued');
  if (parsed.member !== undefined) return g.groupHooks?.receipt(parsed);
  const index = await g.store.get('meta', messageIndexKey(parsed.id));
  if (!index) return;
  const { businessId } = decodeMessageIndex(index.value);
  const ctx = await business(g, businessId);
  // The message record is also written by the instance that sent the frame (its attempt's
  // commit may land after the device already confirmed, through another instance): a receipt
  // that loses that race reads the record again instead of being dropped.
  for (let attempt = 1; ; attempt++) {
    const outcome = await g.queue.run(parsed.id, () =>
      applyReceipt(g, ctx, { ...parsed, frameId: receipt.frameId }),
    );
    if (outcome !== 'conflict') return;
    if (attempt >= RECEIPT_ATTEMPTS)
      throw new ParleyError('ERR_STORE_CONFLICT', 'the message kept changing while its receipt was recorded');
  }
}

/** Writers racing on one message record: each loss means another change landed. */
const RECEIPT_ATTEMPTS = 16;

async function applyReceipt(
  g: GatewayContext,
  ctx: BusinessContext,
  parsed: { readonly id: MessageId; readonly deviceId: number; readonly frameId: string },
): Promise<'done' | 'conflict'> {
  const businessId = ctx.id;
  const stored = await readMessage(g, ctx, parsed.id);
  if (stored?.record.direction !== 'outbound') return 'done';
  const record = stored.record;
  let device = record.devices.find((candidate) => candidate.id === parsed.deviceId);
  // The record lists a message's devices from its last attempt's commit. A device missing
  // from it may still hold a frame: the gateway stores each frame with the session update,
  // before the transport, and the attempt that sent it may not have committed yet (on this or
  // another instance) or may have died first. Its receipt counts when it names the stored frame.
  const unlisted = !device;
  if (!device) {
    const frame = await readSealed(g, ctx, 'outbox', frameKey(businessId, parsed.id, parsed.deviceId));
    if (!frame || decodeStoredFrame(frame).frameId !== parsed.frameId) return 'done';
    device = { id: parsed.deviceId, state: 'pending' };
    record.devices.push(device);
  }
  return commitReceipt(g, ctx, { id: parsed.id, record, version: stored.version }, device, {
    unlisted,
    frameKey: frameKey(businessId, parsed.id, parsed.deviceId),
    delivered: { kind: 'delivered', at: g.clock.now(), person: record.pseudonym, messageId: parsed.id },
  });
}

/**
 * What a device's receipt commits, for a 1:1 or a group message: the device marked delivered,
 * the outbox entry and the device's stored frame settled (durable/claims.ts) — not the entry
 * when the device was unlisted: a list that missed one device may miss others, and the next
 * attempt sets it right — and, at the first device, the `delivered` status event (reported
 * once; later devices show in the status query — README "Delivery guarantees") with its count.
 */
export async function commitReceipt(
  g: GatewayContext,
  ctx: BusinessContext,
  message: { readonly id: MessageId; readonly record: MessageRecord; readonly version: number },
  device: MessageRecord['devices'][number],
  receipt: { readonly unlisted: boolean; readonly frameKey: string; readonly delivered: TallyEvent },
): Promise<'done' | 'conflict'> {
  const { id, record } = message;
  if (device.state === 'delivered') return 'done';
  device.state = 'delivered';
  const first = record.status !== 'delivered';
  record.status = 'delivered';
  const key = messageKey(ctx.id, id);
  const writes: WriteOperation[] = [
    sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline),
  ];
  const expect: ExpectedVersion[] = [{ namespace: 'messages', key, version: message.version }];
  const outbox = await receiptOutboxChanges(g, ctx.id, id, {
    frameKey: receipt.frameKey,
    nothingLeft: !receipt.unlisted && record.devices.every((candidate) => candidate.state !== 'pending'),
  });
  writes.push(...outbox.writes);
  expect.push(...outbox.expect);
  const delivered = first ? statusEvent(g, ctx, id, 'delivered', record) : undefined;
  if (delivered) writes.push(delivered.write);
  const tallies = delivered ? [newTally(g, ctx, receipt.delivered)] : [];
  const committed = await commitExpectingWithTallies(g, writes, tallies, expect);
  if (!committed) return 'conflict';
  if (delivered) await handOver(g, [delivered.pending]);
  return 'done';
}

export async function messageStatus(g: GatewayContext, messageId: string): Promise<MessageStatus> {
  g.assertOpen();
  if (typeof messageId !== 'string' || !MESSAGE_ID.test(messageId)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"messageId" expected a message id this gateway issued', {
      field: 'messageId',
    });
  }
  const id = messageId as MessageId;
  const index = await messageIndex(g, id);
  const ctx = await business(g, index.businessId);
  const stored = await readMessage(g, ctx, id);
  if (!stored) {
    if (index.deadline <= g.clock.now()) throw expired(id);
    throw new ParleyError('ERR_NOT_FOUND', 'no such message (never sent, or erased)');
  }
  const { record } = stored;
  return {
    messageId: id,
    businessId: ctx.id,
    direction: record.direction,
    status: record.status,
    devices: record.devices.map((device) => ({
      deviceId: device.id,
      state: device.state,
      ...(device.member === undefined ? {} : { member: device.member }),
    })),
    ...(record.group === undefined ? {} : { group: record.group }),
    attempts: record.attempts,
    createdAt: record.createdAt,
    deadline: record.deadline,
  };
}

/** First attempts of sends to one person, in send order (distinct from the person queue they enter next). */
function sendOrderKey(businessId: string, pseudonym: string): string {
  return `send-order/${businessId}/${pseudonym}`;
}

/** One sending attempt of an outbound message, if it is due. */
export function processOutbound(g: GatewayContext, businessId: string, id: MessageId): Promise<void> {
  return g.queue.run(id, async () => {
    const ctx = await business(g, businessId);
    const now = g.clock.now();
    // Exactly one instance works on a message at a time (durable/claims.ts).
    const claim = await claimDue(g, businessId, id);
    if (!claim) return;
    if ('expired' in claim) return expire(g, businessId, id, claim.expired.direction);
    const stored = await readMessage(g, ctx, id);
    const periodKey = stored && (await g.periodKeys.forPeriod(businessId, stored.record.period));
    if (!stored || !periodKey) return expire(g, businessId, id, 'outbound');
    const record = stored.record;
    // A first attempt right after `send` was checked there; a throttled (deferred) message
    // and every retry are checked again here: nothing of a blocked business reaches the
    // transport after the block.
    const deferred = record.attempts > 0 || record.status !== 'accepted' || claim.taken;
    if (deferred && g.integrityConfig && (await refreshedLevel(g, ctx)) === 'block') {
      return failBlocked(g, ctx, id, claim, stored);
    }
    const aad = contentAad(businessId, id);
    const opened = openContent(g.crypto, periodKey, aad, record.content);
    const phoneNumber = opened.phoneNumber;
    wipe(opened.content);
    // Content is opened again for each device, right before it is encrypted, and zeroed
    // right after: nothing holds it while the directory or the transport is awaited. After
    // the TTL revoked a buffer, the record is read again from the store.
    const open: OpenContent = async (reread) => {
      let sealed = record.content;
      if (reread) {
        const again = await readMessage(g, ctx, id);
        if (!again) throw new ParleyError('ERR_NOT_FOUND', 'the message was erased or expired meanwhile');
        sealed = again.record.content;
      }
      const { content } = openContent(g.crypto, periodKey, aad, sealed);
      const lease = g.leases.acquire(content);
      const plaintext = g.paddingBlock === false ? content : lease.add(padContent(content, g.paddingBlock));
      return { lease, plaintext };
    };
    record.attempts += 1;
    if (record.firstAttemptAt === 0) record.firstAttemptAt = now;
    let failure: ErrorCode | undefined;
    // One person at a time: an erasure waits for this attempt, and this attempt, once it
    // runs after an erasure, finds the message gone and builds no session.
    const erased = await g.queue.run(personQueueKey(businessId, record.pseudonym), async () => {
      // A group message goes to its members' devices instead (group-outbound.ts, by the Gateway's hook).
      if (record.group !== undefined)
        return groupAttempt(g, ctx, id, record, open, claim, (code) => (failure ??= code));
      if (!(await g.store.get('messages', messageKey(businessId, id)))) return true;
      try {
        addressDevices(record, await currentDevices(g, ctx, phoneNumber, record.pseudonym));
        const sessions = g.sessions(ctx, record.number);
        for (const device of record.devices) {
          if (device.state !== 'pending') continue;
          try {
            const frame = await deviceFrame(
              g,
              ctx,
              sessions,
              { record, id, claim },
              device.id,
              phoneNumber,
              open,
            );
            await g.transport.send(frame);
            device.state = 'sent';
          } catch (error) {
            failure ??= failureReason(error);
          }
        }
      } catch (error) {
        failure ??= failureReason(error);
      }
      return false;
    });
    if (erased) return;
    let current = { record, version: stored.version };
    let ended = await endAttempt(g, ctx, id, claim, current, now, failure);
    // A receipt (on this or another instance) changed the record meanwhile: what this attempt
    // sent is merged into the record as it is now, unless the claim itself was ended.
    for (let retry = 0; !ended && retry < END_ATTEMPT_RETRIES; retry++) {
      const fresh = await readMessage(g, ctx, id);
      const entry = await g.store.get('outbox', outboxKey(businessId, id));
      if (!fresh || entry?.version !== claim.version) return;
      mergeAttempt(fresh.record, current.record);
      current = fresh;
      ended = await endAttempt(g, ctx, id, claim, current, now, failure);
    }
  });
}

/** Re-reads after a lost race at the end of an attempt (each loss: another change landed). */
const END_ATTEMPT_RETRIES = 8;

/** Carries an attempt's outcome (devices it sent to, attempt count) into a record read again. */
function mergeAttempt(fresh: MessageRecord, attempt: MessageRecord): void {
  fresh.attempts = Math.max(fresh.attempts, attempt.attempts);
  if (fresh.firstAttemptAt === 0) fresh.firstAttemptAt = attempt.firstAttemptAt;
  for (const device of attempt.devices) {
    // A group message's devices are told apart by their member too.
    const known = fresh.devices.find(
      (candidate) => candidate.id === device.id && candidate.member === device.member,
    );
    if (!known) fresh.devices.push({ ...device });
    else if (known.state === 'pending') known.state = device.state;
  }
}

/**
 * Records the end of an attempt: the message's new state, the claim released (or the next
 * attempt scheduled), and its status event, in one commit. False when another writer changed
 * the record or the claim first.
 */
async function endAttempt(
  g: GatewayContext,
  ctx: BusinessContext,
  id: MessageId,
  claim: Claim,
  stored: { readonly record: MessageRecord; readonly version: number },
  now: number,
  failure: ErrorCode | undefined,
): Promise<boolean> {
  const businessId = ctx.id;
  const { record } = stored;
  const key = messageKey(businessId, id);
  let status: 'sent' | 'failed' | undefined;
  let next: number | undefined;
  const allSent = record.devices.length > 0 && record.devices.every((device) => device.state !== 'pending');
  if (allSent) {
    if (record.status !== 'delivered' && record.status !== 'sent') status = 'sent';
  } else if (record.attempts >= g.maxSendAttempts) {
    if (record.status !== 'delivered') status = 'failed';
  } else {
    next = now + backoffDelay(g.sendBackoff, record.attempts, g.random);
  }
  if (status) record.status = status;
  // The attempt ends the claim: the entry goes (sent or failed) or waits for the next attempt.
  const writes: WriteOperation[] = [
    ...releaseWrites(businessId, id, claim, next),
    sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline),
  ];
  // Frames of devices that confirmed while this claim was held were left for it (applyReceipt).
  for (const device of record.devices) {
    if (device.state !== 'delivered') continue;
    // A group message's member device: its stored distribution frame (group-frames.ts).
    const stored =
      device.member === undefined
        ? frameKey(businessId, id, device.id)
        : groupFrameKey(businessId, id, memberTag(g, id, device.member), device.id);
    writes.push(del('outbox', stored));
  }
  const event = status && statusEvent(g, ctx, id, status, record, status === 'failed' ? failure : undefined);
  if (event) writes.push(event.write);
  const tallies =
    status === 'failed'
      ? [newTally(g, ctx, { kind: 'failed', at: now, messageId: id, integrity: true })]
      : [];
  const committed = await commitExpectingWithTallies(g, writes, tallies, [
    { namespace: 'messages', key, version: stored.version },
    { namespace: 'outbox', key: outboxKey(businessId, id), version: claim.version },
  ]);
  if (!committed) return false;
  if (status === 'failed') {
    g.log('warn', 'message failed: sending attempts exhausted', {
      businessId,
      messageId: id,
      attempts: record.attempts,
      code: failure,
    });
  } else if (next !== undefined) {
    g.log('warn', 'sending attempt failed; retry scheduled', {
      businessId,
      messageId: id,
      attempt: record.attempts,
      code: failure,
      retryInMs: next - now,
    });
  }
  if (event) await handOver(g, [event.pending]);
  return true;
}

/** A queued message of a blocked business: failed with `ERR_INTEGRITY_BLOCKED`, never sent. */
async function failBlocked(
  g: GatewayContext,
  ctx: BusinessContext,
  id: MessageId,
  claim: Claim,
  stored: { record: MessageRecord; version: number },
): Promise<void> {
  const businessId = ctx.id;
  const record = stored.record;
  const key = messageKey(businessId, id);
  const fails = record.status !== 'delivered';
  if (fails) record.status = 'failed';
  const writes: WriteOperation[] = [
    ...releaseWrites(businessId, id, claim, undefined),
    sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline),
  ];
  const event = fails ? statusEvent(g, ctx, id, 'failed', record, 'ERR_INTEGRITY_BLOCKED') : undefined;
  if (event) writes.push(event.write);
  // A blocked business's message fails without counting against its delivery quality.
  const tallies = fails
    ? [newTally(g, ctx, { kind: 'failed', at: g.clock.now(), messageId: id, integrity: false })]
    : [];
  const committed = await commitExpectingWithTallies(g, writes, tallies, [
    { namespace: 'messages', key, version: stored.version },
    { namespace: 'outbox', key: outboxKey(businessId, id), version: claim.version },
  ]);
  if (!committed || !event) return;
  g.log('warn', 'queued message failed: the business is blocked by integrity rules', {
    businessId,
    messageId: id,
  });
  await handOver(g, [event.pending]);
}

/**
 * The frame for one device: the one stored when the message was first encrypted for it, or a
 * new encryption whose ciphertext is stored in the session's own commit (expecting none stored
 * yet). So a retry after a failed send, a crash, or another instance taking over resends the
 * very same bytes under the same frame id: the device sees a duplicate, never a second copy.
 */
async function deviceFrame(
  g: GatewayContext,
  ctx: BusinessContext,
  sessions: SessionManager,
  attempt: { readonly record: MessageRecord; readonly id: MessageId; readonly claim: Claim },
  deviceId: number,
  phoneNumber: string,
  open: OpenContent,
): Promise<OutboundFrame> {
  const { record, id, claim } = attempt;
  const key = frameKey(ctx.id, id, deviceId);
  const storedFrame = await readSealed(g, ctx, 'outbox', key);
  // Every frame of a message carries its timestamp (what a decryption error about it names).
  const timestamp = record.createdAt;
  if (storedFrame)
    return { ...decodeStoredFrame(storedFrame), from: record.number, to: phoneNumber, deviceId, timestamp };
  const frameId = `${id}.${deviceId}.${record.attempts}`;
  const address = { name: record.pseudonym, deviceId };
  const message = await encryptFor(g, ctx, sessions, address, phoneNumber, record.number, open, {
    alsoWrite: (encrypted) => [
      sealedPut(ctx, 'outbox', key, encodeStoredFrame({ frameId, ...encrypted }), record.deadline),
    ],
    // No frame stored yet, and this attempt still holds its claim: an attempt that overran its
    // lease (another instance took the message over, maybe finished it and dropped the frames
    // of confirmed devices) must not encrypt the message again.
    alsoExpect: [
      { namespace: 'outbox', key, version: 0 },
      { namespace: 'outbox', key: outboxKey(ctx.id, id), version: claim.version },
    ],
  });
  return {
    frameId,
    from: record.number,
    to: phoneNumber,
    deviceId,
    type: message.type,
    body: message.body,
    timestamp,
  };
}

/**
 * Brings a message's device list up to date for this attempt: devices new to the person get
 * the message too; devices that left and never got it are dropped (there is no one to send
 * to); devices that already got it stay listed.
 */
export function addressDevices(record: MessageRecord, devices: readonly number[]): void {
  const kept = record.devices.filter((device) => device.state !== 'pending' || devices.includes(device.id));
  for (const deviceId of devices) {
    if (!kept.some((device) => device.id === deviceId)) kept.push({ id: deviceId, state: 'pending' });
  }
  record.devices = kept;
}

export async function encryptFor(
  g: GatewayContext,
  ctx: BusinessContext,
  sessions: SessionManager,
  address: ProtocolAddress,
  phoneNumber: string,
  number: string,
  open: OpenContent,
  options?: EncryptOptions,
): Promise<CiphertextMessage> {
  if (!(await sessions.hasSession(address)))
    await startSession(g, ctx, sessions, address, phoneNumber, number);
  try {
    return await encryptLeased(sessions, address, open, options);
  } catch (error) {
    // A session the device never answered is too old to use, or it vanished: start over.
    if (!isParleyError(error, 'ERR_SESSION_EXPIRED') && !isParleyError(error, 'ERR_SESSION_NOT_FOUND'))
      throw error;
    const replace = isParleyError(error, 'ERR_SESSION_EXPIRED');
    await startSession(g, ctx, sessions, address, phoneNumber, number, replace);
    return encryptLeased(sessions, address, open, options);
  }
}

/**
 * Encrypts freshly opened content and zeroes it. When the plaintext TTL ran out while the
 * session store was awaited, the buffer may have been zeroed before it was encrypted: that
 * ciphertext is discarded (the ratchet skips a counter, which the receiver tolerates) and the
 * content is read again from the store.
 */
export async function encryptLeased(
  sessions: SessionManager,
  address: ProtocolAddress,
  open: OpenContent,
  options?: EncryptOptions,
): Promise<CiphertextMessage> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    const { lease, plaintext } = await open(attempt > 1);
    try {
      const message = await sessions.encrypt(address, plaintext, options);
      if (!lease.revoked) return message;
    } finally {
      lease.release();
    }
  }
  throw new ParleyError(
    'ERR_STORE_FAILURE',
    'the session store took longer than plaintextTtlMs twice; the content was not kept in memory',
  );
}

export async function startSession(
  g: GatewayContext,
  ctx: BusinessContext,
  sessions: SessionManager,
  address: ProtocolAddress,
  phoneNumber: string,
  number: string,
  replace = false,
): Promise<void> {
  const bundle = await g.directory.fetchBundle(phoneNumber, address.deviceId);
  // Counted in the session's own commit. A first session is started only if none exists by
  // then: another instance sending to the same new person at once may have started one, and
  // the person would otherwise get two sessions (and the statistics two).
  const tally = newTally(g, ctx, { kind: 'session', at: g.clock.now() });
  await applyAhead(g, [tally]);
  let result: ProcessBundleResult;
  try {
    result = await sessions.processBundle(address, bundle, {
      ifNoSession: !replace,
      alsoWrite: [tally.write],
    });
  } catch (error) {
    settleTallies(g, [tally], false);
    throw error;
  }
  settleTallies(g, [tally], result.established);
  if (result.identityChange) {
    g.log('info', 'a person’s identity key changed; the new one is accepted', { businessId: ctx.id });
    g.emit(ctx.id, {
      type: 'identity-changed',
      eventId: g.newEventId(),
      at: g.clock.now(),
      businessId: ctx.id,
      number,
      phoneNumber,
      deviceId: address.deviceId,
    });
  }
}

/** A group message's attempt (group-outbound.ts): true when the message was erased meanwhile. */
async function groupAttempt(
  g: GatewayContext,
  ctx: BusinessContext,
  id: MessageId,
  record: MessageRecord,
  open: OpenContent,
  claim: Claim,
  failed: (code: ErrorCode) => void,
): Promise<boolean> {
  if (!g.groupHooks) throw new ParleyError('ERR_CONFIGURATION', 'this gateway does not handle groups');
  const attempt = await g.groupHooks.attempt(ctx, id, record, open, {
    namespace: 'outbox',
    key: outboxKey(ctx.id, id),
    version: claim.version,
  });
  if (attempt.failure) failed(attempt.failure);
  return attempt.erased === true;
}

export const BUSINESS_DEVICE_ID = 1;

/** Opens an outbound message's content under a plaintext lease; `reread`: from the store. */
export type OpenContent = (reread: boolean) => Promise<{ lease: PlaintextLease; plaintext: Uint8Array }>;

/** UTF-8 length without encoding (an encoded copy would be plaintext nobody zeroes). */
export function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 4;
      i += 1;
    } else length += 3;
  }
  return length;
}

/** A Parley error keeps its code; anything else came from the transport or the directory. */
export function failureReason(error: unknown): ErrorCode {
  return isParleyError(error) ? error.code : 'ERR_TRANSPORT_FAILURE';
}
