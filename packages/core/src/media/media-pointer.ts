/**
 * What a message carries about one media file: where the blob is and everything needed to
 * check and decrypt it — the WhatsApp family's media-message fields (`ImageMessage`,
 * `VideoMessage`, `AudioMessage`, `DocumentMessage`, `StickerMessage` in WAProto), so the
 * content envelope can carry it natively.
 *
 * `mediaKey` is a secret (it opens the file): a pointer made by `createMediaPointer` prints and
 * serializes as a summary without it, the hashes or the location.
 */
import { copyBytes } from '../bytes.js';
import { assertBytes } from '../crypto/guards.js';
import { ParleyError } from '../errors.js';
import { inspectCustom } from '../redaction.js';
import { MAX_MEDIA_FILE_LENGTH, MEDIA_HASH_LENGTH, MEDIA_KEY_LENGTH } from './media-format.js';
import { assertMediaType, type MediaType } from './media-type.js';

export interface MediaPointer {
  readonly type: MediaType;
  /** MIME type of the plaintext, e.g. "image/jpeg". */
  readonly mimetype: string;
  readonly mediaKey: Uint8Array;
  /** SHA-256 of the plaintext. */
  readonly fileSha256: Uint8Array;
  /** SHA-256 of the blob (ciphertext ‖ MAC). */
  readonly fileEncSha256: Uint8Array;
  /** Plaintext length in bytes. */
  readonly fileLength: number;
  /** Path of the blob on the media host (the WhatsApp family's `directPath`). */
  readonly directPath?: string | undefined;
  /** Full URL of the blob, when the sender gives one. */
  readonly url?: string | undefined;
  /** When the media key was made, epoch seconds (`mediaKeyTimestamp`). */
  readonly mediaKeyTimestamp?: number | undefined;
  readonly caption?: string | undefined;
  /** Documents: the file name shown to the person. */
  readonly fileName?: string | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
  /** Audio and video: duration in seconds. */
  readonly seconds?: number | undefined;
}

/** Field limits: generous for real files, small enough that a pointer stays a few KiB. */
export const MEDIA_POINTER_LIMITS = {
  mimetype: 255,
  location: 4096,
  caption: 65_536,
  fileName: 1024,
} as const;

const MAX_UINT32 = 0xffff_ffff;

function invalid(field: string, expected: string): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected ${expected}`, { field });
}

function optionalString(value: unknown, field: string, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max)
    throw invalid(field, `a string of at most ${max} characters`);
  return value;
}

function optionalInteger(value: unknown, field: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalid(field, `an integer from 0 to ${max}`);
  }
  return value;
}

/**
 * A checked, redacted copy of `fields`: byte fields are copied (the caller may reuse its
 * arrays), and at least one of `directPath` and `url` must say where the blob is.
 */
export function createMediaPointer(fields: MediaPointer): MediaPointer {
  if (fields === null || typeof fields !== 'object') throw invalid('pointer', 'an object');
  assertMediaType(fields.type);
  const mimetype = optionalString(fields.mimetype, 'mimetype', MEDIA_POINTER_LIMITS.mimetype);
  if (mimetype === undefined || mimetype.length === 0) throw invalid('mimetype', 'a non-empty string');
  assertBytes(fields.mediaKey, 'mediaKey', MEDIA_KEY_LENGTH);
  assertBytes(fields.fileSha256, 'fileSha256', MEDIA_HASH_LENGTH);
  assertBytes(fields.fileEncSha256, 'fileEncSha256', MEDIA_HASH_LENGTH);
  const fileLength = optionalInteger(fields.fileLength, 'fileLength', MAX_MEDIA_FILE_LENGTH);
  if (fileLength === undefined) throw invalid('fileLength', `an integer from 0 to ${MAX_MEDIA_FILE_LENGTH}`);
  const directPath = optionalString(fields.directPath, 'directPath', MEDIA_POINTER_LIMITS.location);
  const url = optionalString(fields.url, 'url', MEDIA_POINTER_LIMITS.location);
  if (!directPath && !url) throw invalid('directPath', 'a non-empty directPath or url (where the blob is)');
  const pointer: MediaPointer = {
    type: fields.type,
    mimetype,
    mediaKey: copyBytes(fields.mediaKey),
    fileSha256: copyBytes(fields.fileSha256),
    fileEncSha256: copyBytes(fields.fileEncSha256),
    fileLength,
    ...(directPath ? { directPath } : {}),
    ...(url ? { url } : {}),
    ...defined(
      'mediaKeyTimestamp',
      optionalInteger(fields.mediaKeyTimestamp, 'mediaKeyTimestamp', Number.MAX_SAFE_INTEGER),
    ),
    ...defined('caption', optionalString(fields.caption, 'caption', MEDIA_POINTER_LIMITS.caption)),
    ...defined('fileName', optionalString(fields.fileName, 'fileName', MEDIA_POINTER_LIMITS.fileName)),
    ...defined('width', optionalInteger(fields.width, 'width', MAX_UINT32)),
    ...defined('height', optionalInteger(fields.height, 'height', MAX_UINT32)),
    ...defined('seconds', optionalInteger(fields.seconds, 'seconds', MAX_UINT32)),
  };
  return redact(pointer);
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Non-secret facts about a pointer, for logs. */
export function describeMediaPointer(pointer: MediaPointer): Record<string, string | number> {
  return {
    type: pointer.type,
    mimetype: pointer.mimetype,
    fileLength: pointer.fileLength,
  };
}

function redact(pointer: MediaPointer): MediaPointer {
  const summary = () => ({ mediaPointer: describeMediaPointer(pointer) });
  Object.defineProperty(pointer, 'toJSON', { value: summary, enumerable: false });
  Object.defineProperty(pointer, inspectCustom, {
    value: () => `MediaPointer ${JSON.stringify(describeMediaPointer(pointer))}`,
    enumerable: false,
  });
  return Object.freeze(pointer);
}
