/**
 * Webhook bodies in the shape businesses already parse (the reference cloud API's
 * `whatsapp_business_account` notifications): one entry per business, one `messages` change
 * carrying either `messages` (a person wrote) or `statuses` (how a sent message fares).
 *
 * Ids make redeliveries recognisable: an inbound message keeps its `id` on every attempt, and
 * each status carries the gateway's `event_id`, the same on every repeat. Statuses name no
 * recipient: Parley's status events carry no phone number, by design.
 */
import type { GatewayEvent, InboundMedia, InboundMessage } from '@parley/core';
import { phoneNumberId } from './phone-number-id.js';

export interface WebhookTextMessage {
  readonly from: string;
  readonly id: string;
  readonly timestamp: string;
  readonly type: 'text';
  readonly text: { readonly body: string };
}

/** The reference API's media kinds; Parley's aliases map onto them (ptt → audio, gif and ptv → video). */
export type WebhookMediaKind = 'image' | 'video' | 'audio' | 'document' | 'sticker';

/** A file a person sent: its facts and the id `GET /v1/media/{media_id}/content` takes. */
export interface WebhookMediaMessage {
  readonly from: string;
  readonly id: string;
  readonly timestamp: string;
  readonly type: WebhookMediaKind;
  readonly image?: WebhookMedia;
  readonly video?: WebhookMedia;
  readonly audio?: WebhookMedia;
  readonly document?: WebhookMedia;
  readonly sticker?: WebhookMedia;
}

export interface WebhookMedia {
  readonly id: string;
  readonly mime_type: string;
  readonly file_size: number;
  readonly caption?: string;
  readonly filename?: string;
  /** Audio recorded as a voice note (`ptt`). */
  readonly voice?: boolean;
}

/** Content that is not UTF-8 text (the reference API's type for what it cannot show). */
export interface WebhookUnsupportedMessage {
  readonly from: string;
  readonly id: string;
  readonly timestamp: string;
  readonly type: 'unsupported';
  readonly errors: readonly { readonly code: string; readonly title: string }[];
}

export interface WebhookStatus {
  readonly id: string;
  /** Parley's statuses (accepted, sent, delivered, failed, expired), and `dropped` for an inbound message never taken. */
  readonly status: string;
  readonly timestamp: string;
  readonly event_id: string;
  readonly devices?: readonly { readonly device_id: number; readonly state: string }[];
  readonly errors?: readonly { readonly code: string; readonly title: string }[];
}

export interface WebhookValue {
  readonly messaging_product: 'whatsapp';
  readonly metadata?: { readonly display_phone_number: string; readonly phone_number_id: string };
  readonly contacts?: readonly { readonly wa_id: string }[];
  readonly messages?: readonly (WebhookTextMessage | WebhookMediaMessage | WebhookUnsupportedMessage)[];
  readonly statuses?: readonly WebhookStatus[];
}

export interface WebhookPayload {
  readonly object: 'whatsapp_business_account';
  readonly entry: readonly {
    readonly id: string;
    readonly changes: readonly { readonly field: 'messages'; readonly value: WebhookValue }[];
  }[];
}

export function messageNotification(message: InboundMessage): WebhookPayload {
  const from = phoneNumberId(message.from);
  const common = { from, id: message.id, timestamp: seconds(message.receivedAt) };
  const text = decodeText(message.content);
  const entry: WebhookTextMessage | WebhookMediaMessage | WebhookUnsupportedMessage = message.media
    ? mediaEntry(common, message.media)
    : text === undefined
      ? {
          ...common,
          type: 'unsupported',
          errors: [{ code: 'ERR_INVALID_MESSAGE', title: 'the content is not UTF-8 text' }],
        }
      : { ...common, type: 'text', text: { body: text } };
  return notification(message.businessId, {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: phoneNumberId(message.to), phone_number_id: phoneNumberId(message.to) },
    contacts: [{ wa_id: from }],
    messages: [entry],
  });
}

const MEDIA_KIND: Readonly<Record<InboundMedia['type'], WebhookMediaKind>> = {
  image: 'image',
  sticker: 'sticker',
  document: 'document',
  audio: 'audio',
  ptt: 'audio',
  video: 'video',
  gif: 'video',
  ptv: 'video',
};

function mediaEntry(
  common: { readonly from: string; readonly id: string; readonly timestamp: string },
  media: InboundMedia,
): WebhookMediaMessage {
  const kind = MEDIA_KIND[media.type];
  const facts: WebhookMedia = {
    id: media.mediaId,
    mime_type: media.mimetype,
    file_size: media.fileLength,
    ...(media.caption === undefined ? {} : { caption: media.caption }),
    ...(media.fileName === undefined ? {} : { filename: media.fileName }),
    ...(media.type === 'ptt' ? { voice: true } : {}),
  };
  return { ...common, type: kind, [kind]: facts };
}

/** A durable event: a status of a sent message, or an inbound message dropped. */
export type DurableEvent = Exclude<GatewayEvent, { readonly type: 'identity-changed' }>;

export function statusNotification(event: DurableEvent): WebhookPayload {
  const status: WebhookStatus =
    event.type === 'dropped'
      ? { id: event.messageId, status: 'dropped', timestamp: seconds(event.at), event_id: event.eventId }
      : {
          id: event.messageId,
          status: event.status,
          timestamp: seconds(event.at),
          event_id: event.eventId,
          devices: event.devices.map((device) => ({ device_id: device.deviceId, state: device.state })),
          ...(event.reason
            ? { errors: [{ code: event.reason, title: `the message ${event.status}: ${event.reason}` }] }
            : {}),
        };
  return notification(event.businessId, { messaging_product: 'whatsapp', statuses: [status] });
}

function notification(businessId: string, value: WebhookValue): WebhookPayload {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: businessId, changes: [{ field: 'messages', value }] }],
  };
}

/** The reference API's timestamps: whole seconds since the epoch, as a string. */
function seconds(ms: number): string {
  return String(Math.floor(ms / 1000));
}

function decodeText(content: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    return undefined;
  }
}
