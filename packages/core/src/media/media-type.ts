import { ParleyError } from '../errors.js';

/**
 * The kinds of media a message can carry, as the WhatsApp family names them. Each has its own
 * key-expansion info string; the aliases share their parent's keys (a sticker is an image to
 * the crypto, a voice note (`ptt`) is audio, a `gif` and a round video note (`ptv`) are video),
 * so a blob encrypted as one decrypts as the other.
 */
export const MEDIA_TYPES = ['image', 'video', 'audio', 'document', 'sticker', 'ptt', 'gif', 'ptv'] as const;

export type MediaType = (typeof MEDIA_TYPES)[number];

/** HKDF info per type (Baileys `MEDIA_HKDF_KEY_MAPPING`, WhatsApp Web's media crypto). */
const KEY_INFO: Readonly<Record<MediaType, string>> = {
  image: 'WhatsApp Image Keys',
  sticker: 'WhatsApp Image Keys',
  video: 'WhatsApp Video Keys',
  gif: 'WhatsApp Video Keys',
  ptv: 'WhatsApp Video Keys',
  audio: 'WhatsApp Audio Keys',
  ptt: 'WhatsApp Audio Keys',
  document: 'WhatsApp Document Keys',
};

const TYPE_SET: ReadonlySet<string> = new Set(MEDIA_TYPES);

export function isMediaType(value: unknown): value is MediaType {
  return typeof value === 'string' && TYPE_SET.has(value);
}

export function assertMediaType(value: unknown, field = 'type'): asserts value is MediaType {
  if (!isMediaType(value)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected one of ${MEDIA_TYPES.join(', ')}`, {
      field,
    });
  }
}

/** The HKDF info string that expands a media key of this type. */
export function mediaKeyInfo(type: MediaType): string {
  assertMediaType(type);
  return KEY_INFO[type];
}
