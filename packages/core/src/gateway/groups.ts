import { toHex } from '../bytes.js';
import { isParleyError, ParleyError } from '../errors.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import { business, businessOfNumber } from './businesses.js';
import type { BusinessContext, GatewayContext } from './context.js';
import {
  groupIndexPut,
  groupOwner,
  groupPut,
  memberPut,
  readGroup,
  readMember,
  readMembers,
} from './durable/group-store.js';
import {
  framePrefix,
  groupIndexKey,
  groupKey,
  groupMemberKey,
  groupMessageIndexPrefix,
  messageKey,
  pendingDistributionPrefix,
  personGroupKey,
  personGroupPrefix,
} from './durable/layout.js';
import { commitIfUnchanged, del, put, readMessage, sealedPut } from './durable/message-store.js';
import { encodeMessageRecord } from './durable/records.js';
import { memberTag } from './group-frames.js';
import { groupSessions } from './group-keys.js';
import type { CreateGroupRequest, GroupInfo, MessageId } from './types.js';
import { assertArgumentObject, assertGroupIdArgument, assertPhoneNumber } from './validation.js';

/**
 * A business's groups: who is in them. Member lists are keyed by the business's pseudonym of
 * each person (the member record keeps the number only because the group sends to it). Adding
 * a member needs no new key — a device that gets the current chain's distribution message
 * reads from that iteration on, never earlier messages — while removing one rotates the
 * business's chain (GroupSessions.rotate), so the removed member's devices cannot read what
 * is sent afterwards; their own chains are deleted in the same commit as the removal.
 */

/** WhatsApp's limit on a group's participants. */
export const MAX_GROUP_MEMBERS = 1_024;

/** Membership changes and sending attempts of one group run one at a time (per instance). */
export function groupQueueKey(businessId: string, group: string): string {
  return `group/${businessId}/${group}`;
}

export async function createGroup(g: GatewayContext, request: CreateGroupRequest): Promise<string> {
  g.assertOpen();
  assertArgumentObject(request, 'request', 'a group { from, members }');
  assertPhoneNumber(request.from, 'from');
  const numbers = memberNumbers(request.members);
  const businessId = await businessOfNumber(g, request.from);
  const ctx = await business(g, businessId);
  const group = `g${toHex(g.random(16))}`;
  const now = g.clock.now();
  const writes: WriteOperation[] = [
    groupIndexPut(group, businessId),
    groupPut(ctx, group, { number: request.from, createdAt: now, rotationDue: false }),
  ];
  for (const phoneNumber of numbers) {
    const pseudonym = g.pseudonym(ctx, phoneNumber);
    writes.push(
      memberPut(ctx, group, pseudonym, { phoneNumber, addedAt: now, distributed: [] }),
      put('meta', personGroupKey(businessId, pseudonym, group), new Uint8Array(0)),
    );
  }
  // Random ids do not collide; the check costs nothing and makes a collision a refusal.
  await g.store.commit(writes, {
    expectVersions: [{ namespace: 'meta', key: groupIndexKey(group), version: 0 }],
  });
  g.log('info', 'group created', { businessId, members: numbers.length });
  return group;
}

/** The business context of a group, or `ERR_NOT_FOUND` (also for another business's group). */
export async function groupBusiness(
  g: GatewayContext,
  group: unknown,
  businessId?: string,
): Promise<BusinessContext> {
  assertGroupIdArgument(group);
  const owner = await groupOwner(g, group);
  if (owner === undefined || (businessId !== undefined && owner !== businessId)) throw noSuchGroup();
  return business(g, owner);
}

/** New members read from the chain's current iteration on: no rotation is needed. */
export async function addMembers(
  g: GatewayContext,
  group: string,
  phoneNumbers: readonly string[],
  businessId?: string,
): Promise<string[]> {
  g.assertOpen();
  const numbers = memberNumbers(phoneNumbers);
  const ctx = await groupBusiness(g, group, businessId);
  return g.queue.run(groupQueueKey(ctx.id, group), async () => {
    const stored = await readGroup(g, ctx, group);
    if (!stored) throw noSuchGroup();
    const existing = new Set((await readMembers(g, ctx, group)).map((member) => member.pseudonym));
    const now = g.clock.now();
    const writes: WriteOperation[] = [];
    const expectVersions = [
      { namespace: 'meta' as const, key: groupKey(ctx.id, group), version: stored.version },
    ];
    const added: string[] = [];
    for (const phoneNumber of numbers) {
      const pseudonym = g.pseudonym(ctx, phoneNumber);
      if (existing.has(pseudonym)) continue;
      existing.add(pseudonym);
      added.push(pseudonym);
      writes.push(
        memberPut(ctx, group, pseudonym, { phoneNumber, addedAt: now, distributed: [] }),
        put('meta', personGroupKey(ctx.id, pseudonym, group), new Uint8Array(0)),
      );
      expectVersions.push({
        namespace: 'meta',
        key: groupMemberKey(ctx.id, group, pseudonym),
        version: 0,
      });
    }
    if (existing.size > MAX_GROUP_MEMBERS) throw tooManyMembers();
    if (writes.length > 0) await g.store.commit(writes, { expectVersions });
    return added;
  });
}

/**
 * Removes members: their member records, their chains and their index entries go in one
 * commit that also marks the group's rotation due; then the business's chain is rotated.
 */
export async function removeMembers(
  g: GatewayContext,
  group: string,
  phoneNumbers: readonly string[],
  businessId?: string,
): Promise<string[]> {
  g.assertOpen();
  const numbers = memberNumbers(phoneNumbers);
  const ctx = await groupBusiness(g, group, businessId);
  const pseudonyms = numbers.map((phoneNumber) => g.pseudonym(ctx, phoneNumber));
  return g.queue.run(groupQueueKey(ctx.id, group), async () => {
    const removed = await removeFromGroup(g, ctx, group, pseudonyms);
    await rotateIfDue(g, ctx, group);
    return removed;
  });
}

/**
 * The removal commit (run in the group's queue): member records, the members' chains and
 * their person → group entries, with the rotation marked due. Returns the pseudonyms that were members.
 */
async function removeFromGroup(
  g: GatewayContext,
  ctx: BusinessContext,
  group: string,
  pseudonyms: readonly string[],
): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    const stored = await readGroup(g, ctx, group);
    if (!stored) return [];
    const writes: WriteOperation[] = [];
    const expectVersions = [
      { namespace: 'meta' as const, key: groupKey(ctx.id, group), version: stored.version },
    ];
    const removed: string[] = [];
    const keys = groupSessions(g, ctx, stored.header.number);
    for (const pseudonym of new Set(pseudonyms)) {
      const member = await readMember(g, ctx, group, pseudonym);
      writes.push(del('meta', personGroupKey(ctx.id, pseudonym, group)));
      if (!member) continue;
      removed.push(pseudonym);
      writes.push(
        del('meta', groupMemberKey(ctx.id, group, pseudonym)),
        ...(await keys.deletionWrites(group, pseudonym)),
      );
      expectVersions.push({
        namespace: 'meta',
        key: groupMemberKey(ctx.id, group, pseudonym),
        version: member.version,
      });
    }
    if (removed.length === 0) {
      if (writes.length > 0) await g.store.commit(writes);
      return removed;
    }
    writes.push(groupPut(ctx, group, { ...stored.header, rotationDue: true }));
    try {
      await g.store.commit(writes, { expectVersions });
    } catch (error) {
      if (!isParleyError(error, 'ERR_STORE_CONFLICT') || attempt >= COMMIT_ATTEMPTS) throw error;
      continue;
    }
    keys.forgetCached(group);
    g.log('info', 'group members removed; the sending chain rotates', {
      businessId: ctx.id,
      members: removed.length,
    });
    return removed;
  }
}

/**
 * Rotates the business's chain when a removal marked it due (run in the group's queue). The
 * flag is cleared only after the new chain is committed: a crash in between rotates again
 * at the next send, which costs every member device one more distribution message.
 */
export async function rotateIfDue(g: GatewayContext, ctx: BusinessContext, group: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const stored = await readGroup(g, ctx, group);
    if (!stored?.header.rotationDue) return;
    await groupSessions(g, ctx, stored.header.number).rotate(group);
    const cleared = await commitIfUnchanged(
      g,
      [groupPut(ctx, group, { ...stored.header, rotationDue: false })],
      'meta',
      groupKey(ctx.id, group),
      stored.version,
    );
    if (cleared || attempt >= COMMIT_ATTEMPTS) return;
  }
}

/** Deletes a group: its members, every sender key of it (ours and theirs), its index entries. */
export async function deleteGroup(g: GatewayContext, group: string, businessId?: string): Promise<void> {
  g.assertOpen();
  const ctx = await groupBusiness(g, group, businessId);
  await g.queue.run(groupQueueKey(ctx.id, group), async () => {
    const stored = await readGroup(g, ctx, group);
    if (!stored) throw noSuchGroup();
    const keys = groupSessions(g, ctx, stored.header.number);
    const writes: WriteOperation[] = [
      del('meta', groupIndexKey(group)),
      del('meta', groupKey(ctx.id, group)),
      ...(await keys.deletionWrites(group)),
    ];
    for (const member of await readMembers(g, ctx, group)) {
      writes.push(
        del('meta', groupMemberKey(ctx.id, group, member.pseudonym)),
        del('meta', personGroupKey(ctx.id, member.pseudonym, group)),
      );
    }
    await g.store.commit(writes, {
      expectVersions: [{ namespace: 'meta', key: groupKey(ctx.id, group), version: stored.version }],
    });
    keys.forgetCached(group);
  });
  g.log('info', 'group deleted', { businessId: ctx.id });
}

export async function groupInfo(g: GatewayContext, group: string, businessId?: string): Promise<GroupInfo> {
  g.assertOpen();
  const ctx = await groupBusiness(g, group, businessId);
  const stored = await readGroup(g, ctx, group);
  if (!stored) throw noSuchGroup();
  const chain = await groupSessions(g, ctx, stored.header.number).localChain(group);
  return {
    groupId: group,
    businessId: ctx.id,
    number: stored.header.number,
    createdAt: stored.header.createdAt,
    members: (await readMembers(g, ctx, group))
      .map((member) => ({
        phoneNumber: member.record.phoneNumber,
        member: member.pseudonym,
        addedAt: member.record.addedAt,
      }))
      .sort((a, b) => a.addedAt - b.addedAt || a.member.localeCompare(b.member)),
    ...(chain ? { chain: { chainId: chain.chainId, createdAt: chain.createdAt } } : {}),
  };
}

/**
 * Erasure: what the person leaves behind in the business's groups, as writes for the erasure's
 * one commit (retention.ts): their member records and person → group entries, the chains of
 * theirs the business holds, their devices and recipient entry in the groups' stored messages
 * (with the distribution frames stored for those devices), the distribution messages they sent
 * that were not stored yet — and each group's rotation marked due, so that nothing sent after
 * the erasure is readable by their devices. `expect` holds the versions the writes were made
 * from (another change meanwhile: the caller computes them again). After the commit, `rotate`
 * rotates the groups' chains (a crash before that rotates at the next send).
 */
export async function groupErasure(
  g: GatewayContext,
  ctx: BusinessContext,
  pseudonym: string,
): Promise<GroupErasure> {
  const writes: WriteOperation[] = [];
  const expect: ExpectedVersion[] = [];
  const groups: { readonly group: string; readonly number: string }[] = [];
  const prefix = personGroupPrefix(ctx.id, pseudonym);
  for (const entry of await g.store.list('meta', { prefix })) {
    const group = entry.key.slice(prefix.length);
    writes.push(del('meta', entry.key));
    const stored = await readGroup(g, ctx, group);
    if (!stored) continue;
    groups.push({ group, number: stored.header.number });
    const member = await readMember(g, ctx, group, pseudonym);
    if (member) {
      writes.push(del('meta', groupMemberKey(ctx.id, group, pseudonym)));
      expect.push({
        namespace: 'meta',
        key: groupMemberKey(ctx.id, group, pseudonym),
        version: member.version,
      });
    }
    writes.push(
      ...(await groupSessions(g, ctx, stored.header.number).deletionWrites(group, pseudonym)),
      groupPut(ctx, group, { ...stored.header, rotationDue: true }),
    );
    expect.push({ namespace: 'meta', key: groupKey(ctx.id, group), version: stored.version });
    await strikeFromMessages(g, ctx, group, pseudonym, writes, expect);
  }
  for (const record of await g.store.list('meta', { prefix: pendingDistributionPrefix(ctx.id, pseudonym) }))
    writes.push(del('meta', record.key));
  return {
    writes,
    expect,
    rotate: async () => {
      for (const { group, number } of groups) {
        groupSessions(g, ctx, number).forgetCached(group);
        await g.queue.run(groupQueueKey(ctx.id, group), () => rotateIfDue(g, ctx, group));
      }
    },
  };
}

/** What an erasure removes from the groups (see `groupErasure`). */
export interface GroupErasure {
  readonly writes: readonly WriteOperation[];
  readonly expect: readonly ExpectedVersion[];
  /** After the erasure's commit: the groups it left rotate their chains. */
  readonly rotate: () => Promise<void>;
}

/** The writes that remove a person's devices and recipient entry from a group's stored outbound messages. */
async function strikeFromMessages(
  g: GatewayContext,
  ctx: BusinessContext,
  group: string,
  pseudonym: string,
  writes: WriteOperation[],
  expect: ExpectedVersion[],
): Promise<void> {
  const prefix = groupMessageIndexPrefix(ctx.id, group);
  for (const entry of await g.store.list('meta', { prefix })) {
    const id = entry.key.slice(prefix.length) as MessageId;
    const stored = await readMessage(g, ctx, id);
    const record = stored?.record;
    if (!stored || !record) continue;
    const mentioned =
      record.recipients?.includes(pseudonym) || record.devices.some((device) => device.member === pseudonym);
    if (!mentioned) continue;
    record.recipients = record.recipients?.filter((member) => member !== pseudonym);
    record.devices = record.devices.filter((device) => device.member !== pseudonym);
    const key = messageKey(ctx.id, id);
    writes.push(sealedPut(ctx, 'messages', key, encodeMessageRecord(record), record.deadline));
    expect.push({ namespace: 'messages', key, version: stored.version });
    // With the distribution frames stored for the person's devices.
    for (const frame of await g.store.list('outbox', {
      prefix: `${framePrefix(ctx.id, id)}${memberTag(g, id, pseudonym)}/`,
    }))
      writes.push(del('outbox', frame.key));
  }
}

/** Optimistic commits of one group change retry this often when another instance got there first. */
const COMMIT_ATTEMPTS = 8;

function memberNumbers(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_GROUP_MEMBERS) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"members" expected 1 to ${MAX_GROUP_MEMBERS} phone numbers`,
      { field: 'members' },
    );
  }
  for (const phoneNumber of value) assertPhoneNumber(phoneNumber, 'members');
  return [...new Set(value as string[])];
}

function tooManyMembers(): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `a group has at most ${MAX_GROUP_MEMBERS} members`, {
    field: 'members',
  });
}

export function noSuchGroup(): ParleyError {
  return new ParleyError('ERR_NOT_FOUND', 'no such group (never created, deleted, or of another business)');
}
