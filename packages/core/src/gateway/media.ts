/**
 * Media operations of the gateway (docs/media.md): upload, download, info, delete.
 *
 * At rest a file is two things: its blob in the blob store (ciphertext ‖ MAC, exactly what the
 * media host has, with `expiresAt` at the retention deadline) and its media record in the
 * message store, where the media key is sealed under the key of the retention period the
 * deadline falls in. The sweep destroys that period key, which shreds every copy of the blob
 * (backups included) whether or not the blob store's own sweep reached it.
 *
 * Upload: the business's stream is encrypted as it is read (constant memory; over the type's
 * limit it is refused before the excess is read, a declared length over it before anything is),
 * written to the blob store, handed to the media host from there, and then recorded.
 * Download: the blob (fetched from the media host first if the store lacks it: a person's file)
 * is checked whole — length, MAC, both hashes — before the first plaintext byte is released.
 */
import { toHex, wipe } from '../bytes.js';
import { isParleyError, ParleyError } from '../errors.js';
import { generatorStream, type MediaByteSource, readBytes } from '../media/byte-source.js';
import type { EncryptedMedia } from '../media/encrypted-media.js';
import { encryptedLength } from '../media/media-format.js';
import { MEDIA_POINTER_LIMITS } from '../media/media-pointer.js';
import type { MediaFields } from '../media/media-record.js';
import { mediaRecordAad, sealMediaFields } from '../media/media-record.js';
import { decryptMediaStream, encryptMediaStream } from '../media/media-streams.js';
import { assertMediaType } from '../media/media-type.js';
import { business } from './businesses.js';
import type { GatewayContext } from './context.js';
import { blobIdOf, mediaRecordKey } from './durable/layout.js';
import { deleteBlobs, mediaDeletion, type StoredMedia, storedMediaWrites } from './durable/media-store.js';
import { assertMediaId, mediaExpired, openStoredMedia, wipeFields } from './media-content.js';
import { fetchBlobOnce } from './media-fetch.js';
import type { GatewayMedia, MediaLocation } from './media-options.js';
import type {
  DownloadMediaOptions,
  MediaId,
  MediaInfo,
  MediaTransferProgress,
  UploadMediaOptions,
} from './media-types.js';
import type { MessageId } from './types.js';
import { assertArgumentObject } from './validation.js';

const MAX_UINT32 = 0xffff_ffff;

export async function uploadMedia(
  g: GatewayContext,
  businessId: string,
  source: MediaByteSource | Uint8Array,
  options: UploadMediaOptions,
): Promise<MediaInfo> {
  g.assertOpen();
  const media = requireMedia(g);
  checkUploadOptions(options);
  const input = checkSource(source);
  const ctx = await business(g, businessId);
  const limit = media.maxBytes[options.type];
  const mediaId = newMediaId(g);
  const blobId = blobIdOf(ctx.id, mediaId);
  const now = g.clock.now();
  const deadline = now + ctx.retentionMs;
  const progress = options.onProgress;
  // A declared length over the limit throws here, before a byte is read.
  const encrypted = encryptMediaStream(input, {
    type: options.type,
    maxBytes: limit,
    declaredLength: options.declaredLength,
    crypto: g.crypto,
    random: g.random,
    onProgress: progress && ((p) => progress({ phase: 'encrypt', bytes: p.bytes, total: p.total })),
  });
  await media.blobStore.put(blobId, encrypted.blob, {
    maxBytes: encryptedLength(limit),
    expiresAt: deadline,
  });
  const fields = await encrypted.media;
  let location: MediaLocation;
  try {
    location = await uploadToHost(media, blobId, fields, progress);
  } catch (error) {
    wipe(fields.mediaKey);
    await deleteBlobs(g, [blobId]);
    throw error;
  }
  const { period, key } = await g.periodKeys.forDeadline(ctx.id, deadline);
  const sealedFields: MediaFields = {
    type: options.type,
    mimetype: options.mimetype,
    mediaKey: fields.mediaKey,
    fileSha256: fields.fileSha256,
    fileEncSha256: fields.fileEncSha256,
    fileLength: fields.fileLength,
    ...(location.directPath ? { directPath: location.directPath } : {}),
    ...(location.url ? { url: location.url } : {}),
    // The format's key timestamp is in seconds.
    mediaKeyTimestamp: Math.floor(now / 1000),
    fileName: options.fileName,
    width: options.width,
    height: options.height,
    seconds: options.seconds,
  };
  const stored: StoredMedia = {
    origin: 'upload',
    messageId: undefined,
    sender: undefined,
    record: {
      blobId,
      createdAt: now,
      deadline,
      period,
      encryptedLength: fields.encryptedLength,
      sealed: sealMediaFields(
        { crypto: g.crypto, random: g.random, periodKey: key, aad: mediaRecordAad(ctx.id, mediaId) },
        sealedFields,
      ),
    },
  };
  wipe(fields.mediaKey);
  try {
    await g.store.commit(storedMediaWrites(ctx, mediaId, stored));
  } catch (error) {
    // Without its record the blob is unreadable noise; it would expire anyway.
    await deleteBlobs(g, [blobId]);
    throw error;
  }
  g.log('debug', 'media uploaded', { businessId: ctx.id, mediaId, type: options.type });
  return describe({ businessId: ctx.id, mediaId, stored, fields: sealedFields, present: true });
}

/**
 * The file as a stream that releases nothing before the whole blob checked out. Errors that can
 * be known before reading (unknown id, expired, too large, the media host failing) reject here;
 * a blob that fails its checks errors the stream with `ERR_MEDIA_INTEGRITY`.
 */
export async function downloadMedia(
  g: GatewayContext,
  businessId: string,
  mediaId: string,
  options: DownloadMediaOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  g.assertOpen();
  const media = requireMedia(g);
  assertMediaId(mediaId);
  checkProgressOption(options);
  const ctx = await business(g, businessId);
  const { stored, fields } = await openStoredMedia(g, ctx, mediaId);
  const { blobId, deadline } = stored.record;
  const progress = options.onProgress;
  const limit = media.maxBytes[fields.type];
  if (fields.fileLength > limit) {
    wipeFields(fields);
    throw new ParleyError(
      'ERR_MEDIA_TOO_LARGE',
      `media ${fields.type} is ${fields.fileLength} bytes, limit ${limit}`,
      {
        what: `media ${fields.type}`,
        limit,
        length: fields.fileLength,
      },
    );
  }
  if (!(await media.blobStore.head(blobId))) {
    await fetchBlobOnce(g, media, {
      blobId,
      location: { directPath: fields.directPath, url: fields.url },
      descriptor: fields,
      deadline,
      businessId: ctx.id,
      mediaId,
      onProgress: progress,
    });
  }
  const open = async () => {
    const opened = await media.blobStore.get(blobId);
    if (!opened) throw g.clock.now() >= deadline ? mediaExpired() : blobGone();
    return opened.stream;
  };
  return decryptMediaStream(open, fields, {
    crypto: g.crypto,
    random: g.random,
    onProgress: progress && ((p) => progress({ phase: p.phase, bytes: p.bytes, total: p.total })),
  });
}

export async function mediaInfo(g: GatewayContext, businessId: string, mediaId: string): Promise<MediaInfo> {
  g.assertOpen();
  assertMediaId(mediaId);
  const ctx = await business(g, businessId);
  const { stored, fields } = await openStoredMedia(g, ctx, mediaId);
  wipeFields(fields);
  const present = g.media ? (await g.media.blobStore.head(stored.record.blobId)) !== undefined : false;
  return describe({ businessId: ctx.id, mediaId, stored, fields, present });
}

/** Deletes a file now: its record, its blob and every index entry naming it. */
export async function deleteMedia(g: GatewayContext, businessId: string, mediaId: string): Promise<void> {
  g.assertOpen();
  assertMediaId(mediaId);
  const ctx = await business(g, businessId);
  const { stored, version, fields } = await openStoredMedia(g, ctx, mediaId);
  wipeFields(fields);
  const writes = await mediaDeletion(g, ctx.id, mediaId, stored.sender);
  await g.store.commit(writes, {
    expectVersions: [{ namespace: 'messages', key: mediaRecordKey(ctx.id, mediaId), version }],
  });
  await deleteBlobs(g, [stored.record.blobId]);
  g.log('debug', 'media deleted', { businessId: ctx.id, mediaId });
}

/** What `describe` turns into a `MediaInfo`: the record, its opened fields, and whether the blob is stored. */
interface MediaFacts {
  readonly businessId: string;
  readonly mediaId: string;
  readonly stored: StoredMedia;
  readonly fields: MediaFields;
  readonly present: boolean;
}

function describe(facts: MediaFacts): MediaInfo {
  const { businessId, mediaId, stored, fields, present } = facts;
  return {
    mediaId: mediaId as MediaId,
    businessId,
    origin: stored.origin,
    ...(stored.messageId === undefined ? {} : { messageId: stored.messageId as MessageId }),
    type: fields.type,
    mimetype: fields.mimetype,
    fileLength: fields.fileLength,
    sha256: toHex(fields.fileSha256),
    ...(fields.fileName === undefined ? {} : { fileName: fields.fileName }),
    ...(fields.caption === undefined ? {} : { caption: fields.caption }),
    ...(fields.width === undefined ? {} : { width: fields.width }),
    ...(fields.height === undefined ? {} : { height: fields.height }),
    ...(fields.seconds === undefined ? {} : { seconds: fields.seconds }),
    createdAt: stored.record.createdAt,
    expiresAt: stored.record.deadline,
    stored: present,
  };
}

/** Hands the stored blob to the media host, counting the bytes for `upload` progress. */
async function uploadToHost(
  media: GatewayMedia,
  blobId: string,
  fields: EncryptedMedia,
  progress: ((progress: MediaTransferProgress) => void) | undefined,
): Promise<MediaLocation> {
  const opened = await media.blobStore.get(blobId);
  if (!opened) throw blobGone();
  const total = fields.encryptedLength;
  async function* counted(): AsyncGenerator<Uint8Array> {
    let bytes = 0;
    for await (const chunk of readBytes(opened!.stream, 'blob')) {
      bytes += chunk.length;
      progress?.({ phase: 'upload', bytes, total });
      yield chunk;
    }
  }
  let location: MediaLocation;
  try {
    location = await media.transport.upload(generatorStream(counted()), {
      type: fields.type,
      length: total,
      fileEncSha256: fields.fileEncSha256,
    });
  } catch (error) {
    if (isParleyError(error) && error.code !== 'ERR_TRANSPORT_FAILURE') throw error;
    // The transport's own error may say anything (a URL, a host): only its kind goes on.
    throw new ParleyError('ERR_TRANSPORT_FAILURE', 'the media host refused the upload');
  }
  return checkLocation(location);
}

function checkLocation(location: MediaLocation): MediaLocation {
  const ok = (value: unknown) =>
    value === undefined ||
    (typeof value === 'string' && value.length > 0 && value.length <= MEDIA_POINTER_LIMITS.location);
  if (
    typeof location !== 'object' ||
    location === null ||
    !ok(location.directPath) ||
    !ok(location.url) ||
    (!location.directPath && !location.url)
  ) {
    throw new ParleyError(
      'ERR_TRANSPORT_FAILURE',
      'the media transport answered an upload without a usable location (directPath or url, 1–4096 characters)',
    );
  }
  return { directPath: location.directPath, url: location.url };
}

function requireMedia(g: GatewayContext): GatewayMedia {
  if (!g.media) {
    throw new ParleyError(
      'ERR_CONFIGURATION',
      'media is off: create the gateway with media: { blobStore, transport }',
      {
        field: 'media',
      },
    );
  }
  return g.media;
}

function newMediaId(g: GatewayContext): MediaId {
  return `f${toHex(g.random(16))}` as MediaId;
}

function blobGone(): ParleyError {
  return new ParleyError('ERR_NOT_FOUND', 'the blob is gone from the blob store');
}

function checkUploadOptions(options: UploadMediaOptions): void {
  assertArgumentObject(options, 'options', 'upload options { type, mimetype, fileName?, declaredLength? }');
  assertMediaType(options.type);
  const { mimetype, fileName } = options;
  if (
    typeof mimetype !== 'string' ||
    mimetype.length === 0 ||
    mimetype.length > MEDIA_POINTER_LIMITS.mimetype
  ) {
    throw invalid('mimetype', `a MIME type of 1 to ${MEDIA_POINTER_LIMITS.mimetype} characters`);
  }
  if (
    fileName !== undefined &&
    (typeof fileName !== 'string' || fileName.length > MEDIA_POINTER_LIMITS.fileName)
  ) {
    throw invalid('fileName', `a string of at most ${MEDIA_POINTER_LIMITS.fileName} characters`);
  }
  for (const field of ['width', 'height', 'seconds'] as const) {
    const value = options[field];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0 || value > MAX_UINT32)) {
      throw invalid(field, `an integer from 0 to ${MAX_UINT32}`);
    }
  }
  checkProgressOption(options);
}

function checkProgressOption(options: DownloadMediaOptions): void {
  assertArgumentObject(options, 'options', 'an options object');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw invalid('onProgress', 'a function');
  }
}

/** Bytes are one chunk; streams and iterables are read as they come (checked again while read). */
function checkSource(source: MediaByteSource | Uint8Array): MediaByteSource {
  if (source instanceof Uint8Array) return [source];
  const object = source as unknown as Record<PropertyKey, unknown> | null;
  if (
    typeof object !== 'object' ||
    object === null ||
    (typeof object.getReader !== 'function' &&
      typeof object[Symbol.asyncIterator] !== 'function' &&
      typeof object[Symbol.iterator] !== 'function')
  ) {
    throw invalid('source', 'bytes, a ReadableStream, a Node Readable or an iterable of Uint8Array chunks');
  }
  return source;
}

function invalid(field: string, expected: string): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected ${expected}`, { field });
}
