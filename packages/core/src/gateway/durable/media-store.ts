/**
 * The gateway's media records (durable state shared by every instance; keys in layout.ts).
 *
 * One record per media file, sealed with the business's record key like every gateway record,
 * and inside it the media record of `media/media-record.ts`: the blob id and deadline in the
 * clear, the media key and the rest of the pointer sealed under the key of the retention period
 * the deadline falls in. A media id index outlives the record (as the message id index does),
 * so a late request is told "expired" rather than "unknown".
 *
 * Erasure finds a person's media through a per-person index, as it finds their messages: files
 * the person sent, and uploads the business sent to them. An upload that other people got too
 * is kept (a second index lists who got each upload): it is the business's file, not this
 * person's.
 */
import { ByteReader, ByteWriter } from '../../binary.js';
import { utf8 } from '../../bytes.js';
import { decodeMediaRecord, encodeMediaRecord, type MediaRecord } from '../../media/media-record.js';
import type { WriteOperation } from '../../storage/contract.js';
import type { BusinessContext, GatewayContext } from '../context.js';
import {
  blobIdOf,
  mediaIndexKey,
  mediaRecipientKey,
  mediaRecipientPrefix,
  mediaRecordKey,
  personMediaKey,
  personMediaPrefix,
} from './layout.js';
import { del, INDEX_GRACE_MS, put, sealedPut } from './message-store.js';
import { decodeTimestamp, encodeTimestamp } from './records.js';

const FORMAT = 1;

/** Where a media file came from: the business uploaded it, or a person's message carried it. */
export type MediaOrigin = 'upload' | 'inbound';
const ORIGINS: readonly MediaOrigin[] = ['upload', 'inbound'];

export interface StoredMedia {
  readonly origin: MediaOrigin;
  /** Inbound: the message that carried the pointer. */
  readonly messageId: string | undefined;
  /** Inbound: the sender, as the business's pseudonym (the person the file belongs to). */
  readonly sender: string | undefined;
  readonly record: MediaRecord;
}

/** How a person is tied to a media file. */
export type PersonMediaRole = 'sender' | 'recipient';
const ROLES: readonly PersonMediaRole[] = ['sender', 'recipient'];

export function encodeStoredMedia(stored: StoredMedia): Uint8Array {
  return new ByteWriter(160)
    .u8(FORMAT)
    .u8(ORIGINS.indexOf(stored.origin))
    .bytes(utf8(stored.messageId ?? ''))
    .bytes(utf8(stored.sender ?? ''))
    .bytes(encodeMediaRecord(stored.record))
    .finish();
}

export function decodeStoredMedia(bytes: Uint8Array): StoredMedia {
  const r = new ByteReader(bytes, 'stored media');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const origin = ORIGINS[r.u8()] ?? r.fail('unknown origin');
  const messageId = r.text();
  const sender = r.text();
  const record = decodeMediaRecord(r.bytes());
  r.end();
  return {
    origin,
    messageId: messageId === '' ? undefined : messageId,
    sender: sender === '' ? undefined : sender,
    record,
  };
}

/** The media record and its id index (which outlives it, to tell "expired" from "unknown"). */
export function storedMediaWrites(
  ctx: BusinessContext,
  mediaId: string,
  stored: StoredMedia,
): WriteOperation[] {
  const deadline = stored.record.deadline;
  return [
    sealedPut(ctx, 'messages', mediaRecordKey(ctx.id, mediaId), encodeStoredMedia(stored), deadline),
    put('meta', mediaIndexKey(ctx.id, mediaId), encodeTimestamp(deadline), deadline + INDEX_GRACE_MS),
  ];
}

/** A tie between a media file and a person, kept until the file's deadline (`expiresAt`). */
export interface PersonMediaTie {
  readonly biz: string;
  readonly pseudonym: string;
  readonly mediaId: string;
  readonly role: PersonMediaRole;
  readonly expiresAt: number;
}

/** Ties a media file to a person (for erasure) until the file's deadline. */
export function personMediaWrites(tie: PersonMediaTie): WriteOperation[] {
  const { biz, pseudonym, mediaId, role, expiresAt } = tie;
  const writes = [
    put(
      'meta',
      personMediaKey(biz, pseudonym, mediaId),
      Uint8Array.of(FORMAT, ROLES.indexOf(role)),
      expiresAt,
    ),
  ];
  if (role === 'recipient') {
    writes.push(put('meta', mediaRecipientKey(biz, mediaId, pseudonym), new Uint8Array(0), expiresAt));
  }
  return writes;
}

export async function readStoredMedia(
  g: GatewayContext,
  ctx: BusinessContext,
  mediaId: string,
): Promise<{ stored: StoredMedia; version: number } | undefined> {
  const key = mediaRecordKey(ctx.id, mediaId);
  const found = await g.store.get('messages', key);
  if (!found) return undefined;
  return { stored: decodeStoredMedia(ctx.sealer.open('messages', key, found.value)), version: found.version };
}

/** The deadline a media id had, while its index lasts (undefined: never issued, deleted or erased). */
export async function mediaIndexDeadline(
  g: GatewayContext,
  biz: string,
  mediaId: string,
): Promise<number | undefined> {
  const found = await g.store.get('meta', mediaIndexKey(biz, mediaId));
  return found ? decodeTimestamp(found.value) : undefined;
}

/** Deletes of one media file's records and every index entry naming it (the blob goes after the commit). */
export async function mediaDeletion(
  g: GatewayContext,
  biz: string,
  mediaId: string,
  sender?: string,
): Promise<WriteOperation[]> {
  const writes = [del('messages', mediaRecordKey(biz, mediaId)), del('meta', mediaIndexKey(biz, mediaId))];
  if (sender !== undefined) writes.push(del('meta', personMediaKey(biz, sender, mediaId)));
  const prefix = mediaRecipientPrefix(biz, mediaId);
  for (const entry of await g.store.list('meta', { prefix })) {
    const pseudonym = entry.key.slice(prefix.length);
    writes.push(del('meta', entry.key), del('meta', personMediaKey(biz, pseudonym, mediaId)));
  }
  return writes;
}

/**
 * What erasing a person removes of media: every file they sent, and every upload the business
 * sent to them alone; uploads others got too only lose their tie to this person.
 */
export async function personMediaErasure(
  g: GatewayContext,
  biz: string,
  pseudonym: string,
): Promise<{ writes: WriteOperation[]; blobIds: string[] }> {
  const writes: WriteOperation[] = [];
  const blobIds: string[] = [];
  const prefix = personMediaPrefix(biz, pseudonym);
  for (const entry of await g.store.list('meta', { prefix })) {
    const mediaId = entry.key.slice(prefix.length);
    const role = ROLES[entry.value[1] ?? -1];
    if (role === 'recipient') {
      const others = (
        await g.store.list('meta', { prefix: mediaRecipientPrefix(biz, mediaId), limit: 2 })
      ).some((other) => other.key !== mediaRecipientKey(biz, mediaId, pseudonym));
      if (others) {
        writes.push(del('meta', entry.key), del('meta', mediaRecipientKey(biz, mediaId, pseudonym)));
        continue;
      }
    }
    writes.push(...(await mediaDeletion(g, biz, mediaId)), del('meta', entry.key));
    blobIds.push(blobIdOf(biz, mediaId));
  }
  return { writes, blobIds };
}

/**
 * Deletes blobs whose records are already gone. A failure is reported, not thrown: without its
 * record a blob is unreadable noise (its media key went with the record), and it expires anyway.
 */
export async function deleteBlobs(g: GatewayContext, blobIds: readonly string[]): Promise<void> {
  const blobStore = g.media?.blobStore;
  if (!blobStore) return;
  for (const blobId of blobIds) {
    try {
      await blobStore.delete(blobId);
    } catch (error) {
      g.reportError(error);
    }
  }
}
