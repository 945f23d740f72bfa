/**
 * The cloud API's request and response shapes, as zod schemas: the server validates with them
 * and the OpenAPI document is generated from them, so the two cannot drift apart. Request
 * objects are strict (an unknown field is refused, not ignored); field names follow the
 * reference cloud API (snake_case).
 */
import { z } from 'zod';

// ── Ids and numbers ──────────────────────────────────────────────────────────────

export const BusinessIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/)
  .describe('The business (the reference API: WhatsApp Business Account id).');

export const PhoneNumberIdSchema = z
  .string()
  .regex(/^[1-9][0-9]{3,14}$/)
  .describe('A business number: its E.164 digits without the "+".');

export const MessageIdSchema = z
  .string()
  .regex(/^m[0-9a-f]{32}$/)
  .describe('A message id the gateway issued (random: it says nothing about sender or content).');

export const MediaIdSchema = z
  .string()
  .regex(/^f[0-9a-f]{32}$/)
  .describe('A media id the gateway issued (random; an inbound file’s follows its message id).');

/** A person's number: E.164, the "+" optional as in the reference API. */
export const RecipientSchema = z
  .string()
  .regex(/^\+?[1-9][0-9]{3,14}$/)
  .describe('E.164 phone number, with or without the "+".');

const PRINCIPAL = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;
const DAY = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const EPOCH_MS = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

// ── Path parameters ──────────────────────────────────────────────────────────────

export const PhoneNumberParams = z.strictObject({ phone_number_id: PhoneNumberIdSchema });
export const MessageParams = z.strictObject({ message_id: MessageIdSchema });
export const BusinessParams = z.strictObject({ business_id: BusinessIdSchema });
export const MediaParams = z.strictObject({ media_id: MediaIdSchema });

// ── Messages ─────────────────────────────────────────────────────────────────────

/** The reference API's limit for a text message body. */
export const MAX_TEXT_LENGTH = 4096;

export const SendTextMessageSchema = z
  .strictObject({
    messaging_product: z.literal('whatsapp'),
    recipient_type: z.literal('individual').optional(),
    to: RecipientSchema,
    type: z.literal('text'),
    text: z.strictObject({
      body: z.string().min(1).max(MAX_TEXT_LENGTH),
      preview_url: z.boolean().optional().describe('Accepted for compatibility; Parley sends no previews.'),
    }),
  })
  .describe('A text message.');

/** The reference API's limits for a media caption and a document's file name. */
export const MAX_CAPTION_LENGTH = 1024;
export const MAX_FILENAME_LENGTH = 240;

const caption = z.string().min(1).max(MAX_CAPTION_LENGTH).optional().describe('Shown with the file.');

/** A media message: the file by the id `POST /v1/{phone_number_id}/media` answered. */
function sendMediaSchema<
  T extends 'image' | 'video' | 'audio' | 'document' | 'sticker',
  S extends z.ZodRawShape,
>(type: T, media: S) {
  return z
    .strictObject({
      messaging_product: z.literal('whatsapp'),
      recipient_type: z.literal('individual').optional(),
      to: RecipientSchema,
      type: z.literal(type),
      [type]: z.strictObject({ id: MediaIdSchema, ...media }),
    } as {
      messaging_product: z.ZodLiteral<'whatsapp'>;
      recipient_type: z.ZodOptional<z.ZodLiteral<'individual'>>;
      to: typeof RecipientSchema;
      type: z.ZodLiteral<T>;
    } & { [K in T]: z.ZodObject<{ id: typeof MediaIdSchema } & S, z.core.$strict> })
    .describe(`A ${type} message (the file must have been uploaded as ${type}).`);
}

export const SendImageMessageSchema = sendMediaSchema('image', { caption });
export const SendVideoMessageSchema = sendMediaSchema('video', { caption });
export const SendAudioMessageSchema = sendMediaSchema('audio', {});
export const SendStickerMessageSchema = sendMediaSchema('sticker', {});
export const SendDocumentMessageSchema = sendMediaSchema('document', {
  caption,
  filename: z
    .string()
    .min(1)
    .max(MAX_FILENAME_LENGTH)
    .optional()
    .describe('The file name the person sees (default: the one given at upload).'),
});

/** One variant per message type. */
export const SendMessageRequestSchema = z.discriminatedUnion('type', [
  SendTextMessageSchema,
  SendImageMessageSchema,
  SendVideoMessageSchema,
  SendAudioMessageSchema,
  SendDocumentMessageSchema,
  SendStickerMessageSchema,
]);

export type SendMessageRequest = z.output<typeof SendMessageRequestSchema>;

export const SendMessageResponseSchema = z.object({
  messaging_product: z.literal('whatsapp'),
  messages: z.array(z.object({ id: MessageIdSchema, message_status: z.literal('accepted') })).length(1),
});

const DeviceDeliverySchema = z.object({
  device_id: z.number().int(),
  state: z.enum(['pending', 'sent', 'delivered']),
});

export const MessageStatusResponseSchema = z.object({
  id: MessageIdSchema,
  direction: z.enum(['inbound', 'outbound']),
  status: z.enum(['accepted', 'sent', 'delivered', 'failed', 'expired', 'pending', 'dropped']),
  devices: z.array(DeviceDeliverySchema).describe("Outbound: each of the person's devices; inbound: empty."),
  attempts: z.number().int(),
  created_at: z.number().int().describe('Epoch milliseconds.'),
  expires_at: z.number().int().describe('Epoch milliseconds; the message and its content are deleted then.'),
});

export const SuccessResponseSchema = z.object({ success: z.literal(true) });

// ── Media ────────────────────────────────────────────────────────────────────────

/** What an upload may be sent as; the default follows the content-type (image/*, video/*, audio/*, else document). */
export const UPLOAD_MEDIA_TYPES = ['image', 'video', 'audio', 'document', 'sticker'] as const;

export const UploadMediaQuerySchema = z.strictObject({
  type: z.enum(UPLOAD_MEDIA_TYPES).optional().describe('The kind of file (default: from the content-type).'),
  filename: z.string().min(1).max(MAX_FILENAME_LENGTH).optional().describe('Documents: the file name shown.'),
});

export const UploadMediaResponseSchema = z.object({ id: MediaIdSchema });

export const MediaInfoResponseSchema = z.object({
  messaging_product: z.literal('whatsapp'),
  id: MediaIdSchema,
  url: z.string().describe('Where to download the file with the same token (a path on this server).'),
  mime_type: z.string(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .describe('SHA-256 of the file, hex.'),
  file_size: z.number().int(),
  type: z.enum(['image', 'video', 'audio', 'document', 'sticker', 'ptt', 'gif', 'ptv']),
  origin: z.enum(['upload', 'inbound']).describe('Uploaded by the business, or sent by a person.'),
  message_id: MessageIdSchema.nullable().describe('Inbound: the message that carried the file.'),
  file_name: z.string().nullable(),
  expires_at: z
    .number()
    .int()
    .describe('Epoch milliseconds; the file, its blob and its key are deleted then.'),
});

// ── Business numbers, erasure, usage ─────────────────────────────────────────────

export const PhoneNumbersResponseSchema = z.object({
  data: z.array(z.object({ id: PhoneNumberIdSchema, display_phone_number: z.string() })),
});

export const EraseRequestSchema = z.strictObject({
  phone_number: RecipientSchema.describe('The customer whose messages, sessions and number are deleted.'),
});

export const UsageQuerySchema = z.strictObject({
  day: z.string().regex(DAY).describe('UTC day, YYYY-MM-DD.'),
});

export const UsageResponseSchema = z.object({
  day: z.string(),
  statistics: z
    .object({
      messages_in: z.number().int(),
      messages_out: z.number().int(),
      delivered: z.number().int(),
      failed: z.number().int(),
      expired: z.number().int(),
      sessions_established: z.number().int(),
    })
    .nullable(),
  billing: z
    .object({
      business_initiated_delivered: z.number().int(),
      conversations_opened: z.number().int(),
      conversations_opened_by_business: z.number().int(),
      conversations_opened_by_person: z.number().int(),
    })
    .nullable(),
});

// ── Access log ───────────────────────────────────────────────────────────────────

export const ACCESS_OPERATION_NAMES = [
  'send',
  'retransmit',
  'status',
  'erase',
  'numbers',
  'usage',
  'on-message',
  'on-event',
  'access-log',
  'upload-media',
  'download-media',
  'media-info',
  'delete-media',
  'group-create',
  'group-add',
  'group-remove',
  'group-send',
  'group-info',
  'group-delete',
] as const;

export const AccessLogQuerySchema = z.strictObject({
  since: EPOCH_MS.optional().describe('Records at or after this time (epoch ms).'),
  until: EPOCH_MS.optional().describe('Records before this time (epoch ms).'),
  principal: z.string().regex(PRINCIPAL).optional(),
  operation: z.enum(ACCESS_OPERATION_NAMES).optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .describe('At most this many, oldest first (default 100).'),
});

export const AccessRecordSchema = z.object({
  seq: z.number().int().describe('Sequence number in this business’s chain, from 1.'),
  at: z.number().int().describe('Epoch milliseconds.'),
  principal: z.string().describe('Who acted: the token’s principal label.'),
  operation: z.enum(ACCESS_OPERATION_NAMES),
  business_id: BusinessIdSchema,
  message_id: z
    .union([MessageIdSchema, MediaIdSchema])
    .nullable()
    .describe('The message concerned; for media operations the media id.'),
  person: z
    .string()
    .nullable()
    .describe('The person concerned as the business’s pseudonym; never a phone number.'),
  group: z.string().nullable().describe('The group of a group operation (a random id).'),
  outcome: z.string().describe('"ok" or the Parley error code the operation ended with.'),
  previous_at: z.number().int(),
  previous_mac: z.string().regex(/^[0-9a-f]{64}$/),
  mac: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .describe('HMAC-SHA256 over the record and the previous MAC.'),
});

export const AccessLogResponseSchema = z.object({ data: z.array(AccessRecordSchema) });

export const AccessLogVerificationSchema = z.object({
  ok: z.boolean(),
  records: z.number().int(),
  first_seq: z.number().int().nullable(),
  last_seq: z.number().int().nullable(),
  problem: z.object({ seq: z.number().int(), reason: z.string() }).nullable(),
});

// ── Errors ───────────────────────────────────────────────────────────────────────

export const ErrorBodySchema = z.object({
  error: z.object({
    code: z
      .string()
      .describe("Parley's error code (ERR_NOT_FOUND, …) or the HTTP layer's (ERR_UNAUTHORIZED, …)."),
    type: z.enum([
      'invalid_request',
      'authentication',
      'not_found',
      'gone',
      'integrity',
      'rate_limit',
      'unavailable',
      'server',
    ]),
    message: z.string(),
    field: z.string().optional(),
  }),
});

// ── The network's side (transport ingress) ──────────────────────────────────────

const E164 = z.string().regex(/^\+[1-9][0-9]{3,14}$/);
/** A frame carries at most 64 KiB of content, padded and encrypted: base64 of well under 256 KiB. */
export const MAX_FRAME_BASE64 = 256 * 1024;
const BASE64 = z
  .string()
  .max(MAX_FRAME_BASE64)
  .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);

export const InboundFrameSchema = z.strictObject({
  frameId: z.string().min(1).max(256),
  to: E164.describe('The business number.'),
  from: E164.describe("The person's number, as the network attributes the sender."),
  deviceId: z.number().int().min(1).max(0x7fff_ffff),
  type: z
    .union([z.literal(2), z.literal(3), z.literal(7), z.literal(8)])
    .describe(
      '2 = SignalMessage, 3 = PreKeySignalMessage, 7 = SenderKeyMessage (a group message), 8 = plaintext content: a decryption-error message about a frame of the business.',
    ),
  body: BASE64.describe('The ciphertext (or, type 8, the plaintext content), base64.'),
  groupId: z.string().min(1).max(256).optional().describe('Type 7 only: the group.'),
  timestamp: z
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .describe("The message's timestamp as the sender's device stamped it (epoch ms)."),
});

export const ReceiveOutcomeSchema = z.union([
  z.object({ kind: z.literal('accepted'), messageId: MessageIdSchema }),
  z.object({ kind: z.literal('distribution') }),
  z.object({ kind: z.literal('duplicate') }),
  z.object({ kind: z.literal('undecryptable'), reason: z.string(), retryRequested: z.boolean() }),
  z.object({
    kind: z.literal('decryption-error'),
    resent: z.boolean(),
    sessionArchived: z.boolean(),
    reason: z.string().optional(),
  }),
]);

export const ReceiptSchema = z.strictObject({ frameId: z.string().min(1).max(256) });
