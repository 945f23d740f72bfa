import { utf8 } from '../../bytes.js';
import { ParleyError } from '../../errors.js';
import type { WriteOperation } from '../../storage/contract.js';
import type { BusinessContext, GatewayContext } from '../context.js';
import {
  decodeGroupHeader,
  decodeGroupMember,
  encodeGroupHeader,
  encodeGroupMember,
  type GroupHeader,
  type GroupMemberRecord,
} from './group-records.js';
import { groupIndexKey, groupKey, groupMemberKey, groupMemberPrefix } from './layout.js';
import { put, readSealed, sealedPut } from './message-store.js';

/** A group as stored, with the version a change must expect. */
export interface StoredGroup {
  readonly header: GroupHeader;
  readonly version: number;
}

export interface StoredMember {
  readonly pseudonym: string;
  readonly record: GroupMemberRecord;
  readonly version: number;
}

/** The business a group belongs to, or undefined for an id this gateway never issued (or deleted). */
export async function groupOwner(g: GatewayContext, group: string): Promise<string | undefined> {
  const stored = await g.store.get('meta', groupIndexKey(group));
  if (!stored) return undefined;
  const businessId = new TextDecoder().decode(stored.value);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(businessId)) {
    throw new ParleyError('ERR_INVALID_RECORD', 'the group index record is corrupt', {
      record: 'group index',
    });
  }
  return businessId;
}

export function groupIndexPut(group: string, businessId: string): WriteOperation {
  return put('meta', groupIndexKey(group), utf8(businessId));
}

export async function readGroup(
  g: GatewayContext,
  ctx: BusinessContext,
  group: string,
): Promise<StoredGroup | undefined> {
  const key = groupKey(ctx.id, group);
  const stored = await g.store.get('meta', key);
  if (!stored) return undefined;
  return { header: decodeGroupHeader(ctx.sealer.open('meta', key, stored.value)), version: stored.version };
}

export function groupPut(ctx: BusinessContext, group: string, header: GroupHeader): WriteOperation {
  return sealedPut(ctx, 'meta', groupKey(ctx.id, group), encodeGroupHeader(header));
}

/** Every member of a group, in key (pseudonym) order. */
export async function readMembers(
  g: GatewayContext,
  ctx: BusinessContext,
  group: string,
): Promise<StoredMember[]> {
  const prefix = groupMemberPrefix(ctx.id, group);
  return (await g.store.list('meta', { prefix })).map((stored) => ({
    pseudonym: stored.key.slice(prefix.length),
    record: decodeGroupMember(ctx.sealer.open('meta', stored.key, stored.value)),
    version: stored.version,
  }));
}

export async function readMember(
  g: GatewayContext,
  ctx: BusinessContext,
  group: string,
  pseudonym: string,
): Promise<StoredMember | undefined> {
  const key = groupMemberKey(ctx.id, group, pseudonym);
  const stored = await g.store.get('meta', key);
  if (!stored) return undefined;
  return {
    pseudonym,
    record: decodeGroupMember(ctx.sealer.open('meta', key, stored.value)),
    version: stored.version,
  };
}

/** Whether `pseudonym` is a member, without opening the record. */
export async function isMemberStored(
  g: GatewayContext,
  ctx: BusinessContext,
  group: string,
  pseudonym: string,
): Promise<boolean> {
  return (await readSealed(g, ctx, 'meta', groupMemberKey(ctx.id, group, pseudonym))) !== undefined;
}

export function memberPut(
  ctx: BusinessContext,
  group: string,
  pseudonym: string,
  record: GroupMemberRecord,
): WriteOperation {
  return sealedPut(ctx, 'meta', groupMemberKey(ctx.id, group, pseudonym), encodeGroupMember(record));
}
