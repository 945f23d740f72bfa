/**
 * The business's endpoints. Every handler works through the `BusinessHandle` of the caller's
 * token and nothing else: the handle is what keeps one business out of another's numbers,
 * message ids and people (another business's id is ERR_NOT_FOUND exactly as a missing one),
 * and what writes the access log. The one check made here is on the `{business_id}` in a path:
 * the handle is always the token's business, so any other id answers like an unknown business.
 */
import { type BusinessHandle, ParleyError } from '@parley/core';
import { phoneNumberId, toE164 } from './phone-number-id.js';
import { defineRoute, type RouteSpec } from './route-spec.js';
import {
  AccessLogQuerySchema,
  AccessLogResponseSchema,
  AccessLogVerificationSchema,
  BusinessParams,
  EraseRequestSchema,
  MessageParams,
  MessageStatusResponseSchema,
  PhoneNumberParams,
  PhoneNumbersResponseSchema,
  SendMessageRequestSchema,
  SendMessageResponseSchema,
  SuccessResponseSchema,
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
    errors: [403, 404, 413, 415],
    async handler({ params, body }, { handle }) {
      const id = await handle.send({
        from: toE164(params.phone_number_id),
        to: toE164(body.to),
        content: body.text.body,
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

/** Another business's id reads exactly like one that does not exist. */
function ownBusiness(handle: BusinessHandle, businessId: string): void {
  if (businessId !== handle.businessId) {
    throw new ParleyError('ERR_NOT_FOUND', 'no such business');
  }
}
