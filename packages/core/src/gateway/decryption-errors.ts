import { ByteReader, ByteWriter } from '../binary.js';
import { bytesEqual, toHex } from '../bytes.js';
import { type ErrorCode, isParleyError } from '../errors.js';
import type { ProtocolAddress } from '../session/address.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import {
  type DecryptionErrorMessage,
  decodeDecryptionErrorContent,
  decryptionErrorFor,
  encodeDecryptionErrorContent,
  type FailedMessageType,
  sendingRatchetKey,
} from '../wire/index.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { claimedEntry } from './durable/claims.js';
import { decodeStoredFrame } from './durable/frames.js';
import {
  answeredKey,
  frameKey,
  messageKey,
  outboxKey,
  retryLimitKey,
  sessionResetKey,
} from './durable/layout.js';
import { del, outboxPut, readMessage, sealedPut } from './durable/message-store.js';
import { messageAt } from './durable/message-timestamps.js';
import { decodeOutboxEntry, encodeMessageRecord, type MessageRecord } from './durable/records.js';
import { RETRY_REQUESTS_PER_INTERVAL } from './options.js';
import { BUSINESS_DEVICE_ID, processOutbound } from './outbound.js';
import type { InboundFrame, MessageId, ReceiveOutcome } from './types.js';

/**
 * Retries in Signal's format, both ways (libsignal `DecryptionErrorMessage` in a
 * `PlaintextContent`, ciphertext type 8; docs/flows.md has the sequence diagrams).
 *
 * Asking: a frame from a person's device that cannot be decrypted is answered with a
 * decryption-error message naming that frame's timestamp, ratchet key and device, sent through
 * `transport.send` as a type-8 frame — what Signal clients understand: the device resends the
 * message and, when the ratchet key is its current session's, archives that session and sends
 * from a new one. A few per device per retry interval (`RETRY_REQUESTS_PER_INTERVAL`); the
 * transport's optional `requestRetry` hook is called with each.
 *
 * Answering: a decryption-error message from a person's device about a frame of the business's
 * is acted on only as far as it matches what this gateway sent that device:
 * - resend: the message the named timestamp claims for that person is sent to that device again
 *   when the frame stored for the device (kept until its receipt) was sent on the named ratchet
 *   key — once per message and device (a replay is ignored), while the message is still in the
 *   retention window;
 * - restart: the session with the device is archived when it still sends on the named ratchet
 *   key — at most once per device per retry interval — so the resend (or the next message)
 *   starts a new session from a fresh bundle.
 * An error naming another device of the business, a made-up or stale ratchet key, a timestamp
 * sent to someone else, or arriving again changes no stored byte.
 */

// ── Asking: a type-8 frame for a frame that could not be decrypted ───────────────────

/** What an undecryptable frame came as, for the decryption error that names it. */
export interface FailedFrame {
  /** Business number it was sent to. */
  readonly number: string;
  /** The person's phone number and pseudonym, and the device that sent it. */
  readonly phoneNumber: string;
  readonly pseudonym: string;
  readonly deviceId: number;
  /** The frame as it came: 2 or 3 (1:1), 7 (a group's sender-key message). */
  readonly type: FailedMessageType;
  readonly body: Uint8Array;
  /** Its sender's timestamp (0 when the transport gave none). */
  readonly timestamp: number;
  /** The transport's frame id (for the `requestRetry` hook). */
  readonly frameId: string;
  readonly reason: ErrorCode;
  /** A group message's group (type 7), for the `requestRetry` hook. */
  readonly groupId?: string | undefined;
}

/**
 * Asks the device to resend a frame the gateway could not decrypt (1:1, or a group message
 * whose sender key is missing); true when a decryption-error frame went out or the transport's
 * hook was told.
 */
export function requestRetry(
  g: GatewayContext,
  ctx: BusinessContext,
  frame: InboundFrame,
  pseudonym: string,
  reason: ErrorCode,
): Promise<boolean> {
  return sendDecryptionError(g, ctx, {
    number: frame.to,
    phoneNumber: frame.from,
    pseudonym,
    deviceId: frame.deviceId,
    type: frame.type as FailedMessageType,
    body: frame.body,
    timestamp: frame.timestamp ?? 0,
    frameId: frame.frameId,
    reason,
    ...(frame.groupId === undefined ? {} : { groupId: frame.groupId }),
  });
}

/**
 * The decryption-error frame for any failed frame — also the hook for groups: a sender-key
 * message (type 7) that fails with `ERR_SENDER_KEY_NOT_FOUND` is passed here as it came, and
 * the error names no ratchet key (the sender then resends with its distribution message).
 * A frame that does not parse names nothing a device could act on: no frame is sent for it.
 */
export async function sendDecryptionError(
  g: GatewayContext,
  ctx: BusinessContext,
  failed: FailedFrame,
): Promise<boolean> {
  let message: DecryptionErrorMessage | undefined;
  try {
    message = decryptionErrorFor({ type: failed.type, body: failed.body }, failed.timestamp, failed.deviceId);
  } catch (error) {
    if (!isParleyError(error)) throw error;
  }
  const hook = g.transport.requestRetry;
  if (!message && !hook) return false;
  if (!(await takeRetryRequest(g, ctx, failed))) return false;
  let asked = false;
  if (message) {
    try {
      await g.transport.send({
        // Random, like message ids: nothing about the person or the frame it answers.
        frameId: `r${toHex(g.random(16))}`,
        from: failed.number,
        to: failed.phoneNumber,
        deviceId: failed.deviceId,
        type: 8,
        body: encodeDecryptionErrorContent(message),
        timestamp: g.clock.now(),
      });
      asked = true;
    } catch (error) {
      // The device will fail on its next frame too and be asked then.
      g.reportError(error);
    }
  }
  if (hook) {
    try {
      await hook.call(g.transport, {
        from: failed.number,
        to: failed.phoneNumber,
        deviceId: failed.deviceId,
        frameId: failed.frameId,
        reason: failed.reason,
        ...(failed.groupId === undefined ? {} : { groupId: failed.groupId }),
      });
      asked = true;
    } catch (error) {
      g.reportError(error);
    }
  }
  return asked;
}

const RETRY_COUNT_FORMAT = 1;
/** Another instance counting the same device at once: re-read a few times, then count it as spent. */
const MAX_COUNT_ATTEMPTS = 3;

/** Takes one request from the device's allowance for the current retry interval. */
async function takeRetryRequest(
  g: GatewayContext,
  ctx: BusinessContext,
  failed: FailedFrame,
): Promise<boolean> {
  const key = retryLimitKey(ctx.id, failed.number, failed.pseudonym, failed.deviceId);
  for (let attempt = 0; attempt < MAX_COUNT_ATTEMPTS; attempt++) {
    const now = g.clock.now();
    const stored = await g.store.get('meta', key);
    let count = 0;
    let windowEnd = now + g.retryRequestIntervalMs;
    if (stored) {
      const value = ctx.sealer.open('meta', key, stored.value);
      if (value.length === 0) {
        // A marker from before counts were kept: one request, until the record expires.
        count = 1;
        windowEnd = stored.expiresAt ?? windowEnd;
      } else {
        const r = new ByteReader(value, 'retry requests');
        if (r.u8() !== RETRY_COUNT_FORMAT) r.fail('unknown format');
        count = r.u32();
        windowEnd = r.u64();
        r.end();
      }
    }
    if (count >= RETRY_REQUESTS_PER_INTERVAL) return false;
    const value = new ByteWriter(16)
      .u8(RETRY_COUNT_FORMAT)
      .u32(count + 1)
      .u64(windowEnd)
      .finish();
    try {
      await g.store.commit([sealedPut(ctx, 'meta', key, value, windowEnd)], {
        expectVersions: [{ namespace: 'meta', key, version: stored?.version ?? 0 }],
      });
      return true;
    } catch (error) {
      if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
    }
  }
  return false;
}

// ── Answering: a type-8 frame from a person's device ─────────────────────────────────

/**
 * Acts on a decryption-error message from a person's device (see the module comment). The
 * caller acknowledges the frame whatever the outcome.
 */
export async function receiveDecryptionError(
  g: GatewayContext,
  ctx: BusinessContext,
  frame: InboundFrame,
  pseudonym: string,
): Promise<ReceiveOutcome> {
  let error: DecryptionErrorMessage;
  try {
    error = decodeDecryptionErrorContent(frame.body);
  } catch (failure) {
    if (!isParleyError(failure)) throw failure;
    g.log('warn', 'a type-8 frame is not a decryption-error message', {
      businessId: ctx.id,
      code: failure.code,
    });
    // Never a decryption error about a decryption error (libsignal refuses one for plaintext).
    return { kind: 'undecryptable', reason: failure.code, retryRequested: false };
  }
  const ignored: ReceiveOutcome = { kind: 'decryption-error', resent: false, sessionArchived: false };
  if (error.deviceId !== BUSINESS_DEVICE_ID) {
    // About a frame from another device of ours (a business number has only device 1).
    g.log('info', 'decryption error about another device: ignored', { businessId: ctx.id });
    return ignored;
  }
  if (!error.ratchetKey) {
    const resent = await resendGroupMessage(g, ctx, {
      pseudonym,
      deviceId: frame.deviceId,
      timestamp: error.timestamp,
    });
    return { ...ignored, resent };
  }
  const ratchetKey = error.ratchetKey;
  const named = await messageAt(g, ctx, pseudonym, error.timestamp);
  const act = () => answer(g, ctx, frame, pseudonym, error, ratchetKey, named);
  // The message's own queue: no sending attempt of it runs while its device is set back.
  const outcome = named ? await g.queue.run(named, act) : await act();
  if (outcome.resent && named) g.track(processOutbound(g, ctx.id, named));
  g.log(
    outcome.resent || outcome.sessionArchived ? 'info' : 'debug',
    'decryption error from a person’s device',
    {
      businessId: ctx.id,
      resent: outcome.resent,
      sessionArchived: outcome.sessionArchived,
      ...(outcome.reason ? { code: outcome.reason } : {}),
    },
  );
  return outcome;
}

async function answer(
  g: GatewayContext,
  ctx: BusinessContext,
  frame: InboundFrame,
  pseudonym: string,
  error: DecryptionErrorMessage,
  ratchetKey: Uint8Array,
  named: MessageId | undefined,
): Promise<Extract<ReceiveOutcome, { kind: 'decryption-error' }>> {
  const resend = named
    ? await resendWrites(g, ctx, { frame, pseudonym, timestamp: error.timestamp, ratchetKey, id: named })
    : undefined;
  const address: ProtocolAddress = { name: pseudonym, deviceId: frame.deviceId };
  const resetKey = sessionResetKey(ctx.id, frame.to, pseudonym, frame.deviceId);
  let sessionArchived = false;
  if (!(await g.store.get('meta', resetKey))) {
    try {
      sessionArchived = await g.sessions(ctx, frame.to).archiveSession(address, {
        ifRatchetKey: ratchetKey,
        alsoWrite: [
          ...(resend?.writes ?? []),
          sealedPut(ctx, 'meta', resetKey, new Uint8Array(0), g.clock.now() + g.retryRequestIntervalMs),
        ],
        alsoExpect: [...(resend?.expect ?? []), { namespace: 'meta', key: resetKey, version: 0 }],
      });
    } catch (failure) {
      // ERR_PEER_REQUIRES_SPQR (sessions with SPQR off), or another instance acting on the
      // same error first (a conflict): nothing was written.
      if (!isParleyError(failure, 'ERR_PEER_REQUIRES_SPQR') && !isParleyError(failure, 'ERR_STORE_CONFLICT'))
        throw failure;
      return { kind: 'decryption-error', resent: false, sessionArchived: false, reason: failure.code };
    }
  }
  if (sessionArchived || !resend)
    return { kind: 'decryption-error', resent: sessionArchived && !!resend, sessionArchived };
  try {
    await g.store.commit(resend.writes, { expectVersions: resend.expect });
  } catch (failure) {
    if (!isParleyError(failure, 'ERR_STORE_CONFLICT')) throw failure;
    return { kind: 'decryption-error', resent: false, sessionArchived: false, reason: failure.code };
  }
  return { kind: 'decryption-error', resent: true, sessionArchived: false };
}

/**
 * The writes that send a message to one device again, or none. The error must name the frame
 * this device was last sent of the message (its stored frame carries the named ratchet key —
 * kept until the device confirms it, so a delivered message is never resent this way), the
 * message must still be the business's to this person from this business number, and no
 * earlier error about it from this device may have been acted on. The stored frame is deleted:
 * the next attempt encrypts the message afresh (a new session's, after an archive) under a new
 * frame id — the one time a device gets a second ciphertext of a message, since it could not
 * read the first.
 */
async function resendWrites(
  g: GatewayContext,
  ctx: BusinessContext,
  named: {
    readonly frame: InboundFrame;
    readonly pseudonym: string;
    readonly timestamp: number;
    readonly ratchetKey: Uint8Array;
    readonly id: MessageId;
  },
): Promise<{ writes: WriteOperation[]; expect: ExpectedVersion[] } | undefined> {
  const { frame, pseudonym, timestamp, id } = named;
  const deviceId = frame.deviceId;
  const storedFrameKey = frameKey(ctx.id, id, deviceId);
  const storedFrame = await g.store.get('outbox', storedFrameKey);
  if (!storedFrame) return undefined;
  const sentFrame = decodeStoredFrame(ctx.sealer.open('outbox', storedFrameKey, storedFrame.value));
  let sentOn: Uint8Array;
  try {
    sentOn = sendingRatchetKey(sentFrame);
  } catch {
    return undefined;
  }
  if (!bytesEqual(sentOn, named.ratchetKey)) return undefined;
  const answered = answeredKey(ctx.id, pseudonym, timestamp, deviceId);
  if (await g.store.get('meta', answered)) return undefined;
  const stored = await readMessage(g, ctx, id);
  const record: MessageRecord | undefined = stored?.record;
  const now = g.clock.now();
  if (
    !stored ||
    !record ||
    record.direction !== 'outbound' ||
    record.pseudonym !== pseudonym ||
    record.number !== frame.to ||
    record.createdAt !== timestamp ||
    record.deadline <= now ||
    // A failed message is over; its other devices are not to be tried again by this.
    record.status === 'failed' ||
    record.status === 'expired'
  )
    return undefined;
  const device = record.devices.find((candidate) => candidate.id === deviceId);
  if (device?.state !== 'sent') return undefined;
  // Another instance working on the message now (its claim is live) is left to finish.
  const entryKey = outboxKey(ctx.id, id);
  const entry = await g.store.get('outbox', entryKey);
  if (entry) {
    const claim = decodeOutboxEntry(entry.value);
    if (claim.claimedBy !== '' && claim.claimedBy !== g.instanceId && claim.nextAttemptAt > now)
      return undefined;
  }
  device.state = 'pending';
  const key = messageKey(ctx.id, id);
  return {
    writes: [
      sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline),
      del('outbox', storedFrameKey),
      // Written claimed for this instance, which sends it at once (as retransmit does).
      ...outboxPut(ctx.id, id, claimedEntry(g, { direction: 'outbound', deadline: record.deadline })),
      sealedPut(ctx, 'meta', answered, new Uint8Array(0), record.deadline),
    ],
    expect: [
      { namespace: 'messages', key, version: stored.version },
      { namespace: 'outbox', key: storedFrameKey, version: storedFrame.version },
      { namespace: 'outbox', key: entryKey, version: entry?.version ?? 0 },
      { namespace: 'meta', key: answered, version: 0 },
    ],
  };
}

/**
 * A decryption error without a ratchet key is about a group (sender-key) message: the groups
 * resend it (the message again over 1:1, with the current chain's distribution message).
 */
function resendGroupMessage(
  g: GatewayContext,
  ctx: BusinessContext,
  request: { readonly pseudonym: string; readonly deviceId: number; readonly timestamp: number },
): Promise<boolean> {
  return g.groupHooks?.resendNamed(ctx, request) ?? Promise.resolve(false);
}
