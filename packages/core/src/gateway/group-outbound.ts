import { copyBytes, wipe } from '../bytes.js';
import { decodeContentEnvelope, encodeContentEnvelope } from '../content/content-envelope.js';
import { padContent } from '../content/padding.js';
import type { ErrorCode } from '../errors.js';
import { isParleyError, ParleyError } from '../errors.js';
import type { GroupDistribution, GroupSessions } from '../groups/group-sessions.js';
import type { SendPermit } from '../integrity/monitor.js';
import type { ProtocolAddress } from '../session/address.js';
import type { ExpectedVersion } from '../storage/contract.js';
import { business } from './businesses.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { currentDevices, readDeviceList } from './durable/device-lists.js';
import { handOver, statusEvent } from './durable/event-outbox.js';
import { decodeStoredFrame, encodeStoredFrame } from './durable/frames.js';
import {
  decodeGroupCiphertext,
  encodeGroupCiphertext,
  groupCiphertextAad,
  type StoredGroupCiphertext,
} from './durable/group-records.js';
import { memberPut, readGroup, readMember, readMembers, type StoredMember } from './durable/group-store.js';
import {
  groupCiphertextKey,
  groupFrameKey,
  groupKey,
  groupMemberKey,
  groupMessageIndexKey,
  groupResendKey,
  messageIndexKey,
  messageKey,
  personGroupPrefix,
} from './durable/layout.js';
import {
  commitIfUnchanged,
  INDEX_GRACE_MS,
  outboxPut,
  put,
  readMessage,
  readSealed,
  sealedPut,
} from './durable/message-store.js';
import { messageAt } from './durable/message-timestamps.js';
import {
  contentAad,
  decodeMessageIndex,
  encodeMessageIndex,
  encodeMessageRecord,
  type MessageDevice,
  type MessageRecord,
  openContent,
  sealContent,
} from './durable/records.js';
import { memberTag } from './group-frames.js';
import { groupSessions } from './group-keys.js';
import { groupBusiness, groupQueueKey, noSuchGroup, rotateIfDue } from './groups.js';
import { checkSend } from './integrity-counters.js';
import { MAX_CONTENT_LENGTH } from './options.js';
import {
  commitReceipt,
  commitSend,
  encryptFor,
  failureReason,
  type OpenContent,
  processOutbound,
  utf8Length,
} from './outbound.js';
import { expired } from './retention.js';
import { applyAheadLoaded, newTally, refreshTally, settleTallies } from './tally.js';
import type { GroupSendRequest, MessageId, SenderKeyMissingReport } from './types.js';
import {
  assertArgumentObject,
  assertDeviceId,
  assertPhoneNumber,
  type ParsedFrameId,
  parseFrameId,
} from './validation.js';

/**
 * The business's group messages, out: one sender-key encryption per message, handed to every
 * member device as the same type-7 frame; before it, over each device's 1:1 session, the
 * distribution message of the current chain — only to devices not yet sent that chain.
 *
 * A group message is a message record like a 1:1 one (retention, crypto-shredding, statuses,
 * retries and retransmits work the same way), with the group and its recipients — the members
 * when it was accepted — and each device naming its member. Its sender-key ciphertext is kept
 * (sealed under the message's period key) so that retries send the same bytes; it is made
 * again only when the chain rotated meanwhile or a pending device still needs the chain's
 * distribution message (which reads from the chain's current iteration on, never earlier).
 */

export async function sendToGroup(
  g: GatewayContext,
  request: GroupSendRequest,
  businessId?: string,
): Promise<MessageId> {
  g.assertOpen();
  assertArgumentObject(request, 'request', 'a group message { groupId, content }');
  const given = request.content;
  const length =
    typeof given === 'string' ? utf8Length(given) : given instanceof Uint8Array ? given.length : -1;
  if (length < 1 || length > MAX_CONTENT_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"content" expected a non-empty string or bytes of at most ${MAX_CONTENT_LENGTH} bytes`,
      { field: 'content' },
    );
  }
  const ctx = await groupBusiness(g, request.groupId, businessId);
  const group = request.groupId;
  const stored = await readGroup(g, ctx, group);
  if (!stored) throw noSuchGroup();
  const recipients = (await readMembers(g, ctx, group)).map((member) => member.pseudonym);
  if (recipients.length === 0) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', 'the group has no members', { field: 'groupId' });
  }
  const id = g.newMessageId();
  const now = g.clock.now();
  const deadline = now + ctx.retentionMs;
  // One check per message, and every member counts as a recipient of it (fan-out to many new
  // recipients through a group is fan-out all the same); statistics count the message once.
  const tally = newTally(g, ctx, { kind: 'group-sent', at: now, messageId: id, people: recipients });
  let permit: SendPermit | undefined;
  if (g.integrityConfig) {
    await refreshTally(g, ctx);
    permit = checkSend(g, g.monitor!, ctx.id);
  }
  applyAheadLoaded(g, [tally]);
  const { period, key } = await g.periodKeys.forDeadline(ctx.id, deadline);
  const content = encodeContentEnvelope({
    ...(typeof given === 'string' ? { text: given } : { bytes: copyBytes(given) }),
    group: { groupId: group },
  });
  const record: Omit<MessageRecord, 'createdAt'> = {
    direction: 'outbound',
    status: 'accepted',
    deadline,
    number: stored.header.number,
    // No one person: the group id, so that sending attempts queue per group (processOutbound)
    // and the message's timestamp is unique within the group (message-timestamps.ts).
    pseudonym: group,
    deviceId: 0,
    attempts: 0,
    firstAttemptAt: 0,
    devices: [],
    period,
    // A group message is sealed with no phone number: its members' numbers are in the member list.
    content: sealContent(g.crypto, g.random, key, contentAad(ctx.id, id), '', content),
    group,
    recipients,
  };
  wipe(content);
  const accepted = statusEvent(g, ctx, id, 'accepted', record);
  let notBefore = now;
  try {
    // As a 1:1 send (claimed at once, or a throttle slot; a timestamp of its own), with a group
    // message's own records, not into a group deleted meanwhile.
    notBefore = await commitSend(g, ctx, id, record, now, permit, [accepted.write, tally.write], {
      writesFor: (full, first) => [
        sealedPut(ctx, 'messages', messageKey(ctx.id, id), encodeMessageRecord(full), deadline),
        put(
          'meta',
          messageIndexKey(id),
          encodeMessageIndex({ businessId: ctx.id, deadline }),
          deadline + INDEX_GRACE_MS,
        ),
        ...outboxPut(ctx.id, id, { direction: 'outbound', deadline, ...first }),
        put('meta', groupMessageIndexKey(ctx.id, group, id), new Uint8Array(0), deadline),
      ],
      alsoExpect: [{ namespace: 'meta', key: groupKey(ctx.id, group), version: stored.version }],
    });
  } catch (error) {
    settleTallies(g, [tally], false);
    throw error;
  }
  settleTallies(g, [tally], true);
  await handOver(g, [accepted.pending]);
  if (notBefore === now) {
    // First attempts of one group leave in the order of their sends (as 1:1 sends to one person).
    g.track(g.queue.run(`group-send-order/${ctx.id}/${group}`, () => processOutbound(g, ctx.id, id)));
  }
  return id;
}

/** One sending attempt of a group message's pending devices (GroupHooks.attempt). */
export function attemptGroupMessage(
  g: GatewayContext,
  ctx: BusinessContext,
  id: MessageId,
  record: MessageRecord,
  open: OpenContent,
  claim: ExpectedVersion,
): Promise<{ erased?: boolean; failure?: ErrorCode | undefined }> {
  const group = record.group!;
  return g.queue.run(groupQueueKey(ctx.id, group), async () => {
    if (!(await g.store.get('messages', messageKey(ctx.id, id)))) return { erased: true };
    let failure: ErrorCode | undefined;
    const stored = await readGroup(g, ctx, group);
    if (!stored) {
      // Deleted: nobody is left to send to.
      record.devices = record.devices.filter((device) => device.state !== 'pending');
      return { failure: 'ERR_NOT_FOUND' };
    }
    if (stored.header.rotationDue) await rotateIfDue(g, ctx, group);
    const members = new Map((await readMembers(g, ctx, group)).map((member) => [member.pseudonym, member]));
    // A recipient removed since the message was accepted gets nothing more of it.
    record.devices = record.devices.filter(
      (device) => device.state !== 'pending' || (device.member !== undefined && members.has(device.member)),
    );
    for (const pseudonym of record.recipients ?? []) {
      const member = members.get(pseudonym);
      if (!member) continue;
      try {
        addressMemberDevices(
          record,
          pseudonym,
          await currentDevices(g, ctx, member.record.phoneNumber, pseudonym),
        );
      } catch (error) {
        failure ??= failureReason(error);
      }
    }
    const pending = record.devices.filter((device) => device.state === 'pending');
    if (pending.length === 0) return { failure };

    const keys = groupSessions(g, ctx, record.number);
    const sessions = g.sessions(ctx, record.number);
    const ciphertext = await groupCiphertext(g, ctx, id, record, open, keys);
    const distributed = new Map<string, number[]>();
    try {
      for (const device of pending) {
        const pseudonym = device.member!;
        const member = members.get(pseudonym)!;
        const phoneNumber = member.record.phoneNumber;
        const address: ProtocolAddress = { name: pseudonym, deviceId: device.id };
        const tag = memberTag(g, id, pseudonym);
        // Stable across retries and retransmissions: the attempt that made the ciphertext.
        const frameId = `${id}.${device.id}.${ciphertext.attempt}.${tag}`;
        try {
          // The distribution frame made for this device earlier (a retry): the same bytes again.
          const frameKey = groupFrameKey(ctx.id, id, tag, device.id);
          const storedFrame = await readSealed(g, ctx, 'outbox', frameKey);
          const sent = member.record.distributed.find((entry) => entry.deviceId === device.id)?.chainId;
          // A device without a 1:1 session (new, erased, expired) may have lost the chain too.
          const lacking =
            storedFrame === undefined &&
            (sent !== ciphertext.chainId || !(await sessions.hasSession(address)));
          if (storedFrame) {
            await g.transport.send({
              ...decodeStoredFrame(storedFrame),
              from: record.number,
              to: phoneNumber,
              deviceId: device.id,
              timestamp: record.createdAt,
            });
          } else if (lacking) {
            const distributionId = `${frameId}.k`;
            const message = await encryptFor(
              g,
              ctx,
              sessions,
              address,
              phoneNumber,
              record.number,
              distributionContent(g, group, ciphertext.distribution),
              {
                alsoWrite: (encrypted) => [
                  sealedPut(
                    ctx,
                    'outbox',
                    frameKey,
                    encodeStoredFrame({ frameId: distributionId, ...encrypted }),
                    record.deadline,
                  ),
                ],
                // Not stored yet, and this attempt still holds its claim (as for 1:1 frames).
                alsoExpect: [{ namespace: 'outbox', key: frameKey, version: 0 }, claim],
              },
            );
            await g.transport.send({
              frameId: distributionId,
              from: record.number,
              to: phoneNumber,
              deviceId: device.id,
              type: message.type,
              body: message.body,
              // Every frame of a group message carries its timestamp, this one too.
              timestamp: record.createdAt,
            });
            distributed.set(pseudonym, [...(distributed.get(pseudonym) ?? []), device.id]);
          }
          await g.transport.send({
            frameId,
            from: record.number,
            to: phoneNumber,
            deviceId: device.id,
            type: 7,
            groupId: group,
            body: ciphertext.body,
            timestamp: record.createdAt,
          });
          device.state = 'sent';
        } catch (error) {
          failure ??= failureReason(error);
        }
      }
      await noteDistributed(g, ctx, group, members, distributed, ciphertext.chainId);
    } finally {
      // It opens the chain: plaintext-grade, not kept in memory past the attempt.
      wipe(ciphertext.distribution);
    }
    return { failure };
  });
}

/**
 * The devices one recipient has now: new ones join, ones that left and never got the message
 * are dropped (as `addressDevices` does for a person).
 */
function addressMemberDevices(record: MessageRecord, pseudonym: string, devices: readonly number[]): void {
  record.devices = record.devices.filter(
    (device) => device.member !== pseudonym || device.state !== 'pending' || devices.includes(device.id),
  );
  for (const deviceId of devices) {
    if (!record.devices.some((device) => device.member === pseudonym && device.id === deviceId)) {
      record.devices.push({ id: deviceId, state: 'pending', member: pseudonym });
    }
  }
}

/**
 * The message's one sender-key encryption: the stored one while the chain is the current one,
 * else (the first attempt, or the chain rotated since: a member was removed) a new encryption,
 * stored in the chain's commit with the distribution message it can be read from.
 */
async function groupCiphertext(
  g: GatewayContext,
  ctx: BusinessContext,
  id: MessageId,
  record: MessageRecord,
  open: OpenContent,
  keys: GroupSessions,
): Promise<StoredGroupCiphertext> {
  const group = record.group!;
  const periodKey = await g.periodKeys.forPeriod(ctx.id, record.period);
  if (!periodKey) throw expired(id);
  const key = groupCiphertextKey(ctx.id, id);
  const aad = groupCiphertextAad(ctx.id, id);
  const sealed = await readSealed(g, ctx, 'messages', key);
  const chain = await keys.localChain(group);
  if (sealed && chain) {
    const stored = decodeGroupCiphertext(openContent(g.crypto, periodKey, aad, sealed).content);
    if (stored.chainId === chain.chainId) return stored;
  }
  // As encryptLeased: content zeroed by the plaintext TTL while the store was awaited is not
  // sent; the next encryption reads it again (the chain skips an iteration, which receivers take).
  for (let attempt = 1; attempt <= 2; attempt++) {
    // Its distribution message first, at the iteration the encryption then uses (this group's
    // queue runs one attempt at a time in this instance, and the claim in one instance).
    const distribution = await keys.createDistribution(group);
    const { lease, plaintext } = await open(attempt > 1);
    let made: StoredGroupCiphertext | undefined;
    try {
      await keys.encrypt(group, plaintext, {
        alsoWrite: (result) => {
          made = {
            chainId: result.chainId,
            iteration: result.iteration,
            attempt: record.attempts,
            body: result.body,
            distribution: distribution.body,
          };
          const encoded = encodeGroupCiphertext(made);
          const write = sealedPut(
            ctx,
            'messages',
            key,
            sealContent(g.crypto, g.random, periodKey, aad, '', encoded),
            record.deadline,
          );
          wipe(encoded);
          return [write];
        },
      });
      if (!lease.revoked && made && made.iteration === distribution.iteration) return made;
    } finally {
      lease.release();
    }
  }
  throw new ParleyError(
    'ERR_STORE_FAILURE',
    'the group message could not be encrypted within plaintextTtlMs and at its distribution iteration',
  );
}

/** A content envelope carrying only the distribution message, padded, under a plaintext lease. */
function distributionContent(g: GatewayContext, group: string, distribution: Uint8Array): OpenContent {
  return async () => {
    // The distribution message holds the chain key: it is plaintext like content.
    const encoded = encodeContentEnvelope({
      senderKeyDistribution: { groupId: group, message: distribution },
    });
    const lease = g.leases.acquire(encoded);
    const plaintext = g.paddingBlock === false ? encoded : lease.add(padContent(encoded, g.paddingBlock));
    return { lease, plaintext };
  };
}

/**
 * Records which devices were sent the chain (after the transport took the frames). A member
 * removed meanwhile is not written back; another instance's change to a member is re-read.
 */
async function noteDistributed(
  g: GatewayContext,
  ctx: BusinessContext,
  group: string,
  members: ReadonlyMap<string, StoredMember>,
  distributed: ReadonlyMap<string, readonly number[]>,
  chainId: number,
): Promise<void> {
  for (const [pseudonym, deviceIds] of distributed) {
    let member: StoredMember | undefined = members.get(pseudonym);
    for (let attempt = 1; member && attempt <= 4; attempt++) {
      const entries = member.record.distributed.filter((entry) => !deviceIds.includes(entry.deviceId));
      for (const deviceId of deviceIds) entries.push({ deviceId, chainId });
      const written = await commitIfUnchanged(
        g,
        [memberPut(ctx, group, pseudonym, { ...member.record, distributed: entries })],
        'meta',
        groupMemberKey(ctx.id, group, pseudonym),
        member.version,
      );
      if (written) break;
      member = await readMember(g, ctx, group, pseudonym);
    }
  }
}

function findDevice(
  g: GatewayContext,
  record: MessageRecord,
  id: string,
  parsed: { readonly deviceId: number; readonly member?: string | undefined },
): MessageDevice | undefined {
  return record.devices.find(
    (device) =>
      device.id === parsed.deviceId &&
      device.member !== undefined &&
      memberTag(g, id, device.member) === parsed.member,
  );
}

/** A delivery receipt for a group message's frame (GroupHooks.receipt). */
export async function receiveGroupReceipt(g: GatewayContext, parsed: ParsedFrameId): Promise<void> {
  // The 1:1 frame that carried the chain: the content frame right after it reports delivery.
  if (parsed.distribution) return;
  const index = await g.store.get('meta', messageIndexKey(parsed.id));
  if (!index) return;
  const { businessId } = decodeMessageIndex(index.value);
  const ctx = await business(g, businessId);
  // As for 1:1 (outbound.ts): the instance that sent the frame may commit its attempt after the
  // device confirmed it through another instance; a receipt that loses that race reads again.
  for (let attempt = 1; ; attempt++) {
    const outcome = await g.queue.run(parsed.id, () => applyGroupReceipt(g, ctx, parsed));
    if (outcome !== 'conflict') return;
    if (attempt >= RECEIPT_ATTEMPTS)
      throw new ParleyError('ERR_STORE_CONFLICT', 'the message kept changing while its receipt was recorded');
  }
}

/** Receipts read the record again this often when other writers keep changing it. */
const RECEIPT_ATTEMPTS = 8;

async function applyGroupReceipt(
  g: GatewayContext,
  ctx: BusinessContext,
  parsed: ParsedFrameId,
): Promise<'done' | 'conflict'> {
  const businessId = ctx.id;
  const stored = await readMessage(g, ctx, parsed.id);
  const record = stored?.record;
  if (!stored || record?.direction !== 'outbound' || record.group === undefined) return 'done';
  let device = findDevice(g, record, parsed.id, parsed);
  // As for 1:1 (outbound.ts applyReceipt): a device the record does not list yet (the attempt
  // that sent the frame has not committed, or died first) counts when the frame id's tag names
  // a recipient of this message — the tag is the gateway's own, per message and member — and
  // the device is one the gateway knows of that member.
  const unlisted = !device;
  if (!device) {
    const member = record.recipients?.find(
      (pseudonym) => memberTag(g, parsed.id, pseudonym) === parsed.member,
    );
    if (!member || !(await readDeviceList(g, ctx, member))?.devices.includes(parsed.deviceId)) return 'done';
    device = { id: parsed.deviceId, state: 'pending', member };
    record.devices.push(device);
  }
  // As for 1:1: `delivered` once, at the first member device; status() shows every device;
  // billed once per group message.
  return commitReceipt(g, ctx, { id: parsed.id, record, version: stored.version }, device, {
    unlisted,
    frameKey: groupFrameKey(businessId, parsed.id, parsed.member!, parsed.deviceId),
    delivered: { kind: 'group-delivered', at: g.clock.now(), messageId: parsed.id },
  });
}

/**
 * A member device could not read one of the business's group messages for want of the sender
 * key (its distribution message was lost, or the device was restored): the chain is marked
 * as not sent to that device, and the message goes to it again over its 1:1 session, in one
 * envelope with the group context and the current chain's distribution message — the old
 * sender-key message stays unreadable to it (a distribution reads from the current iteration
 * on), and the device reads the group's later messages as every other member does. At most
 * once per device and message within `retryRequestIntervalMs`. Issue 19's decryption-error
 * messages are meant to arrive here.
 */
export async function resendAfterMissingKey(
  g: GatewayContext,
  report: SenderKeyMissingReport,
): Promise<'resent' | 'ignored'> {
  g.assertOpen();
  assertArgumentObject(report, 'report', 'a report { frameId, from, deviceId }');
  assertPhoneNumber(report.from, 'from');
  assertDeviceId(report.deviceId);
  const parsed = parseFrameId(report.frameId);
  if (parsed?.member === undefined || parsed.distribution || parsed.deviceId !== report.deviceId) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"frameId" expected a group message frame id of that device',
      {
        field: 'frameId',
      },
    );
  }
  const index = await g.store.get('meta', messageIndexKey(parsed.id));
  if (!index) throw new ParleyError('ERR_NOT_FOUND', 'no such message (never sent, erased, or long expired)');
  const { businessId, deadline } = decodeMessageIndex(index.value);
  const ctx = await business(g, businessId);
  const pseudonym = g.pseudonym(ctx, report.from);
  // The transport's attribution must match the device the frame went to.
  if (memberTag(g, parsed.id, pseudonym) !== parsed.member) return 'ignored';
  if (deadline <= g.clock.now()) throw expired(parsed.id);
  return resendToMemberDevice(g, ctx, parsed.id, pseudonym, parsed.deviceId);
}

/**
 * A member device's decryption-error message without a ratchet key (Signal's answer to a
 * sender-key message it could not read, decryption-errors.ts): the group message its timestamp
 * names — group messages claim their timestamps per group — is resent to that device as for a
 * missing-key report. False when the timestamp names no live group message of the person's
 * groups, or the device was answered for it this retry interval.
 */
export async function resendNamedGroupMessage(
  g: GatewayContext,
  ctx: BusinessContext,
  named: { readonly pseudonym: string; readonly deviceId: number; readonly timestamp: number },
): Promise<boolean> {
  const prefix = personGroupPrefix(ctx.id, named.pseudonym);
  for (const entry of await g.store.list('meta', { prefix })) {
    const id = await messageAt(g, ctx, entry.key.slice(prefix.length), named.timestamp);
    if (!id) continue;
    try {
      return (await resendToMemberDevice(g, ctx, id, named.pseudonym, named.deviceId)) === 'resent';
    } catch (error) {
      if (isParleyError(error, 'ERR_RETENTION_EXPIRED')) return false;
      throw error;
    }
  }
  return false;
}

/** The group message again to one member device over its 1:1 session, with the current chain. */
async function resendToMemberDevice(
  g: GatewayContext,
  ctx: BusinessContext,
  id: MessageId,
  pseudonym: string,
  deviceId: number,
): Promise<'resent' | 'ignored'> {
  const businessId = ctx.id;
  const parsed = { id, deviceId, member: memberTag(g, id, pseudonym) };
  const limit = groupResendKey(businessId, parsed.id, parsed.member, parsed.deviceId);
  try {
    await g.store.commit([put('meta', limit, new Uint8Array(0), g.clock.now() + g.retryRequestIntervalMs)], {
      expectVersions: [{ namespace: 'meta', key: limit, version: 0 }],
    });
  } catch (error) {
    if (isParleyError(error, 'ERR_STORE_CONFLICT')) return 'ignored';
    throw error;
  }
  return g.queue.run(parsed.id, async () => {
    const stored = await readMessage(g, ctx, parsed.id);
    const record = stored?.record;
    if (!stored || !record || record.group === undefined || record.deadline <= g.clock.now())
      throw expired(parsed.id);
    const group = record.group;
    const device = findDevice(g, record, parsed.id, parsed);
    if (!device) return 'ignored';
    const periodKey = await g.periodKeys.forPeriod(businessId, record.period);
    if (!periodKey) throw expired(parsed.id);
    const outcome = await g.queue.run(groupQueueKey(businessId, group), async () => {
      const member = await readMember(g, ctx, group, pseudonym);
      if (!member) return 'ignored' as const;
      const keys = groupSessions(g, ctx, record.number);
      const distribution = await keys.createDistribution(group);
      try {
        const aad = contentAad(businessId, parsed.id);
        const open: OpenContent = async () => {
          const opened = openContent(g.crypto, periodKey, aad, record.content);
          const envelope = withDistribution(opened.content, group, distribution);
          wipe(opened.content);
          const lease = g.leases.acquire(envelope);
          const plaintext =
            g.paddingBlock === false ? envelope : lease.add(padContent(envelope, g.paddingBlock));
          return { lease, plaintext };
        };
        const sessions = g.sessions(ctx, record.number);
        const message = await encryptFor(
          g,
          ctx,
          sessions,
          { name: pseudonym, deviceId: device.id },
          member.record.phoneNumber,
          record.number,
          open,
        );
        await g.transport.send({
          frameId: `${parsed.id}.${device.id}.${record.attempts + 1}.${parsed.member}`,
          from: record.number,
          to: member.record.phoneNumber,
          deviceId: device.id,
          type: message.type,
          body: message.body,
          timestamp: record.createdAt,
        });
        await noteDistributed(
          g,
          ctx,
          group,
          new Map([[pseudonym, member]]),
          new Map([[pseudonym, [device.id]]]),
          distribution.chainId,
        );
      } finally {
        wipe(distribution.body);
      }
      return 'resent' as const;
    });
    if (outcome !== 'resent' || device.state !== 'pending') return outcome;
    device.state = 'sent';
    const key = messageKey(businessId, parsed.id);
    await commitIfUnchanged(
      g,
      [sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline)],
      'messages',
      key,
      stored.version,
    );
    return outcome;
  });
}

/** The stored group envelope (text, bytes or media, and the group) with the current chain's distribution message. */
function withDistribution(content: Uint8Array, group: string, distribution: GroupDistribution): Uint8Array {
  const envelope = decodeContentEnvelope(content);
  const resent = encodeContentEnvelope({
    ...(envelope.text !== undefined ? { text: envelope.text } : {}),
    ...(envelope.bytes !== undefined ? { bytes: envelope.bytes } : {}),
    ...(envelope.media !== undefined ? { media: envelope.media } : {}),
    group: { groupId: group },
    senderKeyDistribution: { groupId: group, message: distribution.body },
  });
  if (envelope.bytes) wipe(envelope.bytes);
  return resent;
}
