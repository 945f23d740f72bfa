/**
 * The content envelope: what the Signal layer encrypts for every message Parley sends or
 * receives — text or raw bytes, a media pointer, a group context, a sender-key distribution
 * message. Byte-for-byte the WhatsApp family's `Message` protobuf (WAProto field numbers), so a
 * WhatsApp-family client parses Parley's envelope natively and Parley parses theirs; what
 * WhatsApp has no field for rides in one Parley extension field that other parsers skip.
 * Specified in docs/content-envelope.md.
 *
 *   Message
 *     1   conversation                 string   text
 *     2   senderKeyDistributionMessage {1 groupId string, 2 axolotlSenderKeyDistributionMessage bytes}
 *     3   imageMessage                 media (image)
 *     6   extendedTextMessage          {1 text string}        read only: text from WhatsApp clients
 *     7   documentMessage              media (document)
 *     8   audioMessage                 media (audio; ptt = true: ptt)
 *     9   videoMessage                 media (video; gifPlayback = true: gif)
 *     26  stickerMessage               media (sticker)
 *     66  ptvMessage                   media (ptv)
 *     5262425 parley                   {1 bytes bytes, 2 group {1 groupId string}}
 *
 * Reading: unknown fields are skipped (their numbers are reported, never their contents); a
 * known field given twice, or two media messages, or two texts, is refused — two parsers
 * could otherwise read one envelope two ways.
 */
import { copyBytes } from '../bytes.js';
import { assertBytes } from '../crypto/guards.js';
import { ParleyError } from '../errors.js';
import type { MediaPointer } from '../media/media-pointer.js';
import { MAX_MESSAGE_BYTES } from '../wire/limits.js';
import { type FieldTag, ProtobufReader, ProtobufWriter, WireType } from '../wire/protobuf.js';
import { decodeMediaMessage, encodeMediaMessage, isMediaMessageField } from './media-message.js';
import { assertWellFormed, invalidMessage, readString, SeenFields, writeString } from './proto-fields.js';

/** WAProto `Message` fields the envelope uses. */
export const MESSAGE_FIELDS = {
  conversation: 1,
  senderKeyDistributionMessage: 2,
  extendedTextMessage: 6,
} as const;

/**
 * The Parley extension field: "PLY" in ASCII (0x504C59), far above WhatsApp's numbers (about
 * 115 today) and outside protobuf's reserved 19000–19999.
 */
export const PARLEY_EXTENSION_FIELD = 0x50_4c_59;

const ParleyField = { bytes: 1, group: 2 } as const;
const GroupField = { groupId: 1 } as const;
const SkdmField = { groupId: 1, message: 2 } as const;
const ExtendedTextField = { text: 1 } as const;

/** An envelope is at most what one Signal message carries. */
export const MAX_ENVELOPE_BYTES = MAX_MESSAGE_BYTES;
/** Group ids: WhatsApp's are JIDs ("…@g.us", under 64 bytes); Parley's are ids of its own. */
export const MAX_GROUP_ID_LENGTH = 256;
/** A sender-key distribution message is about 100 bytes; this bounds a hostile one. */
export const MAX_DISTRIBUTION_MESSAGE_BYTES = 4096;

export interface GroupContext {
  readonly groupId: string;
}

export interface SenderKeyDistribution {
  readonly groupId: string;
  /** The serialized SenderKeyDistributionMessage (libsignal / WhatsApp `axolotl…` bytes). */
  readonly message: Uint8Array;
}

export interface ContentEnvelope {
  /** Text (`conversation`). */
  readonly text?: string | undefined;
  /** Bytes of the business's own format (Parley extension; WhatsApp clients do not show them). */
  readonly bytes?: Uint8Array | undefined;
  readonly media?: MediaPointer | undefined;
  /** The group the content belongs to (Parley extension). */
  readonly group?: GroupContext | undefined;
  readonly senderKeyDistribution?: SenderKeyDistribution | undefined;
}

export interface DecodedContentEnvelope extends ContentEnvelope {
  /** Numbers of top-level fields skipped as unknown (reactions, locations…), in order of appearance. */
  readonly unknownFields: readonly number[];
}

const CONTEXT = 'Message';

function invalid(field: string, expected: string): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected ${expected}`, { field });
}

function checkGroupId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_GROUP_ID_LENGTH) {
    throw invalid(field, `a non-empty string of at most ${MAX_GROUP_ID_LENGTH} characters`);
  }
  assertWellFormed(value, field);
  return value;
}

export function encodeContentEnvelope(envelope: ContentEnvelope): Uint8Array {
  if (envelope === null || typeof envelope !== 'object') throw invalid('envelope', 'an object');
  const { text, bytes, media, group, senderKeyDistribution } = envelope;
  const w = new ProtobufWriter();
  if (text !== undefined) {
    if (typeof text !== 'string') throw invalid('text', 'a string');
    writeString(w, MESSAGE_FIELDS.conversation, text, 'text');
  }
  if (senderKeyDistribution !== undefined) {
    if (senderKeyDistribution === null || typeof senderKeyDistribution !== 'object') {
      throw invalid('senderKeyDistribution', 'an object');
    }
    const groupId = checkGroupId(senderKeyDistribution.groupId, 'senderKeyDistribution.groupId');
    assertBytes(senderKeyDistribution.message, 'senderKeyDistribution.message');
    if (senderKeyDistribution.message.length > MAX_DISTRIBUTION_MESSAGE_BYTES) {
      throw invalid('senderKeyDistribution.message', `at most ${MAX_DISTRIBUTION_MESSAGE_BYTES} bytes`);
    }
    const inner = new ProtobufWriter();
    writeString(inner, SkdmField.groupId, groupId, 'senderKeyDistribution.groupId');
    inner.bytes(SkdmField.message, senderKeyDistribution.message);
    w.bytes(MESSAGE_FIELDS.senderKeyDistributionMessage, inner.finish());
  }
  if (media !== undefined) {
    const encoded = encodeMediaMessage(media);
    w.bytes(encoded.field, encoded.bytes);
  }
  if (bytes !== undefined || group !== undefined) {
    const extension = new ProtobufWriter();
    if (bytes !== undefined) {
      assertBytes(bytes, 'bytes');
      extension.bytes(ParleyField.bytes, bytes);
    }
    if (group !== undefined) {
      if (group === null || typeof group !== 'object') throw invalid('group', 'an object');
      const inner = new ProtobufWriter();
      writeString(inner, GroupField.groupId, checkGroupId(group.groupId, 'group.groupId'), 'group.groupId');
      extension.bytes(ParleyField.group, inner.finish());
    }
    w.bytes(PARLEY_EXTENSION_FIELD, extension.finish());
  }
  if (w.length > MAX_ENVELOPE_BYTES) {
    throw new ParleyError(
      'ERR_MESSAGE_TOO_LARGE',
      `content envelope is ${w.length} bytes, limit ${MAX_ENVELOPE_BYTES}`,
      {
        length: w.length,
        limit: MAX_ENVELOPE_BYTES,
      },
    );
  }
  return w.finish();
}

/**
 * Reads an envelope (Parley's or a WhatsApp-family client's `Message`). Every malformation is
 * `ERR_INVALID_MESSAGE` naming the field, never showing the bytes. Byte fields are copies.
 */
export function decodeContentEnvelope(encoded: Uint8Array): DecodedContentEnvelope {
  assertBytes(encoded, 'encoded');
  if (encoded.length > MAX_ENVELOPE_BYTES) {
    throw new ParleyError(
      'ERR_MESSAGE_TOO_LARGE',
      `content envelope is ${encoded.length} bytes, limit ${MAX_ENVELOPE_BYTES}`,
      { length: encoded.length, limit: MAX_ENVELOPE_BYTES },
    );
  }
  const reader = new ProtobufReader(encoded, CONTEXT);
  const seen = new SeenFields(CONTEXT);
  const unknownFields: number[] = [];
  let text: string | undefined;
  let media: MediaPointer | undefined;
  let senderKeyDistribution: SenderKeyDistribution | undefined;
  let extension: { bytes?: Uint8Array; group?: GroupContext } = {};
  const lengthDelimited = (n: number, wireType: number) => {
    if (wireType !== WireType.LengthDelimited) throw invalidMessage(CONTEXT, 'unexpected wire type', n);
  };
  while (reader.hasMore()) {
    const tag = reader.readTag();
    const n = tag.fieldNumber;
    if (n === MESSAGE_FIELDS.conversation || n === MESSAGE_FIELDS.extendedTextMessage) {
      lengthDelimited(n, tag.wireType);
      if (text !== undefined) throw invalidMessage(CONTEXT, 'more than one text', n);
      text =
        n === MESSAGE_FIELDS.conversation
          ? readString(reader, tag, CONTEXT, MAX_ENVELOPE_BYTES)
          : readExtendedText(reader.readBytes(tag));
    } else if (n === MESSAGE_FIELDS.senderKeyDistributionMessage) {
      lengthDelimited(n, tag.wireType);
      seen.once(tag);
      senderKeyDistribution = readDistribution(reader.readBytes(tag));
    } else if (isMediaMessageField(n)) {
      lengthDelimited(n, tag.wireType);
      if (media !== undefined) throw invalidMessage(CONTEXT, 'more than one media message', n);
      media = decodeMediaMessage(n, reader.readBytes(tag));
    } else if (n === PARLEY_EXTENSION_FIELD) {
      lengthDelimited(n, tag.wireType);
      seen.once(tag);
      extension = readExtension(reader.readBytes(tag));
    } else {
      reader.skip(tag);
      unknownFields.push(n);
    }
  }
  return {
    ...(text !== undefined ? { text } : {}),
    ...(extension.bytes !== undefined ? { bytes: extension.bytes } : {}),
    ...(media !== undefined ? { media } : {}),
    ...(extension.group !== undefined ? { group: extension.group } : {}),
    ...(senderKeyDistribution !== undefined ? { senderKeyDistribution } : {}),
    unknownFields,
  };
}

/** WhatsApp clients send text with a link preview or a quote as `extendedTextMessage`. */
function readExtendedText(bytes: Uint8Array): string | undefined {
  const context = 'Message.extendedTextMessage';
  const reader = new ProtobufReader(bytes, context);
  const seen = new SeenFields(context);
  let text: string | undefined;
  while (reader.hasMore()) {
    const tag = reader.readTag();
    if (tag.fieldNumber === ExtendedTextField.text && tag.wireType === WireType.LengthDelimited) {
      seen.once(tag);
      text = readString(reader, tag, context, MAX_ENVELOPE_BYTES);
    } else {
      reader.skip(tag);
    }
  }
  return text;
}

function readDistribution(bytes: Uint8Array): SenderKeyDistribution {
  const context = 'Message.senderKeyDistributionMessage';
  const reader = new ProtobufReader(bytes, context);
  const seen = new SeenFields(context);
  let groupId: string | undefined;
  let message: Uint8Array | undefined;
  while (reader.hasMore()) {
    const tag = reader.readTag();
    if (tag.fieldNumber === SkdmField.groupId && tag.wireType === WireType.LengthDelimited) {
      seen.once(tag);
      groupId = readGroupId(reader, tag, context);
    } else if (tag.fieldNumber === SkdmField.message && tag.wireType === WireType.LengthDelimited) {
      seen.once(tag);
      const value = reader.readBytes(tag);
      if (value.length > MAX_DISTRIBUTION_MESSAGE_BYTES)
        throw invalidMessage(context, 'too long', tag.fieldNumber);
      message = copyBytes(value);
    } else {
      reader.skip(tag);
    }
  }
  if (groupId === undefined) throw invalidMessage(context, 'missing groupId');
  if (message === undefined) throw invalidMessage(context, 'missing axolotlSenderKeyDistributionMessage');
  return { groupId, message };
}

function readExtension(bytes: Uint8Array): { bytes?: Uint8Array; group?: GroupContext } {
  const context = 'Message.parley';
  const reader = new ProtobufReader(bytes, context);
  const seen = new SeenFields(context);
  const out: { bytes?: Uint8Array; group?: GroupContext } = {};
  while (reader.hasMore()) {
    const tag = reader.readTag();
    if (tag.fieldNumber === ParleyField.bytes && tag.wireType === WireType.LengthDelimited) {
      seen.once(tag);
      out.bytes = copyBytes(reader.readBytes(tag));
    } else if (tag.fieldNumber === ParleyField.group && tag.wireType === WireType.LengthDelimited) {
      seen.once(tag);
      out.group = readGroup(reader.readBytes(tag));
    } else {
      reader.skip(tag);
    }
  }
  return out;
}

function readGroup(bytes: Uint8Array): GroupContext {
  const context = 'Message.parley.group';
  const reader = new ProtobufReader(bytes, context);
  const seen = new SeenFields(context);
  let groupId: string | undefined;
  while (reader.hasMore()) {
    const tag = reader.readTag();
    if (tag.fieldNumber === GroupField.groupId && tag.wireType === WireType.LengthDelimited) {
      seen.once(tag);
      groupId = readGroupId(reader, tag, context);
    } else {
      reader.skip(tag);
    }
  }
  if (groupId === undefined) throw invalidMessage(context, 'missing groupId');
  return { groupId };
}

function readGroupId(reader: ProtobufReader, tag: FieldTag, context: string): string {
  const value = readString(reader, tag, context, MAX_GROUP_ID_LENGTH * 3);
  if (value.length === 0 || value.length > MAX_GROUP_ID_LENGTH) {
    throw invalidMessage(context, `groupId must be 1 to ${MAX_GROUP_ID_LENGTH} characters`, tag.fieldNumber);
  }
  return value;
}
