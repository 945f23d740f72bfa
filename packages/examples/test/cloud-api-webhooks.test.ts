/**
 * Webhooks to the business: the cloud API's JSON shape, signed with X-Hub-Signature-256 over the
 * raw body (a forged or altered body is detectable), retried with backoff on the injected clock
 * (no real sleeping), recognisable when repeated (message id, event_id), and never lost while
 * the gateway holds its durable copy (the dispatcher may give up; the gateway hands it over again).
 */
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookPayload } from '../cloud-api/webhook-payloads.js';
import { signWebhookBody, verifyWebhookSignature } from '../cloud-api/webhook-signature.js';
import { type CloudApiWorld, createCloudApiWorld } from './support/cloud-api-world.js';

const send = (world: CloudApiWorld, text: string) =>
  world.request('POST', `/v1/${world.a.numberId}/messages`, {
    token: world.a.token,
    json: {
      messaging_product: 'whatsapp',
      to: world.a.customer.phoneNumber,
      type: 'text',
      text: { body: text },
    },
  });

describe('cloud API webhooks', () => {
  let world: CloudApiWorld;

  beforeAll(async () => {
    world = await createCloudApiWorld({ webhooks: { maxAttempts: 3 } });
  });
  afterEach(async () => {
    world.a.receiver.failNext(0);
    await world.settle();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('a message notification has the shape businesses parse; a status names no recipient', () => {
    const message = world.a.receiver.messages[0]!;
    expect(message).toEqual({
      from: world.a.customer.phoneNumber.slice(1),
      id: world.a.inboundId,
      timestamp: String(Math.floor(world.clock.now() / 1000)),
      type: 'text',
      text: { body: 'Hello acme' },
    });
    const statuses = world.a.receiver.statuses.filter((status) => status.id === world.a.outboundId);
    expect(statuses.map((status) => status.status)).toEqual(['accepted', 'sent', 'delivered']);
    expect(new Set(statuses.map((status) => status.event_id)).size).toBe(3);
    expect(JSON.stringify(statuses)).not.toContain(world.a.customer.phoneNumber.slice(1));
  });

  it('the signature covers the raw body: a forged or altered body is detected and refused', async () => {
    // A capturing endpoint: what the server sends, byte for byte.
    const captured: { body: Buffer; signature: string }[] = [];
    const capture = Fastify();
    capture.removeAllContentTypeParsers();
    capture.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_r, body, done) =>
      done(null, body),
    );
    capture.post('/', async (request) => {
      captured.push({
        body: request.body as Buffer,
        signature: String(request.headers['x-hub-signature-256']),
      });
      return { ok: true };
    });
    const captureUrl = await capture.listen({ port: 0, host: '127.0.0.1' });
    try {
      await world.server.webhooks.subscribe(world.a.id, {
        url: `${captureUrl}/`,
        appSecret: world.a.appSecret,
      });
      await world.a.customer.send(world.a.number, 'Signed, sealed');
      await world.settle();
      expect(captured).toHaveLength(1);
      const { body, signature } = captured[0]!;
      const payload = JSON.parse(body.toString('utf8')) as WebhookPayload;
      expect(payload.object).toBe('whatsapp_business_account');
      expect(payload.entry[0]!.changes[0]!.field).toBe('messages');
      expect(signature).toBe(signWebhookBody(body, world.a.appSecret));
      expect(verifyWebhookSignature(body, signature, world.a.appSecret)).toBe(true);

      // Every single flipped byte breaks it, as do the wrong secret and a malformed header.
      for (let i = 0; i < body.length; i++) {
        const flipped = Buffer.from(body);
        flipped[i]! ^= 0x01;
        expect(verifyWebhookSignature(flipped, signature, world.a.appSecret)).toBe(false);
      }
      expect(verifyWebhookSignature(body, signature, world.b.appSecret)).toBe(false);
      for (const header of [
        undefined,
        '',
        signature.slice(7),
        `sha1=${signature.slice(7)}`,
        signature.toUpperCase(),
      ]) {
        expect(verifyWebhookSignature(body, header, world.a.appSecret)).toBe(false);
      }

      // The business's receiver refuses the altered body (with the genuine header) and keeps nothing.
      const received = world.a.receiver.messages.length;
      const altered = Buffer.from(body.toString('utf8').replace('Signed, sealed', 'Signed, forged'));
      for (const forged of [altered, Buffer.concat([body, Buffer.from(' ')])]) {
        const answer = await fetch(world.a.receiver.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
          body: new Uint8Array(forged),
        });
        expect(answer.status).toBe(401);
      }
      expect(world.a.receiver.forged()).toBe(2);
      expect(world.a.receiver.messages.length).toBe(received);
      // The genuine one is taken.
      const genuine = await fetch(world.a.receiver.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
        body: new Uint8Array(body),
      });
      expect(genuine.status).toBe(200);
      expect(world.a.receiver.messages.at(-1)!.id).toBe(payload.entry[0]!.changes[0]!.value.messages![0]!.id);
    } finally {
      await world.server.webhooks.subscribe(world.a.id, {
        url: world.a.receiver.url,
        appSecret: world.a.appSecret,
      });
      await capture.close();
    }
  });

  it('a failed webhook is retried with doubling backoff on the injected clock', async () => {
    const { receiver } = world.a;
    receiver.failNext(2);
    const logStart = receiver.log.length;
    await world.a.customer.send(world.a.number, 'Are you open on Sunday?');
    await world.settle();
    const id = receiver.log.at(-1)!.delivery;
    expect(receiver.log.slice(logStart)).toEqual([{ delivery: id, attempt: 1, status: 503 }]);
    expect(world.server.dispatcher.pending()).toBe(1);

    // 1 s after the first attempt: the second (fails); 2 s after that: the third.
    world.clock.advance(999);
    await world.server.dispatcher.runDue();
    expect(receiver.log.length - logStart).toBe(1);
    world.clock.advance(1);
    await world.server.dispatcher.runDue();
    expect(receiver.log.slice(logStart).map((entry) => [entry.attempt, entry.status])).toEqual([
      [1, 503],
      [2, 503],
    ]);
    world.clock.advance(1_999);
    await world.server.dispatcher.runDue();
    expect(receiver.log.length - logStart).toBe(2);
    world.clock.advance(1);
    await world.server.dispatcher.runDue();
    expect(
      receiver.log.slice(logStart).map((entry) => [entry.delivery, entry.attempt, entry.status]),
    ).toEqual([
      [id, 1, 503],
      [id, 2, 503],
      [id, 3, 200],
    ]);
    expect(receiver.messages.at(-1)).toMatchObject({ id, text: { body: 'Are you open on Sunday?' } });
    expect(world.server.dispatcher.pending()).toBe(0);

    // The gateway's own redelivery (it saw the first attempt fail) finds it delivered: no new request.
    world.clock.advance(60_000);
    await world.gateway.tick();
    await world.settle();
    expect(receiver.log.length - logStart).toBe(3);
    const status = await world.request('GET', `/v1/messages/${id}`, { token: world.a.token });
    expect((status.json as { status: string }).status).toBe('delivered');
  });

  it('a repeat is recognisable: the same message id and event ids arrive again and are taken once', async () => {
    const { receiver } = world.a;
    // The business takes the next two notifications but its answers are lost (503 after processing).
    receiver.failNext(2, 'after');
    const logStart = receiver.log.length;
    const statusesBefore = receiver.statuses.length;
    const sent = await send(world, 'Your bike is ready.');
    expect(sent.status).toBe(200);
    const id = (sent.json as { messages: { id: string }[] }).messages[0]!.id;
    // Retries on the dispatcher's backoff; the rest come again at the gateway's ticks.
    for (let round = 0; round < 4; round++) {
      await world.settle();
      world.clock.advance(2_000);
      await world.server.dispatcher.runDue();
    }
    await world.settle();
    const deliveries = receiver.log.slice(logStart).map((entry) => entry.delivery);
    // Some notification went twice (the same id both times) …
    expect(deliveries.length).toBeGreaterThan(new Set(deliveries).size);
    // … yet each status was taken once.
    const statuses = receiver.statuses.slice(statusesBefore);
    expect(statuses.map((status) => status.status)).toEqual(['accepted', 'sent', 'delivered']);
    expect(statuses.every((status) => status.id === id)).toBe(true);
    expect(new Set(statuses.map((status) => status.event_id)).size).toBe(3);
  });

  it('an endpoint down longer than the dispatcher tries: the gateway hands everything over again, with the same ids', async () => {
    const { receiver } = world.a;
    receiver.failNext(1_000);
    const messagesBefore = receiver.messages.length;
    const statusesBefore = receiver.statuses.length;
    await world.a.customer.send(world.a.number, 'Hello? Anyone?');
    const sent = await send(world, 'We are here.');
    expect(sent.status).toBe(200);
    await world.settle();
    // The first notification fails and waits for its retries; the others are not even sent
    // while the endpoint is failing (the gateway keeps them).
    expect(world.server.dispatcher.pending()).toBe(1);
    const attempts = receiver.log.length;
    // Three attempts (maxAttempts 3), then the dispatcher lets go.
    for (let i = 0; i < 3; i++) {
      world.clock.advance(10_000);
      await world.server.dispatcher.runDue();
    }
    expect(receiver.log.length - attempts).toBe(2);
    expect(world.server.dispatcher.pending()).toBe(0);
    expect(receiver.messages.length).toBe(messagesBefore);

    // The endpoint recovers; the gateway's durable copies come again at its next ticks.
    receiver.failNext(0);
    for (let i = 0; i < 3; i++) {
      world.clock.advance(60_000);
      await world.gateway.tick();
      await world.settle();
    }
    const messages = receiver.messages.slice(messagesBefore);
    expect(messages.map((message) => (message.type === 'text' ? message.text.body : ''))).toEqual([
      'Hello? Anyone?',
    ]);
    const id = (sent.json as { messages: { id: string }[] }).messages[0]!.id;
    expect(
      receiver.statuses
        .slice(statusesBefore)
        .filter((status) => status.id === id)
        .map((status) => status.status),
    ).toEqual(['accepted', 'sent', 'delivered']);
  });
});
