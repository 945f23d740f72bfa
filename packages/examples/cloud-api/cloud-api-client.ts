/**
 * A business's client for the cloud API (fetch): what the example and the demo call. A refusal
 * throws a `ParleyError` with the server's code when it is one of Parley's, else an
 * `ApiError` with the HTTP layer's code.
 */
import { ERROR_CODES, type ErrorCode, type MessageId, ParleyError } from '@parley/core';
import type { z } from 'zod';
import { ApiError } from './api-errors.js';
import { phoneNumberId } from './phone-number-id.js';
import type {
  AccessLogResponseSchema,
  AccessLogVerificationSchema,
  MessageStatusResponseSchema,
  SendMessageResponseSchema,
} from './schemas.js';

export interface CloudApiClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly token: string;
}

export class CloudApiClient {
  readonly #url: string;
  readonly #token: string;

  constructor(options: CloudApiClientOptions) {
    this.#url = options.url;
    this.#token = options.token;
  }

  /** Sends a text from one of the business's numbers (E.164); resolves to the message id. */
  async sendText(from: string, to: string, body: string): Promise<MessageId> {
    const response = (await this.#request('POST', `/v1/${phoneNumberId(from)}/messages`, {
      messaging_product: 'whatsapp',
      to,
      type: 'text',
      text: { body },
    })) as z.output<typeof SendMessageResponseSchema>;
    return response.messages[0]!.id as MessageId;
  }

  status(messageId: string): Promise<z.output<typeof MessageStatusResponseSchema>> {
    return this.#request('GET', `/v1/messages/${encodeURIComponent(messageId)}`) as never;
  }

  async retransmit(messageId: string): Promise<void> {
    await this.#request('POST', `/v1/messages/${encodeURIComponent(messageId)}/retransmit`);
  }

  async erase(businessId: string, phoneNumber: string): Promise<void> {
    await this.#request('POST', `/v1/${encodeURIComponent(businessId)}/erasures`, {
      phone_number: phoneNumber,
    });
  }

  accessLog(businessId: string): Promise<z.output<typeof AccessLogResponseSchema>> {
    return this.#request('GET', `/v1/${encodeURIComponent(businessId)}/access_log`) as never;
  }

  verifyAccessLog(businessId: string): Promise<z.output<typeof AccessLogVerificationSchema>> {
    return this.#request('GET', `/v1/${encodeURIComponent(businessId)}/access_log/verification`) as never;
  }

  async #request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.#url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await response.json()) as { error?: { code?: string; type?: string; message?: string } };
    if (response.ok) return json;
    const code = json.error?.code ?? 'ERR_INTERNAL';
    const message = json.error?.message ?? `HTTP ${response.status}`;
    if ((ERROR_CODES as readonly string[]).includes(code)) throw new ParleyError(code as ErrorCode, message);
    throw new ApiError(response.status, code, (json.error?.type as ApiError['type']) ?? 'server', message);
  }
}
