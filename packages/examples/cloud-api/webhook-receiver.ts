/**
 * A business's webhook endpoint, as a business would write one (the example, the demo and the
 * tests use it): it verifies `X-Hub-Signature-256` over the raw body before parsing anything,
 * refuses a bad signature with 401, and recognises redeliveries by message id and `event_id`.
 */
import Fastify from 'fastify';
import type { WebhookPayload, WebhookStatus, WebhookValue } from './webhook-payloads.js';
import { SIGNATURE_HEADER, verifyWebhookSignature } from './webhook-signature.js';

type WebhookMessage = NonNullable<WebhookValue['messages']>[number];

export interface WebhookReceiver {
  readonly url: string;
  /** Messages, each once (redeliveries recognised by id). */
  readonly messages: WebhookMessage[];
  /** Statuses, each once (repeats recognised by event_id). */
  readonly statuses: WebhookStatus[];
  /** Every request, in order: the server's delivery id and attempt headers, and the answer. */
  readonly log: { readonly delivery: string; readonly attempt: number; readonly status: number }[];
  /** Requests refused for their signature. */
  readonly forged: () => number;
  /**
   * Answer 503 to the next `count` well-signed requests (0: none; the server retries them): before
   * taking them in, or after (as if the answer were lost: the retry is a repeat).
   */
  failNext(count: number, when?: 'before' | 'after'): void;
  onMessage(listener: (message: WebhookMessage) => void): void;
  onStatus(listener: (status: WebhookStatus) => void): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: {
  readonly appSecret: string;
}): Promise<WebhookReceiver> {
  const messages: WebhookMessage[] = [];
  const statuses: WebhookStatus[] = [];
  const seen = new Set<string>();
  const messageListeners: ((message: WebhookMessage) => void)[] = [];
  const statusListeners: ((status: WebhookStatus) => void)[] = [];
  const log: { delivery: string; attempt: number; status: number }[] = [];
  let forged = 0;
  let failures = 0;
  let failWhen: 'before' | 'after' = 'before';
  const app = Fastify({ logger: false, forceCloseConnections: true });
  // The raw bytes: the signature covers exactly what was sent, not a re-serialisation.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  app.post('/webhook', async (request, reply) => {
    const raw = request.body as Buffer;
    const answer = (status: number) => {
      log.push({
        delivery: String(request.headers['x-parley-delivery'] ?? ''),
        attempt: Number(request.headers['x-parley-attempt'] ?? 0),
        status,
      });
      return reply.code(status).send(status === 200 ? { ok: true } : { error: 'refused' });
    };
    if (!verifyWebhookSignature(raw, request.headers[SIGNATURE_HEADER], options.appSecret)) {
      forged += 1;
      return answer(401);
    }
    const fail = failures > 0;
    if (fail) failures -= 1;
    if (fail && failWhen === 'before') return answer(503);
    const payload = JSON.parse(raw.toString('utf8')) as WebhookPayload;
    for (const entry of payload.entry) {
      for (const change of entry.changes) {
        for (const message of change.value.messages ?? []) {
          if (seen.has(message.id)) continue;
          seen.add(message.id);
          messages.push(message);
          for (const listener of messageListeners) listener(message);
        }
        for (const status of change.value.statuses ?? []) {
          if (seen.has(status.event_id)) continue;
          seen.add(status.event_id);
          statuses.push(status);
          for (const listener of statusListeners) listener(status);
        }
      }
    }
    return answer(fail ? 503 : 200);
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: `${base}/webhook`,
    messages,
    statuses,
    log,
    forged: () => forged,
    failNext(count, when = 'before') {
      failures = count;
      failWhen = when;
    },
    onMessage(listener) {
      messageListeners.push(listener);
    },
    onStatus(listener) {
      statusListeners.push(listener);
    },
    close: () => app.close(),
  };
}
