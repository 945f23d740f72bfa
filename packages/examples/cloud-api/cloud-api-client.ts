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
  MediaInfoResponseSchema,
  MessageStatusResponseSchema,
  SendMessageResponseSchema,
  UploadMediaResponseSchema,
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

  /** Uploads a file from one of the business's numbers; resolves to its media id. */
  async uploadMedia(
    from: string,
    file: Uint8Array,
    options: { readonly mimetype: string; readonly type?: string; readonly filename?: string },
  ): Promise<string> {
    const query = new URLSearchParams();
    if (options.type !== undefined) query.set('type', options.type);
    if (options.filename !== undefined) query.set('filename', options.filename);
    const suffix = query.size > 0 ? `?${query}` : '';
    const response = (await this.#request('POST', `/v1/${phoneNumberId(from)}/media${suffix}`, file, {
      'content-type': options.mimetype,
    })) as z.output<typeof UploadMediaResponseSchema>;
    return response.id;
  }

  /** Sends an uploaded file (`type` as it was uploaded); resolves to the message id. */
  async sendMedia(
    from: string,
    to: string,
    type: 'image' | 'video' | 'audio' | 'document' | 'sticker',
    media: { readonly id: string; readonly caption?: string; readonly filename?: string },
  ): Promise<MessageId> {
    const response = (await this.#request('POST', `/v1/${phoneNumberId(from)}/messages`, {
      messaging_product: 'whatsapp',
      to,
      type,
      [type]: media,
    })) as z.output<typeof SendMessageResponseSchema>;
    return response.messages[0]!.id as MessageId;
  }

  mediaInfo(mediaId: string): Promise<z.output<typeof MediaInfoResponseSchema>> {
    return this.#request('GET', `/v1/media/${encodeURIComponent(mediaId)}`) as never;
  }

  /** The file's bytes (checked by the server before it sent the first one). */
  async downloadMedia(mediaId: string): Promise<Uint8Array> {
    const response = await fetch(`${this.#url}/v1/media/${encodeURIComponent(mediaId)}/content`, {
      headers: { authorization: `Bearer ${this.#token}` },
    });
    if (!response.ok) await this.#refusal(response);
    return new Uint8Array(await response.arrayBuffer());
  }

  async deleteMedia(mediaId: string): Promise<void> {
    await this.#request('DELETE', `/v1/media/${encodeURIComponent(mediaId)}`);
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

  async #request(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const raw = body instanceof Uint8Array;
    const response = await fetch(`${this.#url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined || raw ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: raw ? Buffer.from(body) : JSON.stringify(body) }),
    });
    if (!response.ok) return this.#refusal(response);
    return response.json();
  }

  async #refusal(response: Response): Promise<never> {
    const json = (await response.json().catch(() => ({}))) as {
      error?: { code?: string; type?: string; message?: string };
    };
    const code = json.error?.code ?? 'ERR_INTERNAL';
    const message = json.error?.message ?? `HTTP ${response.status}`;
    if ((ERROR_CODES as readonly string[]).includes(code)) throw new ParleyError(code as ErrorCode, message);
    throw new ApiError(response.status, code, (json.error?.type as ApiError['type']) ?? 'server', message);
  }
}
