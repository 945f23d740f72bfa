/**
 * The record the gateway keeps for each media file, beside the blob: where the blob is, when it
 * expires, and — sealed under the key of the retention period its deadline falls in — everything
 * that opens it (the media key, the hashes, the type, the MIME type, the caption…).
 *
 * Why this shreds the blob: a blob at rest is only ciphertext, and the only copy of its media
 * key is inside `sealed`. When the period key is destroyed (the vault sweep, `PeriodKeys`), every
 * copy of this record — backups included — stops opening, so every copy of the blob is noise,
 * whether or not the blob store's own sweep has reached it. Sealing the 32-byte key is enough
 * (no second pass over the blob); the rest is sealed too because `fileSha256` fingerprints the
 * plaintext and the caption and file name are content.
 *
 * Storage format (Parley's compact binary, separate from the wire format in content/):
 *   record  u8 format=1 | bytes blobId | u64 createdAt | u64 deadline | u32 period |
 *           u64 encryptedLength | bytes sealed
 *   sealed  nonce(12) ‖ AES-256-GCM(period key, fields, AAD = mediaRecordAad(business, mediaId))
 *   fields  u8 format=1 | u8 type | bytes mimetype | mediaKey(32) | fileSha256(32) |
 *           fileEncSha256(32) | u64 fileLength | u16 presence bits | the present optional fields
 *           in order: directPath, url, mediaKeyTimestamp (u64), caption, fileName, width,
 *           height, seconds (u32)
 */
import { ByteReader, ByteWriter } from '../binary.js';
import { concatBytes, fromUtf8, utf8 } from '../bytes.js';
import { assertBytes, assertInteger } from '../crypto/guards.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { isParleyError, ParleyError } from '../errors.js';
import { assertBlobId } from './blob-store-kit.js';
import { MEDIA_HASH_LENGTH, MEDIA_KEY_LENGTH } from './media-format.js';
import type { MediaPointer } from './media-pointer.js';
import { assertMediaType, MEDIA_TYPES, type MediaType } from './media-type.js';

const FORMAT = 1;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;

export interface MediaRecord {
  /** The blob's id in the blob store: random, never personal data. */
  readonly blobId: string;
  readonly createdAt: number;
  /** Retention deadline: the blob's and this record's `expiresAt`. */
  readonly deadline: number;
  /** Retention period whose key seals `sealed` (`PeriodKeys.periodOf(deadline)`). */
  readonly period: number;
  /** Blob bytes, for ranges and progress without opening anything. */
  readonly encryptedLength: number;
  /** nonce ‖ AES-256-GCM(period key, the media fields); see `sealMediaFields`. */
  readonly sealed: Uint8Array;
}

/**
 * What is sealed: a pointer's fields, where the location may still be missing (an upload the
 * transport has not placed yet). `createMediaPointer` turns it into a pointer once it has one.
 */
export type MediaFields = MediaPointer;

/** Binds a sealed record to its business and media id: moved under another key, it does not open. */
export function mediaRecordAad(businessId: string, mediaId: string): string {
  return `parley/media/v1/${businessId}/${mediaId}`;
}

export function encodeMediaRecord(record: MediaRecord): Uint8Array {
  assertBlobId(record.blobId);
  assertInteger(record.createdAt, 'createdAt', 0, Number.MAX_SAFE_INTEGER);
  assertInteger(record.deadline, 'deadline', 0, Number.MAX_SAFE_INTEGER);
  assertInteger(record.period, 'period', 0, 0xffff_ffff);
  assertInteger(record.encryptedLength, 'encryptedLength', 0, Number.MAX_SAFE_INTEGER);
  assertBytes(record.sealed, 'sealed');
  return new ByteWriter(96 + record.sealed.length)
    .u8(FORMAT)
    .bytes(utf8(record.blobId))
    .u64(record.createdAt)
    .u64(record.deadline)
    .u32(record.period)
    .u64(record.encryptedLength)
    .bytes(record.sealed)
    .finish();
}

export function decodeMediaRecord(bytes: Uint8Array): MediaRecord {
  const r = new ByteReader(bytes, 'media record');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const blobId = fromUtf8(r.bytes(256));
  const createdAt = r.u64();
  const deadline = r.u64();
  const period = r.u32();
  const encryptedLength = r.u64();
  const sealed = r.bytes();
  r.end();
  return { blobId, createdAt, deadline, period, encryptedLength, sealed };
}

const OPTIONAL = [
  'directPath',
  'url',
  'mediaKeyTimestamp',
  'caption',
  'fileName',
  'width',
  'height',
  'seconds',
] as const;
const STRINGS: ReadonlySet<string> = new Set(['directPath', 'url', 'caption', 'fileName']);

function encodeFields(fields: MediaFields): Uint8Array {
  assertMediaType(fields.type);
  assertBytes(fields.mediaKey, 'mediaKey', MEDIA_KEY_LENGTH);
  assertBytes(fields.fileSha256, 'fileSha256', MEDIA_HASH_LENGTH);
  assertBytes(fields.fileEncSha256, 'fileEncSha256', MEDIA_HASH_LENGTH);
  assertInteger(fields.fileLength, 'fileLength', 0, Number.MAX_SAFE_INTEGER);
  const w = new ByteWriter(256)
    .u8(FORMAT)
    .u8(MEDIA_TYPES.indexOf(fields.type))
    .bytes(utf8(fields.mimetype))
    .fixed(fields.mediaKey)
    .fixed(fields.fileSha256)
    .fixed(fields.fileEncSha256)
    .u64(fields.fileLength);
  let presence = 0;
  OPTIONAL.forEach((name, bit) => {
    if (fields[name] !== undefined) presence |= 1 << bit;
  });
  w.u8(presence >> 8).u8(presence & 0xff);
  for (const name of OPTIONAL) {
    const value = fields[name];
    if (value === undefined) continue;
    if (STRINGS.has(name)) w.bytes(utf8(value as string));
    else if (name === 'mediaKeyTimestamp') w.u64(value as number);
    else w.u32(value as number);
  }
  return w.finish();
}

function decodeFields(bytes: Uint8Array): MediaFields {
  const r = new ByteReader(bytes, 'media fields');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const type: MediaType = MEDIA_TYPES[r.u8()] ?? r.fail('unknown media type');
  const fields: Record<string, unknown> = {
    type,
    mimetype: fromUtf8(r.bytes()),
    mediaKey: r.fixed(MEDIA_KEY_LENGTH),
    fileSha256: r.fixed(MEDIA_HASH_LENGTH),
    fileEncSha256: r.fixed(MEDIA_HASH_LENGTH),
    fileLength: r.u64(),
  };
  const presence = (r.u8() << 8) | r.u8();
  OPTIONAL.forEach((name, bit) => {
    if ((presence & (1 << bit)) === 0) return;
    if (STRINGS.has(name)) fields[name] = fromUtf8(r.bytes());
    else fields[name] = name === 'mediaKeyTimestamp' ? r.u64() : r.u32();
  });
  r.end();
  return fields as unknown as MediaFields;
}

/** What sealing and opening need: the provider, the period's key and the record's AAD. */
export interface MediaSealContext {
  readonly crypto: CryptoProvider;
  /** The key of the retention period the deadline falls in (`PeriodKeys`). */
  readonly periodKey: Uint8Array;
  /** `mediaRecordAad(businessId, mediaId)`. */
  readonly aad: string;
}

/** nonce ‖ AES-256-GCM(periodKey, fields) with the record's AAD; a fresh random nonce per seal. */
export function sealMediaFields(
  context: MediaSealContext & { readonly random: RandomSource },
  fields: MediaFields,
): Uint8Array {
  const { crypto, random, periodKey, aad } = context;
  const plaintext = encodeFields(fields);
  const nonce = random(NONCE_LENGTH);
  const sealed = concatBytes(nonce, crypto.aes256GcmEncrypt(periodKey, nonce, plaintext, utf8(aad)));
  plaintext.fill(0);
  return sealed;
}

/**
 * The sealed fields, or `ERR_INVALID_RECORD` when they do not open (another key — the period
 * key is gone or another business's — or a record moved under another media id).
 */
export function openMediaFields(context: MediaSealContext, sealed: Uint8Array): MediaFields {
  const { crypto, periodKey, aad } = context;
  assertBytes(sealed, 'sealed');
  if (sealed.length < NONCE_LENGTH + TAG_LENGTH) {
    throw new ParleyError('ERR_INVALID_RECORD', 'sealed media fields are truncated', {});
  }
  let plaintext: Uint8Array;
  try {
    plaintext = crypto.aes256GcmDecrypt(
      periodKey,
      sealed.subarray(0, NONCE_LENGTH),
      sealed.subarray(NONCE_LENGTH),
      utf8(aad),
    );
  } catch (error) {
    if (isParleyError(error)) {
      throw new ParleyError(
        'ERR_INVALID_RECORD',
        'sealed media fields do not open (wrong key or moved record)',
        {},
      );
    }
    throw error;
  }
  try {
    return decodeFields(plaintext);
  } finally {
    plaintext.fill(0);
  }
}
