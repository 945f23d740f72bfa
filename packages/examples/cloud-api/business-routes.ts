/**
 * The business's endpoints. Every handler works through the `BusinessHandle` of the caller's
 * token and nothing else: the handle is what keeps one business out of another's numbers,
 * message ids and people (another business's id is ERR_NOT_FOUND exactly as a missing one),
 * and what writes the access log. The one check made here is on the `{business_id}` in a path:
 * the handle is always the token's business, so any other id answers like an unknown business.
 */
import { Readable } from 'node:stream';
import { type BusinessHandle, type MediaContent, type MediaType, ParleyError } from '@parley/core';
import { z } from 'zod';
import { ApiError } from './api-errors.js';
import { phoneNumberId, toE164 } from './phone-number-id.js';
import { defineRoute, RawBodySchema, type RouteSpec } from './route-spec.js';
import {
  AccessLogQuerySchema,
  AccessLogResponseSchema,
  AccessLogVerificationSchema,
  BusinessParams,
  EraseRequestSchema,
  MediaInfoResponseSchema,
  MediaParams,
  MessageParams,
  MessageStatusResponseSchema,
  PhoneNumberParams,
  PhoneNumbersResponseSchema,
  type SendMessageRequest,
  SendMessageRequestSchema,
  SendMessageResponseSchema,
  SuccessResponseSchema,
  UploadMediaQuerySchema,
  UploadMediaResponseSchema,
  UsageQuerySchema,
  UsageResponseSchema,
} from './schemas.js';

export interface BusinessContext {
  readonly handle: BusinessHandle;
}

const route = defineRoute<BusinessContext>();

/** Records returned when the query names no limit. */
const DEFAULT_ACCESS_LOG_LIMIT = 100;

export const BUSINESS_ROUTES: readonly RouteSpec<BusinessContext>[] = [
  route({
    method: 'POST',
    path: '/v1/{phone_number_id}/messages',
    operationId: 'sendMessage',
    summary: 'Send a message from one of your numbers',
    tag: 'messages',
    security: 'business',
    params: PhoneNumberParams,
    body: SendMessageRequestSchema,
    response: {
      status: 200,
      description: 'Accepted: stored, encrypted and queued',
      schema: SendMessageResponseSchema,
    },
    errors: [403, 404, 410, 413, 415],
    async handler({ params, body }, { handle }) {
      const id = await handle.send({
        from: toE164(params.phone_number_id),
        to: toE164(body.to),
        content: body.type === 'text' ? body.text.body : mediaContent(body),
      });
      return {
        messaging_product: 'whatsapp' as const,
        messages: [{ id, message_status: 'accepted' as const }],
      };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/messages/{message_id}',
    operationId: 'getMessageStatus',
    summary: "Where a message stands, per device of the person's",
    tag: 'messages',
    security: 'business',
    params: MessageParams,
    response: { status: 200, description: 'The status', schema: MessageStatusResponseSchema },
    errors: [404],
    async handler({ params }, { handle }) {
      const status = await handle.status(params.message_id);
      return {
        id: status.messageId,
        direction: status.direction,
        status: status.status,
        devices: status.devices.map((device) => ({ device_id: device.deviceId, state: device.state })),
        attempts: status.attempts,
        created_at: status.createdAt,
        expires_at: status.deadline,
      };
    },
  }),
  route({
    method: 'POST',
    path: '/v1/messages/{message_id}/retransmit',
    operationId: 'retransmitMessage',
    summary: 'Send a message again to the devices that have not confirmed it',
    tag: 'messages',
    security: 'business',
    params: MessageParams,
    response: { status: 200, description: 'Queued again', schema: SuccessResponseSchema },
    errors: [403, 404, 410],
    async handler({ params }, { handle }) {
      await handle.retransmit(params.message_id);
      return { success: true as const };
    },
  }),
  route({
    method: 'POST',
    path: '/v1/{phone_number_id}/media',
    operationId: 'uploadMedia',
    summary: 'Upload a file (the raw body, its MIME type as content-type); send it by the id answered',
    tag: 'media',
    security: 'business',
    params: PhoneNumberParams,
    query: UploadMediaQuerySchema,
    body: RawBodySchema,
    rawBody: {
      description:
        'The file, unencoded. Content-Type is its MIME type; Content-Length (when sent) over the type’s limit is refused before the body is read.',
    },
    response: {
      status: 200,
      description: 'Encrypted, stored and placed on the media host',
      schema: UploadMediaResponseSchema,
    },
    errors: [404, 413, 415, 503],
    async handler({ params, query, body }, { handle }) {
      await ownNumber(handle, toE164(params.phone_number_id));
      if (!body.contentType || !MIME_TYPE.test(body.contentType)) throw noContentType();
      const info = await handle.uploadMedia(body.stream, {
        type: query.type ?? typeOfMime(body.contentType),
        mimetype: body.contentType,
        fileName: query.filename,
        declaredLength: body.length,
      });
      return { id: info.mediaId };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/media/{media_id}',
    operationId: 'getMedia',
    summary: 'What a file is (type, MIME type, size, SHA-256, expiry) and where to download it',
    tag: 'media',
    security: 'business',
    params: MediaParams,
    response: { status: 200, description: 'The file’s facts', schema: MediaInfoResponseSchema },
    errors: [404, 410],
    async handler({ params }, { handle }) {
      const info = await handle.mediaInfo(params.media_id);
      return {
        messaging_product: 'whatsapp' as const,
        id: info.mediaId,
        url: `/v1/media/${info.mediaId}/content`,
        mime_type: info.mimetype,
        sha256: info.sha256,
        file_size: info.fileLength,
        type: info.type,
        origin: info.origin,
        message_id: info.messageId ?? null,
        file_name: info.fileName ?? null,
        expires_at: info.expiresAt,
      };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/media/{media_id}/content',
    operationId: 'downloadMedia',
    summary: 'The file itself (a person’s file is fetched from the media host the first time)',
    tag: 'media',
    security: 'business',
    params: MediaParams,
    response: {
      status: 200,
      description: 'The file, checked whole (MAC, hashes, length) before its first byte is sent',
      schema: z.unknown(),
      binary: true,
    },
    errors: [404, 410, 413, 502, 503],
    async handler({ params }, { handle }) {
      const info = await handle.mediaInfo(params.media_id);
      const stream = await handle.downloadMedia(params.media_id);
      // The first chunk comes only after every check passed: a failure is still an error status.
      const reader = stream.getReader();
      const first = await reader.read();
      async function* body(): AsyncGenerator<Uint8Array> {
        try {
          if (!first.done) yield first.value;
          for (;;) {
            const next = await reader.read();
            if (next.done) return;
            yield next.value;
          }
        } finally {
          reader.releaseLock();
        }
      }
      return {
        stream: Readable.from(body(), { objectMode: false }),
        contentType: info.mimetype,
        length: info.fileLength,
        fileName: info.fileName,
      };
    },
  }),
  route({
    method: 'DELETE',
    path: '/v1/media/{media_id}',
    operationId: 'deleteMedia',
    summary: 'Delete a file now (its record, blob and key); messages already sent keep their copy',
    tag: 'media',
    security: 'business',
    params: MediaParams,
    response: { status: 200, description: 'Deleted', schema: SuccessResponseSchema },
    errors: [404, 410],
    async handler({ params }, { handle }) {
      await handle.deleteMedia(params.media_id);
      return { success: true as const };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/{business_id}/phone_numbers',
    operationId: 'listPhoneNumbers',
    summary: "The business's numbers",
    tag: 'business',
    security: 'business',
    params: BusinessParams,
    response: { status: 200, description: 'The numbers', schema: PhoneNumbersResponseSchema },
    errors: [404],
    async handler({ params }, { handle }) {
      ownBusiness(handle, params.business_id);
      const numbers = await handle.numbers();
      return { data: numbers.map((number) => ({ id: phoneNumberId(number), display_phone_number: number })) };
    },
  }),
  route({
    method: 'POST',
    path: '/v1/{business_id}/erasures',
    operationId: 'eraseCustomer',
    summary: 'Delete everything the business holds about one customer',
    tag: 'business',
    security: 'business',
    params: BusinessParams,
    body: EraseRequestSchema,
    response: {
      status: 200,
      description: 'Erased (also when there was nothing to erase)',
      schema: SuccessResponseSchema,
    },
    errors: [404, 413, 415],
    async handler({ params, body }, { handle }) {
      ownBusiness(handle, params.business_id);
      await handle.erase(toE164(body.phone_number));
      return { success: true as const };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/{business_id}/access_log',
    operationId: 'getAccessLog',
    summary: "The business's access log: every call made on its behalf (reading it is logged too)",
    tag: 'access log',
    security: 'business',
    params: BusinessParams,
    query: AccessLogQuerySchema,
    response: { status: 200, description: 'Records, oldest first', schema: AccessLogResponseSchema },
    errors: [404],
    async handler({ params, query }, { handle }) {
      ownBusiness(handle, params.business_id);
      const records = await handle.accessLog({
        ...(query.since === undefined ? {} : { since: query.since }),
        ...(query.until === undefined ? {} : { until: query.until }),
        ...(query.principal === undefined ? {} : { principal: query.principal }),
        ...(query.operation === undefined ? {} : { operation: query.operation }),
        limit: query.limit ?? DEFAULT_ACCESS_LOG_LIMIT,
      });
      return {
        data: records.map((record) => ({
          seq: record.seq,
          at: record.at,
          principal: record.principal,
          operation: record.operation,
          business_id: record.businessId,
          message_id: record.messageId ?? null,
          person: record.person ?? null,
          group: record.group ?? null,
          outcome: record.outcome,
          previous_at: record.previousAt,
          previous_mac: record.previousMac,
          mac: record.mac,
        })),
      };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/{business_id}/access_log/verification',
    operationId: 'verifyAccessLog',
    summary: "Checks the business's access-log chain (edited, removed or truncated records)",
    tag: 'access log',
    security: 'business',
    params: BusinessParams,
    response: { status: 200, description: 'The verification', schema: AccessLogVerificationSchema },
    errors: [404],
    async handler({ params }, { handle }) {
      ownBusiness(handle, params.business_id);
      const result = await handle.verifyAccessLog();
      return {
        ok: result.ok,
        records: result.records,
        first_seq: result.firstSeq ?? null,
        last_seq: result.lastSeq ?? null,
        problem: result.problem ?? null,
      };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/{business_id}/usage',
    operationId: 'getUsage',
    summary: "The business's non-personal statistics and billing for one UTC day",
    tag: 'business',
    security: 'business',
    params: BusinessParams,
    query: UsageQuerySchema,
    response: { status: 200, description: 'Counts only', schema: UsageResponseSchema },
    errors: [404, 501],
    async handler({ params, query }, { handle }) {
      ownBusiness(handle, params.business_id);
      const { statistics, billing } = await handle.usage(query.day);
      return {
        day: query.day,
        statistics: statistics
          ? {
              messages_in: statistics.messagesIn,
              messages_out: statistics.messagesOut,
              delivered: statistics.delivered,
              failed: statistics.failed,
              expired: statistics.expired,
              sessions_established: statistics.sessionsEstablished,
            }
          : null,
        billing: billing
          ? {
              business_initiated_delivered: billing.businessInitiatedDelivered,
              conversations_opened: billing.conversationsOpened,
              conversations_opened_by_business: billing.conversationsOpenedBy.business,
              conversations_opened_by_person: billing.conversationsOpenedBy.person,
            }
          : null,
      };
    },
  }),
];

/** `type/subtype`: what an upload's content-type must be. */
const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** The reference API's default kind of an upload, from its MIME type. */
function typeOfMime(mimetype: string): MediaType {
  const top = mimetype.slice(0, mimetype.indexOf('/'));
  return top === 'image' || top === 'video' || top === 'audio' ? top : 'document';
}

/** A media message's content, checked by the gateway against the file's type. */
function mediaContent(body: Exclude<SendMessageRequest, { type: 'text' }>): MediaContent {
  const media = (body as Record<string, unknown>)[body.type] as {
    id: string;
    caption?: string;
    filename?: string;
  };
  return { media: { mediaId: media.id, caption: media.caption, fileName: media.filename, type: body.type } };
}

/** A number of this business; any other reads exactly like an unregistered one. */
async function ownNumber(handle: BusinessHandle, number: string): Promise<void> {
  if (!(await handle.numbers()).includes(number)) {
    throw new ParleyError('ERR_NOT_FOUND', 'this business number is not registered with the gateway');
  }
}

function noContentType(): ApiError {
  return new ApiError(
    415,
    'ERR_UNSUPPORTED_MEDIA_TYPE',
    'invalid_request',
    'an upload needs the file’s MIME type as content-type (type/subtype)',
  );
}

/** Another business's id reads exactly like one that does not exist. */
function ownBusiness(handle: BusinessHandle, businessId: string): void {
  if (businessId !== handle.businessId) {
    throw new ParleyError('ERR_NOT_FOUND', 'no such business');
  }
}
