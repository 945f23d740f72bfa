/**
 * A media pointer as the WhatsApp family's media sub-messages (WAProto `Message.ImageMessage`,
 * `VideoMessage`, `AudioMessage`, `DocumentMessage`, `StickerMessage`), field for field, so a
 * WhatsApp-family client reads Parley's pointer natively and Parley reads theirs.
 *
 * Each message type numbers the same fields differently; one table per type says where each
 * pointer field goes. A pointer field the target message has no slot for (a caption on a
 * sticker) is refused rather than dropped. Fields Parley does not model (thumbnails, context
 * info, waveforms…) are skipped when reading.
 */
import { copyBytes } from '../bytes.js';
import { ParleyError } from '../errors.js';
import { createMediaPointer, MEDIA_POINTER_LIMITS, type MediaPointer } from '../media/media-pointer.js';
import type { MediaType } from '../media/media-type.js';
import { ProtobufReader, ProtobufWriter, WireType } from '../wire/protobuf.js';
import { invalidMessage, readBool, readString, SeenFields, writeBool, writeString } from './proto-fields.js';

/** Where each pointer field sits in one media message type (WAProto field numbers). */
interface MediaMessageLayout {
  readonly url: number;
  readonly mimetype: number;
  readonly fileSha256: number;
  readonly fileLength: number;
  readonly mediaKey: number;
  readonly fileEncSha256: number;
  readonly directPath: number;
  readonly mediaKeyTimestamp: number;
  readonly caption?: number;
  readonly fileName?: number;
  readonly width?: number;
  readonly height?: number;
  readonly seconds?: number;
  /** The bool that makes the alias: `ptt` (audio), `gifPlayback` (video). */
  readonly flag?: number;
}

const IMAGE: MediaMessageLayout = {
  url: 1,
  mimetype: 2,
  caption: 3,
  fileSha256: 4,
  fileLength: 5,
  height: 6,
  width: 7,
  mediaKey: 8,
  fileEncSha256: 9,
  directPath: 11,
  mediaKeyTimestamp: 12,
};
const STICKER: MediaMessageLayout = {
  url: 1,
  fileSha256: 2,
  fileEncSha256: 3,
  mediaKey: 4,
  mimetype: 5,
  height: 6,
  width: 7,
  directPath: 8,
  fileLength: 9,
  mediaKeyTimestamp: 10,
};
const DOCUMENT: MediaMessageLayout = {
  url: 1,
  mimetype: 2,
  fileSha256: 4,
  fileLength: 5,
  mediaKey: 7,
  fileName: 8,
  fileEncSha256: 9,
  directPath: 10,
  mediaKeyTimestamp: 11,
  caption: 20,
};
const AUDIO: MediaMessageLayout = {
  url: 1,
  mimetype: 2,
  fileSha256: 3,
  fileLength: 4,
  seconds: 5,
  flag: 6,
  mediaKey: 7,
  fileEncSha256: 8,
  directPath: 9,
  mediaKeyTimestamp: 10,
};
const VIDEO: MediaMessageLayout = {
  url: 1,
  mimetype: 2,
  fileSha256: 3,
  fileLength: 4,
  seconds: 5,
  mediaKey: 6,
  caption: 7,
  flag: 8,
  height: 9,
  width: 10,
  fileEncSha256: 11,
  directPath: 13,
  mediaKeyTimestamp: 14,
};

/** `Message` field numbers of the media sub-messages. */
export const MEDIA_MESSAGE_FIELDS = {
  imageMessage: 3,
  documentMessage: 7,
  audioMessage: 8,
  videoMessage: 9,
  stickerMessage: 26,
  ptvMessage: 66,
} as const;

interface Placement {
  readonly field: number;
  readonly layout: MediaMessageLayout;
  readonly flag?: boolean;
}

const PLACEMENT: Readonly<Record<MediaType, Placement>> = {
  image: { field: MEDIA_MESSAGE_FIELDS.imageMessage, layout: IMAGE },
  sticker: { field: MEDIA_MESSAGE_FIELDS.stickerMessage, layout: STICKER },
  document: { field: MEDIA_MESSAGE_FIELDS.documentMessage, layout: DOCUMENT },
  audio: { field: MEDIA_MESSAGE_FIELDS.audioMessage, layout: AUDIO },
  ptt: { field: MEDIA_MESSAGE_FIELDS.audioMessage, layout: AUDIO, flag: true },
  video: { field: MEDIA_MESSAGE_FIELDS.videoMessage, layout: VIDEO },
  gif: { field: MEDIA_MESSAGE_FIELDS.videoMessage, layout: VIDEO, flag: true },
  ptv: { field: MEDIA_MESSAGE_FIELDS.ptvMessage, layout: VIDEO },
};

const BY_FIELD = new Map<number, { layout: MediaMessageLayout; base: MediaType; flagged?: MediaType }>([
  [MEDIA_MESSAGE_FIELDS.imageMessage, { layout: IMAGE, base: 'image' }],
  [MEDIA_MESSAGE_FIELDS.stickerMessage, { layout: STICKER, base: 'sticker' }],
  [MEDIA_MESSAGE_FIELDS.documentMessage, { layout: DOCUMENT, base: 'document' }],
  [MEDIA_MESSAGE_FIELDS.audioMessage, { layout: AUDIO, base: 'audio', flagged: 'ptt' }],
  [MEDIA_MESSAGE_FIELDS.videoMessage, { layout: VIDEO, base: 'video', flagged: 'gif' }],
  [MEDIA_MESSAGE_FIELDS.ptvMessage, { layout: VIDEO, base: 'ptv' }],
]);

export function isMediaMessageField(fieldNumber: number): boolean {
  return BY_FIELD.has(fieldNumber);
}

/** Used when a peer's message has no MIME type (the field is optional in WAProto). */
export const DEFAULT_MIMETYPE = 'application/octet-stream';

/** The `Message` field number and the encoded sub-message for a pointer. */
export function encodeMediaMessage(pointer: MediaPointer): { field: number; bytes: Uint8Array } {
  const checked = createMediaPointer(pointer);
  const { field, layout, flag } = PLACEMENT[checked.type];
  const w = new ProtobufWriter();
  // Ascending field numbers, as protobufjs and protoc write them.
  const entries: [number, (writer: ProtobufWriter) => void][] = [
    [layout.mimetype, (x) => writeString(x, layout.mimetype, checked.mimetype, 'mimetype')],
    [layout.fileSha256, (x) => x.bytes(layout.fileSha256, checked.fileSha256)],
    [layout.fileLength, (x) => x.uint64(layout.fileLength, checked.fileLength)],
    [layout.mediaKey, (x) => x.bytes(layout.mediaKey, checked.mediaKey)],
    [layout.fileEncSha256, (x) => x.bytes(layout.fileEncSha256, checked.fileEncSha256)],
  ];
  const optional = <K extends keyof MediaPointer>(
    name: K,
    slot: number | undefined,
    write: (writer: ProtobufWriter, slot: number, value: NonNullable<MediaPointer[K]>) => void,
  ) => {
    const value = checked[name];
    if (value === undefined) return;
    if (slot === undefined) throw noSlot(name, checked.type);
    else entries.push([slot, (x) => write(x, slot, value as NonNullable<MediaPointer[K]>)]);
  };
  optional('url', layout.url, (x, slot, value) => writeString(x, slot, value as string, 'url'));
  optional('directPath', layout.directPath, (x, slot, value) =>
    writeString(x, slot, value as string, 'directPath'),
  );
  optional('mediaKeyTimestamp', layout.mediaKeyTimestamp, (x, slot, value) =>
    x.uint64(slot, value as number),
  );
  optional('caption', layout.caption, (x, slot, value) => writeString(x, slot, value as string, 'caption'));
  optional('fileName', layout.fileName, (x, slot, value) =>
    writeString(x, slot, value as string, 'fileName'),
  );
  optional('width', layout.width, (x, slot, value) => x.uint32(slot, value as number));
  optional('height', layout.height, (x, slot, value) => x.uint32(slot, value as number));
  optional('seconds', layout.seconds, (x, slot, value) => x.uint32(slot, value as number));
  if (flag === true && layout.flag !== undefined)
    entries.push([layout.flag, (x) => writeBool(x, layout.flag!, true)]);
  entries.sort((a, b) => a[0] - b[0]);
  for (const [, write] of entries) write(w);
  return { field, bytes: w.finish() };
}

/** Reads the media sub-message found in `Message` field `field`. */
export function decodeMediaMessage(field: number, bytes: Uint8Array): MediaPointer {
  const kind = BY_FIELD.get(field);
  if (kind === undefined) throw invalidMessage('Message', 'not a media message', field);
  const { layout } = kind;
  const context = `Message.${kind.base}Message`;
  const reader = new ProtobufReader(bytes, context);
  const seen = new SeenFields(context);
  const fields: Partial<Record<keyof MediaPointer, unknown>> = {};
  let flagged = false;
  const strings: [keyof MediaPointer, number | undefined, number][] = [
    // Byte limits: at most 3 UTF-8 bytes per UTF-16 unit; createMediaPointer checks characters.
    ['url', layout.url, MEDIA_POINTER_LIMITS.location * 3],
    ['directPath', layout.directPath, MEDIA_POINTER_LIMITS.location * 3],
    ['mimetype', layout.mimetype, MEDIA_POINTER_LIMITS.mimetype * 3],
    ['caption', layout.caption, MEDIA_POINTER_LIMITS.caption * 3],
    ['fileName', layout.fileName, MEDIA_POINTER_LIMITS.fileName * 3],
  ];
  const byteFields: [keyof MediaPointer, number][] = [
    ['mediaKey', layout.mediaKey],
    ['fileSha256', layout.fileSha256],
    ['fileEncSha256', layout.fileEncSha256],
  ];
  const numbers: [keyof MediaPointer, number | undefined][] = [
    ['fileLength', layout.fileLength],
    ['mediaKeyTimestamp', layout.mediaKeyTimestamp],
    ['width', layout.width],
    ['height', layout.height],
    ['seconds', layout.seconds],
  ];
  while (reader.hasMore()) {
    const tag = reader.readTag();
    const n = tag.fieldNumber;
    const asString = strings.find(([, slot]) => slot === n);
    const asBytes = byteFields.find(([, slot]) => slot === n);
    const asNumber = numbers.find(([, slot]) => slot === n);
    if (asString && tag.wireType === WireType.LengthDelimited) {
      seen.once(tag);
      fields[asString[0]] = readString(reader, tag, context, asString[2]);
    } else if (asBytes && tag.wireType === WireType.LengthDelimited) {
      seen.once(tag);
      fields[asBytes[0]] = copyBytes(reader.readBytes(tag));
    } else if (asNumber && tag.wireType === WireType.Varint) {
      seen.once(tag);
      fields[asNumber[0]] = reader.readUint64(tag);
    } else if (n === layout.flag && tag.wireType === WireType.Varint) {
      seen.once(tag);
      flagged = readBool(reader, tag);
    } else if (asString || asBytes || asNumber || n === layout.flag) {
      throw invalidMessage(context, 'unexpected wire type', n);
    } else {
      reader.skip(tag);
    }
  }
  const type = flagged && kind.flagged !== undefined ? kind.flagged : kind.base;
  for (const required of ['mediaKey', 'fileSha256', 'fileEncSha256', 'fileLength'] as const) {
    if (fields[required] === undefined) throw invalidMessage(context, `missing ${required}`);
  }
  if (!fields.url && !fields.directPath) throw invalidMessage(context, 'missing url and directPath');
  try {
    return createMediaPointer({
      ...(fields as unknown as MediaPointer),
      type,
      mimetype: (fields.mimetype as string | undefined) || DEFAULT_MIMETYPE,
      url: (fields.url as string | undefined) || undefined,
      directPath: (fields.directPath as string | undefined) || undefined,
    });
  } catch (error) {
    // A field of the right wire type but out of range (a 31-byte key, a 40-bit width).
    const field = (error as { details?: { field?: string } }).details?.field ?? 'pointer';
    throw invalidMessage(context, `invalid ${field}`);
  }
}

function noSlot(name: string, type: MediaType): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `"${name}" has no field in a ${type} message`, {
    field: name,
  });
}
