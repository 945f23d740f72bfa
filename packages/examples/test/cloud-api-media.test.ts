/**
 * Media over the cloud API: an upload as a raw body, a media send by id that the customer's
 * device fetches and decrypts, a customer's file arriving as a media webhook and downloaded by
 * its id, the answers against their documented schemas, and the refusals (too large before the
 * body is read, no content-type, a type that is not the file's, after retention).
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudApiClient } from '../cloud-api/cloud-api-client.js';
import {
  ErrorBodySchema,
  MediaInfoResponseSchema,
  SendMessageResponseSchema,
  UploadMediaResponseSchema,
} from '../cloud-api/schemas.js';
import type { WebhookMediaMessage } from '../cloud-api/webhook-payloads.js';
import { type CloudApiWorld, createCloudApiWorld } from './support/cloud-api-world.js';

const DAY = 24 * 60 * 60 * 1000;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A photo-like file: a header and pseudo-random pixels (deterministic). */
function photo(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x2545f491;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  out.set([0x89, 0x50, 0x4e, 0x47], 0);
  return out;
}

/**
 * A raw POST with exactly these headers (fetch would add a content-type). With a Content-Length
 * larger than `body`, the server must answer before the rest arrives.
 */
function post(
  url: string,
  path: string,
  headers: Record<string, string | number>,
  body: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${url}${path}`, { method: 'POST', headers });
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk) => {
        text += chunk;
      });
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body: text });
        request.destroy();
      });
    });
    request.on('error', reject);
    request.write(body);
    if (Number(headers['content-length']) === body.length) request.end();
  });
}

describe('cloud API media', () => {
  let world: CloudApiWorld;
  let client: CloudApiClient;

  beforeAll(async () => {
    world = await createCloudApiWorld();
    client = new CloudApiClient({ url: world.url, token: world.a.token });
  });
  afterAll(async () => {
    await world?.close();
  });

  it('upload → send by id → the customer’s device fetches and decrypts the photo', async () => {
    const file = photo(300_000);
    const uploaded = await world.request('POST', `/v1/${world.a.numberId}/media`, {
      token: world.a.token,
      body: Buffer.from(file) as unknown as string,
      headers: { 'content-type': 'image/png' },
    });
    expect(uploaded.status).toBe(200);
    const { id } = UploadMediaResponseSchema.parse(uploaded.json);
    const info = MediaInfoResponseSchema.parse(
      (await world.request('GET', `/v1/media/${id}`, { token: world.a.token })).json,
    );
    expect(info).toMatchObject({
      id,
      type: 'image',
      mime_type: 'image/png',
      file_size: file.length,
      sha256: sha256(file),
      origin: 'upload',
      url: `/v1/media/${id}/content`,
    });
    const sent = await world.request('POST', `/v1/${world.a.numberId}/messages`, {
      token: world.a.token,
      json: {
        messaging_product: 'whatsapp',
        to: world.a.customer.phoneNumber,
        type: 'image',
        image: { id, caption: 'Your receipt' },
      },
    });
    expect(sent.status).toBe(200);
    SendMessageResponseSchema.parse(sent.json);
    await world.settle();
    const received = world.a.customer.received.at(-1)!;
    expect(received.media).toMatchObject({ type: 'image', caption: 'Your receipt', fileLength: file.length });
    expect(sha256(await world.a.customer.downloadMedia(received.media!))).toBe(sha256(file));
    // The business downloads its own file back.
    const content = await fetch(`${world.url}/v1/media/${id}/content`, {
      headers: { authorization: `Bearer ${world.a.token}` },
    });
    expect(content.headers.get('content-type')).toBe('image/png');
    expect(content.headers.get('content-length')).toBe(String(file.length));
    expect(sha256(new Uint8Array(await content.arrayBuffer()))).toBe(sha256(file));
  });

  it('a customer’s file arrives as a media webhook; the business downloads it by id', async () => {
    const file = photo(120_000);
    await world.a.customer.sendMedia(world.a.number, file, {
      type: 'document',
      mimetype: 'application/pdf',
      fileName: 'order-17.pdf',
      caption: 'my order',
    });
    await world.settle();
    const message = world.a.receiver.messages.at(-1) as WebhookMediaMessage;
    expect(message).toMatchObject({
      type: 'document',
      document: {
        mime_type: 'application/pdf',
        file_size: file.length,
        caption: 'my order',
        filename: 'order-17.pdf',
      },
    });
    const id = message.document!.id;
    expect((await client.mediaInfo(id)).origin).toBe('inbound');
    const response = await fetch(`${world.url}/v1/media/${id}/content`, {
      headers: { authorization: `Bearer ${world.a.token}` },
    });
    expect(response.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''order-17.pdf");
    expect(sha256(new Uint8Array(await response.arrayBuffer()))).toBe(sha256(file));
  });

  it('the client: upload, send, delete; a deleted file is 404', async () => {
    const file = photo(2_000);
    const id = await client.uploadMedia(world.a.number, file, {
      mimetype: 'application/pdf',
      filename: 'terms.pdf',
    });
    expect((await client.mediaInfo(id)).file_name).toBe('terms.pdf');
    await client.sendMedia(world.a.number, world.a.customer.phoneNumber, 'document', {
      id,
      caption: 'terms',
    });
    await world.settle();
    expect(world.a.customer.received.at(-1)?.media?.fileName).toBe('terms.pdf');
    expect(sha256(await client.downloadMedia(id))).toBe(sha256(file));
    await client.deleteMedia(id);
    const gone = await world.request('GET', `/v1/media/${id}`, { token: world.a.token });
    expect(gone.status).toBe(404);
  });

  it('refusals: too large before the body is read, no content-type, another type than the file’s', async () => {
    // The world's gateway allows images up to 1 MiB: a larger Content-Length is refused unread.
    const auth = { authorization: `Bearer ${world.a.token}` };
    const big = await post(
      world.url,
      `/v1/${world.a.numberId}/media`,
      { ...auth, 'content-type': 'image/png', 'content-length': 5_000_000 },
      Buffer.alloc(1024),
    );
    expect(big.status).toBe(413);
    expect(ErrorBodySchema.parse(JSON.parse(big.body)).error.code).toBe('ERR_MEDIA_TOO_LARGE');

    const cases: Record<string, string | number>[] = [
      { 'content-length': 5 },
      { 'content-length': 5, 'content-type': 'png' },
    ];
    for (const headers of cases) {
      const untyped = await post(
        world.url,
        `/v1/${world.a.numberId}/media`,
        { ...auth, ...headers },
        Buffer.from('bytes'),
      );
      expect(untyped.status).toBe(415);
      expect(ErrorBodySchema.parse(JSON.parse(untyped.body)).error.code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
    }

    const badType = await world.request('POST', `/v1/${world.a.numberId}/media?type=gif`, {
      token: world.a.token,
      body: 'bytes',
      headers: { 'content-type': 'image/gif' },
    });
    expect(badType.status).toBe(400);

    const wrong = await world.request('POST', `/v1/${world.a.numberId}/messages`, {
      token: world.a.token,
      json: {
        messaging_product: 'whatsapp',
        to: world.a.customer.phoneNumber,
        type: 'video',
        video: { id: world.a.mediaId },
      },
    });
    expect(wrong.status).toBe(400);
    expect(ErrorBodySchema.parse(wrong.json).error.field).toBe('content.media.type');
  });

  it('after retention a file is 410 Gone', async () => {
    world.clock.advance(31 * DAY);
    await world.gateway.sweep();
    const answer = await world.request('GET', `/v1/media/${world.a.mediaId}/content`, {
      token: world.a.token,
    });
    expect(answer.status).toBe(410);
    expect(ErrorBodySchema.parse(answer.json).error.code).toBe('ERR_RETENTION_EXPIRED');
  });
});
