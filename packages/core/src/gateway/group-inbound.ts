import { toHex, utf8, wipe } from '../bytes.js';
import { decodeContentEnvelope } from '../content/content-envelope.js';
import { unpadContent } from '../content/padding.js';
import { isParleyError } from '../errors.js';
import type { WriteOperation } from '../storage/contract.js';
import { business, businessOfNumber } from './businesses.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { claimedEntry } from './durable/claims.js';
import { deviceListWrite, readDeviceList } from './durable/device-lists.js';
import { decodePendingDistribution, encodePendingDistribution } from './durable/group-records.js';
import { pendingDistributionKey, pendingDistributionPrefix, seenKey } from './durable/layout.js';
import { del, messageWrites, sealedPut } from './durable/message-store.js';
import type { MessageRecord } from './durable/records.js';
import { groupSessions } from './group-keys.js';
import { acknowledge, deliver, inboundRecord, undecryptable } from './inbound.js';
import { applyAheadLoaded, loadTallyEngines, newTally, type PendingTally, settleTallies } from './tally.js';
import type { InboundFrame, ReceiveOutcome } from './types.js';

/**
 * Group messages in: a member device's distribution message arrives inside a 1:1 content
 * envelope (`senderKeyDistribution`), its group messages as type-7 frames naming the group.
 *
 * The distribution message is taken in the 1:1 session's commit (a pending record) and stored
 * by GroupSessions in a commit of its own that deletes the pending record: a crash between the
 * two leaves it pending, and it is stored when the device's next group message finds no key.
 * A device whose person is not a member is refused (`ERR_NOT_GROUP_MEMBER`) and nothing of it
 * is kept. A group message with no chain is `ERR_SENDER_KEY_NOT_FOUND`: the transport gets a
 * retry request naming the group, so that the device sends its distribution message again
 * (`undecryptable` in inbound.ts: where issue 19's decryption-error messages will be made).
 */

/** A type-7 frame (GroupHooks.receiveFrame); the frame is already checked (`assertFrame`). */
export async function receiveGroupFrame(g: GatewayContext, frame: InboundFrame): Promise<ReceiveOutcome> {
  const businessId = await businessOfNumber(g, frame.to);
  const ctx = await business(g, businessId);
  const pseudonym = g.pseudonym(ctx, frame.from);
  const group = frame.groupId!;
  const seen = seenKey(businessId, pseudonym, frameDigest(g, frame.frameId));
  if (await g.store.get('meta', seen)) {
    await acknowledge(g, frame.frameId);
    return { kind: 'duplicate' };
  }
  const keys = groupSessions(g, ctx, frame.to);
  const sender = { name: pseudonym, deviceId: frame.deviceId };
  const id = g.newMessageId();
  const now = g.clock.now();
  const deadline = now + ctx.retentionMs;
  const { period, key: periodKey } = await g.periodKeys.forDeadline(businessId, deadline);
  const known = await readDeviceList(g, ctx, pseudonym);
  // As for 1:1 (inbound.ts): counted in the commit and applied to the view right before it,
  // the engines loaded first; only the attempt whose commit landed stays applied.
  const attempts: PendingTally[][] = [];
  await loadTallyEngines(g);
  const decrypt = () =>
    keys.decrypt(group, sender, frame.body, {
      alsoWrite: (decrypted) => {
        const content =
          g.paddingBlock === false ? decrypted.plaintext.slice() : unpadContent(decrypted.plaintext);
        const record: MessageRecord = {
          ...inboundRecord(g, frame, id, {
            businessId,
            pseudonym,
            now,
            deadline,
            period,
            periodKey,
            content,
          }),
          // The group whose chain opened it — not whatever the envelope inside claims.
          group,
        };
        wipe(content, decrypted.plaintext);
        const writes = [
          // This instance hands it to the handler at once: the entry is written claimed.
          ...messageWrites(ctx, id, record, now, claimedEntry(g, { direction: 'inbound', deadline })),
          sealedPut(ctx, 'meta', seen, new Uint8Array(0), deadline),
        ];
        if (!known?.devices.includes(frame.deviceId)) {
          writes.push(
            deviceListWrite(ctx, pseudonym, {
              devices: [...(known?.devices ?? []), frame.deviceId],
              confirmedAt: 0,
            }),
          );
        }
        // Counted once per group message, naming no sender (statistics keep no member).
        const tallies = [newTally(g, ctx, { kind: 'group-received', at: now })];
        applyAheadLoaded(g, tallies);
        attempts.push(tallies);
        return [...writes, ...tallies.map((tally) => tally.write)];
      },
    });
  try {
    try {
      await decrypt();
    } catch (error) {
      // A distribution message taken but not stored yet (a crash between the two commits).
      if (!isParleyError(error, 'ERR_SENDER_KEY_NOT_FOUND')) throw error;
      if (!(await storeDistributions(g, ctx, frame.to, { pseudonym, deviceId: frame.deviceId }))) throw error;
      await decrypt();
    }
  } catch (error) {
    for (const tallies of attempts) settleTallies(g, tallies, false);
    if (isParleyError(error, 'ERR_NOT_GROUP_MEMBER')) {
      // Not a member (or no such group of this number): nothing to ask the device for.
      g.log('warn', 'group message from a device that is not a member refused', {
        businessId,
        code: error.code,
      });
      await acknowledge(g, frame.frameId);
      return { kind: 'undecryptable', reason: error.code, retryRequested: false };
    }
    return undecryptable(g, ctx, frame, pseudonym, error);
  }
  for (const [index, tallies] of attempts.entries()) settleTallies(g, tallies, index === attempts.length - 1);
  g.log('debug', 'inbound group message stored', { businessId, messageId: id });
  await acknowledge(g, frame.frameId);
  g.track(g.arrivals.run(`${businessId}/${pseudonym}`, () => deliver(g, businessId, id)));
  return { kind: 'accepted', messageId: id };
}

/**
 * A 1:1 plaintext (unpadded) carrying a distribution message: the pending record, committed
 * with the session update (GroupHooks.takeDistribution). `only`: the envelope holds nothing
 * for the business besides it.
 */
export function takeDistribution(
  ctx: BusinessContext,
  taken: {
    readonly content: Uint8Array;
    readonly pseudonym: string;
    readonly deviceId: number;
    readonly deadline: number;
    readonly frameDigest: string;
  },
): { readonly write: WriteOperation; readonly only: boolean } | undefined {
  let envelope: ReturnType<typeof decodeContentEnvelope>;
  try {
    envelope = decodeContentEnvelope(taken.content);
  } catch {
    // Not an envelope: the 1:1 path hands it over raw.
    return undefined;
  }
  // The decoder's copies of content are not needed here.
  if (envelope.bytes) wipe(envelope.bytes);
  const distribution = envelope.senderKeyDistribution;
  if (!distribution) return undefined;
  const only = envelope.text === undefined && envelope.bytes === undefined && envelope.media === undefined;
  const key = pendingDistributionKey(ctx.id, taken.pseudonym, taken.deviceId, taken.frameDigest);
  const write = sealedPut(ctx, 'meta', key, encodePendingDistribution(distribution), taken.deadline);
  wipe(distribution.message);
  return { write, only };
}

/**
 * Stores the distribution messages taken from one member device, each in GroupSessions'
 * commit with the deletion of its pending record; returns whether any was stored. One that
 * is refused (not a member, not a distribution message) is dropped.
 */
export async function storeDistributions(
  g: GatewayContext,
  ctx: BusinessContext,
  number: string,
  sender: { readonly pseudonym: string; readonly deviceId: number },
): Promise<boolean> {
  const prefix = pendingDistributionPrefix(ctx.id, sender.pseudonym, sender.deviceId);
  const keys = groupSessions(g, ctx, number);
  let stored = false;
  for (const record of await g.store.list('meta', { prefix })) {
    const pending = decodePendingDistribution(ctx.sealer.open('meta', record.key, record.value));
    try {
      await keys.processDistribution(
        pending.groupId,
        { name: sender.pseudonym, deviceId: sender.deviceId },
        pending.message,
        { alsoWrite: () => [del('meta', record.key)] },
      );
      stored = true;
    } catch (error) {
      if (!isParleyError(error) || error.code.startsWith('ERR_STORE_')) throw error;
      g.log('warn', 'a distribution message was refused', { businessId: ctx.id, code: error.code });
      await g.store.commit([del('meta', record.key)]);
    } finally {
      wipe(pending.message);
    }
  }
  return stored;
}

/** The dedup digest of a frame id (as inbound.ts keys `seen` records). */
export function frameDigest(g: GatewayContext, frameId: string): string {
  return toHex(g.crypto.sha256(utf8(frameId))).slice(0, 32);
}
