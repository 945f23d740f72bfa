/**
 * Media inside messages: the small hooks `send` (outbound.ts) and `receiveFrame` / `deliver`
 * (inbound.ts) call. A media message is an ordinary message whose content envelope carries a
 * pointer, so it is stored, encrypted per device, retried, counted (integrity, statistics,
 * billing: one message each) and expired like any other; what is added here is the link
 * between the message and the gateway's media record.
 */
import { wipe } from '../bytes.js';
import { encodeContentEnvelope } from '../content/content-envelope.js';
import { decodeMessagePlaintext } from '../content/message-plaintext.js';
import { ParleyError } from '../errors.js';
import { encryptedLength } from '../media/media-format.js';
import { createMediaPointer, MEDIA_POINTER_LIMITS, type MediaPointer } from '../media/media-pointer.js';
import { type MediaFields, mediaRecordAad, openMediaFields, sealMediaFields } from '../media/media-record.js';
import { assertMediaType } from '../media/media-type.js';
import type { WriteOperation } from '../storage/contract.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { blobIdOf } from './durable/layout.js';
import {
  mediaIndexDeadline,
  personMediaWrites,
  readStoredMedia,
  type StoredMedia,
  storedMediaWrites,
} from './durable/media-store.js';
import { type InboundMedia, MEDIA_ID, type MediaContent, type MediaId } from './media-types.js';

/** The media part of `send`'s content, checked; undefined when the content is text or bytes. */
export function checkMediaContent(content: unknown): MediaContent['media'] | undefined {
  if (typeof content !== 'object' || content === null || content instanceof Uint8Array) return undefined;
  const media = (content as Partial<MediaContent>).media;
  if (typeof media !== 'object' || media === null || Object.keys(content).length !== 1) {
    throw invalid('content', 'a string, bytes, or { media: { mediaId, caption?, fileName? } }');
  }
  assertMediaId(media.mediaId, 'content.media.mediaId');
  optionalText(media.caption, 'content.media.caption', MEDIA_POINTER_LIMITS.caption);
  optionalText(media.fileName, 'content.media.fileName', MEDIA_POINTER_LIMITS.fileName);
  if (media.type !== undefined) assertMediaType(media.type, 'content.media.type');
  return { mediaId: media.mediaId, caption: media.caption, fileName: media.fileName, type: media.type };
}

/** A media file ready to go into one message. */
export interface Attachment {
  /** The content envelope with the pointer, encoded: call it in the synchronous step that seals it. */
  encode(): Uint8Array;
  /** Ties an uploaded file to its recipient (for erasure), in the message's commit. */
  writes(pseudonym: string): WriteOperation[];
}

/**
 * Reads a business's media record for a send. The pointer is opened only to check that the
 * envelope can carry it (a caption on a sticker is refused here, before the message is counted)
 * and again inside `encode`; nothing holds the media key in between.
 */
export async function loadAttachment(
  g: GatewayContext,
  ctx: BusinessContext,
  media: MediaContent['media'],
): Promise<Attachment> {
  const { stored, fields, periodKey } = await openStoredMedia(g, ctx, media.mediaId);
  const type = fields.type;
  wipeFields(fields);
  if (media.type !== undefined && media.type !== type) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"content.media.type" is ${media.type}; the file is ${type}`,
      {
        field: 'content.media.type',
      },
    );
  }
  const sealedFields = stored.record.sealed;
  const encode = (): Uint8Array => {
    const opened = openMediaFields(
      { crypto: g.crypto, periodKey, aad: mediaRecordAad(ctx.id, media.mediaId) },
      sealedFields,
    );
    try {
      // A caption belongs to this message, not to the file: a forwarded file loses the sender's.
      const pointer = createMediaPointer({
        ...opened,
        caption: media.caption,
        fileName: media.fileName ?? opened.fileName,
      });
      try {
        return encodeContentEnvelope({ media: pointer });
      } finally {
        wipe(pointer.mediaKey);
      }
    } finally {
      wipeFields(opened);
    }
  };
  wipe(encode());
  return {
    encode,
    writes: (pseudonym) =>
      stored.origin === 'upload'
        ? personMediaWrites({
            biz: ctx.id,
            pseudonym,
            mediaId: media.mediaId,
            role: 'recipient',
            expiresAt: stored.record.deadline,
          })
        : [],
  };
}

/**
 * A business's media record and its opened fields, or the error a caller gets: `ERR_NOT_FOUND`
 * for an id never issued (or deleted, erased, or another business's), `ERR_RETENTION_EXPIRED`
 * once its deadline passed or its period key is gone.
 */
export async function openStoredMedia(
  g: GatewayContext,
  ctx: BusinessContext,
  mediaId: string,
): Promise<{ stored: StoredMedia; version: number; fields: MediaFields; periodKey: Uint8Array }> {
  const found = await readStoredMedia(g, ctx, mediaId);
  const now = g.clock.now();
  if (!found) {
    const deadline = await mediaIndexDeadline(g, ctx.id, mediaId);
    if (deadline !== undefined && deadline <= now) throw mediaExpired();
    throw mediaNotFound();
  }
  if (found.stored.record.deadline <= now) throw mediaExpired();
  const periodKey = await g.periodKeys.forPeriod(ctx.id, found.stored.record.period);
  if (!periodKey) throw mediaExpired();
  const fields = openMediaFields(
    { crypto: g.crypto, periodKey, aad: mediaRecordAad(ctx.id, mediaId) },
    found.stored.record.sealed,
  );
  return { ...found, fields, periodKey };
}

/** An inbound message's media id: its message id with `f` for `m` (one file per message at most). */
export function inboundMediaId(messageId: string): MediaId {
  return `f${messageId.slice(1)}` as MediaId;
}

export interface InboundMediaInput {
  readonly messageId: string;
  /** The unpadded plaintext as the person's device sent it. */
  readonly content: Uint8Array;
  readonly deadline: number;
  readonly period: number;
  readonly periodKey: Uint8Array;
  readonly pseudonym: string;
  readonly now: number;
}

/**
 * The media record of a person's message that carries a pointer, committed with the message
 * (inside the decrypt's atomic commit): the pointer sealed under the message's period key, the
 * blob still on the network's media host until the business first downloads it.
 */
export function inboundMediaWrites(
  g: GatewayContext,
  ctx: BusinessContext,
  input: InboundMediaInput,
): WriteOperation[] {
  const envelope = decodeMessagePlaintext(input.content, false);
  const pointer = envelope.raw ? undefined : envelope.media;
  if (!pointer) return [];
  const mediaId = inboundMediaId(input.messageId);
  const sealed = sealMediaFields(
    { crypto: g.crypto, random: g.random, periodKey: input.periodKey, aad: mediaRecordAad(ctx.id, mediaId) },
    pointer,
  );
  wipe(pointer.mediaKey);
  const stored: StoredMedia = {
    origin: 'inbound',
    messageId: input.messageId,
    sender: input.pseudonym,
    record: {
      blobId: blobIdOf(ctx.id, mediaId),
      createdAt: input.now,
      deadline: input.deadline,
      period: input.period,
      encryptedLength: encryptedLength(pointer.fileLength),
      sealed,
    },
  };
  return [
    ...storedMediaWrites(ctx, mediaId, stored),
    ...personMediaWrites({
      biz: ctx.id,
      pseudonym: input.pseudonym,
      mediaId,
      role: 'sender',
      expiresAt: input.deadline,
    }),
  ];
}

/** What the handler learns about a person's file: the media id and the pointer's non-secret fields. */
export function inboundMedia(messageId: string, pointer: MediaPointer): InboundMedia {
  return {
    mediaId: inboundMediaId(messageId),
    type: pointer.type,
    mimetype: pointer.mimetype,
    fileLength: pointer.fileLength,
    ...(pointer.caption === undefined ? {} : { caption: pointer.caption }),
    ...(pointer.fileName === undefined ? {} : { fileName: pointer.fileName }),
    ...(pointer.width === undefined ? {} : { width: pointer.width }),
    ...(pointer.height === undefined ? {} : { height: pointer.height }),
    ...(pointer.seconds === undefined ? {} : { seconds: pointer.seconds }),
  };
}

export function assertMediaId(value: unknown, field = 'mediaId'): asserts value is MediaId {
  if (typeof value !== 'string' || !MEDIA_ID.test(value)) {
    throw invalid(field, 'a media id this gateway issued ("f" and 32 hex digits)');
  }
}

export function mediaNotFound(): ParleyError {
  return new ParleyError('ERR_NOT_FOUND', 'no such media (never uploaded, deleted, erased, or long expired)');
}

export function mediaExpired(): ParleyError {
  return new ParleyError(
    'ERR_RETENTION_EXPIRED',
    'the media file passed its retention deadline; its blob and key are gone',
  );
}

/** Best-effort wipe of the secret fields an opened record holds. */
export function wipeFields(fields: MediaFields): void {
  wipe(fields.mediaKey);
}

function optionalText(value: unknown, field: string, max: number): void {
  if (value !== undefined && (typeof value !== 'string' || value.length > max)) {
    throw invalid(field, `a string of at most ${max} characters`);
  }
}

function invalid(field: string, expected: string): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected ${expected}`, { field });
}
