/**
 * Sends webhooks to businesses and retries the failed ones with backoff.
 *
 * Two layers keep a notification from being lost:
 * - The gateway's handlers (`handle.onMessage`, `handle.onEvent`) are durable and at least once:
 *   a handler that throws gets the same message or event again later (messages on the
 *   gateway's own backoff, events at its next `tick()`), even after a crash.
 * - This dispatcher retries quickly, with exponential backoff on the injected clock, without
 *   making the gateway wait: `handOver` tries once; when the business's endpoint fails, the
 *   delivery stays here for its retries and `handOver` throws, so the gateway keeps its durable
 *   copy. While an endpoint has a delivery waiting for a retry, it is failing: new
 *   notifications for it are not sent (no request, nothing kept here) and `handOver` throws at
 *   once — the gateway hands them over again later, when the endpoint has answered.
 *   When the gateway hands over an id that is waiting here, it throws again (no extra request);
 *   an id delivered meanwhile returns at once, so the gateway forgets it.
 *
 * So each notification reaches the business at least once; a repeat carries the same message
 * id or `event_id`. What waits here is little (the deliveries whose first attempt failed) and
 * short-lived (`maxAttempts`: about two minutes by default, well inside the gateway's
 * plaintext TTL); after that the gateway's durable copy takes over.
 */
import { type Clock, ParleyError, type RandomSource, systemClock } from '@parley/core';
import { SIGNATURE_HEADER, signWebhookBody } from './webhook-signature.js';

/** Where a business receives its webhooks, and the secret that signs them. */
export interface WebhookTarget {
  readonly url: string;
  readonly appSecret: string;
}

export interface WebhookDelivery {
  /** The message id or event id: the same on every attempt and every redelivery. */
  readonly id: string;
  readonly payload: unknown;
}

export interface WebhookBackoff {
  /** Delay after the first failed attempt. */
  readonly initialMs: number;
  /** Delays double up to this. */
  readonly maxMs: number;
}

export interface WebhookDispatcherOptions {
  readonly clock?: Clock;
  /** For jitter: each delay is drawn from its upper half, so a recovered endpoint is not stampeded. */
  readonly random?: RandomSource;
  readonly backoff?: WebhookBackoff;
  /** Attempts before the dispatcher lets go (the gateway's durable copy remains). */
  readonly maxAttempts?: number;
  /** How long one request may take (real time: it is the network's). */
  readonly timeoutMs?: number;
  /**
   * How often due retries run on their own; `false`: only when `runDue()` is called (tests
   * move the injected clock and call it, so nothing sleeps).
   */
  readonly timer?: { readonly intervalMs: number } | false;
  /** Told about every failed attempt (no body, no secret). */
  readonly onFailure?: (failure: WebhookFailure) => void;
}

export interface WebhookFailure {
  readonly id: string;
  readonly attempt: number;
  /** HTTP status, or 0 when the request did not complete. */
  readonly status: number;
  /** True when this was the last attempt. */
  readonly gaveUp: boolean;
}

/** 1 s doubling to 2 min, 8 attempts: retries over about two minutes (1 + 2 + … + 64 s). */
export const DEFAULT_WEBHOOK_BACKOFF: WebhookBackoff = { initialMs: 1_000, maxMs: 120_000 };
export const DEFAULT_WEBHOOK_ATTEMPTS = 8;
const DEFAULT_TIMEOUT_MS = 10_000;
/** Ids remembered as delivered, to answer a gateway redelivery without a second request. */
const DELIVERED_MEMORY = 10_000;

interface Entry {
  readonly id: string;
  readonly target: WebhookTarget;
  readonly body: string;
  readonly signature: string;
  attempts: number;
  nextAttemptAt: number;
  inFlight: boolean;
}

export class WebhookDispatcher {
  readonly #clock: Clock;
  readonly #random: RandomSource | undefined;
  readonly #backoff: WebhookBackoff;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  readonly #onFailure: ((failure: WebhookFailure) => void) | undefined;
  readonly #queue = new Map<string, Entry>();
  readonly #delivered = new Set<string>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;

  constructor(options: WebhookDispatcherOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random;
    this.#backoff = options.backoff ?? DEFAULT_WEBHOOK_BACKOFF;
    this.#maxAttempts = options.maxAttempts ?? DEFAULT_WEBHOOK_ATTEMPTS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#onFailure = options.onFailure;
    const timer = options.timer ?? { intervalMs: 1_000 };
    if (timer) {
      this.#timer = setInterval(() => void this.runDue(), timer.intervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Delivers now if the business's endpoint is healthy; resolves when the business answered
   * 2xx, and throws when the delivery is (still) queued for a retry.
   */
  async handOver(target: WebhookTarget, delivery: WebhookDelivery): Promise<void> {
    if (this.#delivered.has(delivery.id)) return;
    if (this.#queue.has(delivery.id)) throw notYet();
    // A failing endpoint gets no new request until its waiting retry has been answered: the
    // gateway keeps the notification meanwhile, so nothing piles up here.
    if ([...this.#queue.values()].some((queued) => queued.target.url === target.url)) throw notYet();
    const body = JSON.stringify(delivery.payload);
    const entry: Entry = {
      id: delivery.id,
      target,
      body,
      signature: signWebhookBody(body, target.appSecret),
      attempts: 0,
      nextAttemptAt: this.#clock.now(),
      inFlight: false,
    };
    this.#queue.set(entry.id, entry);
    if (!(await this.#attempt(entry))) throw notYet();
  }

  /** Attempts every queued delivery that is due (oldest first; one failure per endpoint per round). */
  runDue(): Promise<void> {
    this.#running ??= this.#runDue().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Deliveries waiting for a retry. */
  pending(): number {
    return this.#queue.size;
  }

  /** Resolves when no request is in flight. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await this.idle();
  }

  async #runDue(): Promise<void> {
    const now = this.#clock.now();
    const failed = new Set<string>();
    for (const entry of [...this.#queue.values()]) {
      if (entry.inFlight || entry.nextAttemptAt > now || failed.has(entry.target.url)) continue;
      if (!(await this.#attempt(entry))) failed.add(entry.target.url);
    }
  }

  /** One attempt; true when the business answered 2xx. */
  async #attempt(entry: Entry): Promise<boolean> {
    entry.inFlight = true;
    entry.attempts += 1;
    const request = this.#post(entry);
    this.#inFlight.add(request);
    const status = await request.finally(() => this.#inFlight.delete(request));
    entry.inFlight = false;
    if (status >= 200 && status < 300) {
      this.#queue.delete(entry.id);
      this.#remember(entry.id);
      return true;
    }
    const gaveUp = entry.attempts >= this.#maxAttempts;
    if (gaveUp) this.#queue.delete(entry.id);
    else entry.nextAttemptAt = this.#clock.now() + this.#delay(entry.attempts);
    this.#onFailure?.({ id: entry.id, attempt: entry.attempts, status, gaveUp });
    return false;
  }

  /** The response status, or 0 when there was none (refused, reset, timed out). */
  async #post(entry: Entry): Promise<number> {
    try {
      const response = await fetch(entry.target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: entry.signature,
          'x-parley-delivery': entry.id,
          'x-parley-attempt': String(entry.attempts),
        },
        body: entry.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      await response.body?.cancel();
      return response.status;
    } catch {
      return 0;
    }
  }

  /** Doubling from `initialMs` to `maxMs`, with equal jitter when a random source is given. */
  #delay(attempts: number): number {
    const delay = Math.min(this.#backoff.initialMs * 2 ** Math.min(attempts - 1, 30), this.#backoff.maxMs);
    if (!this.#random) return delay;
    const [a = 0, b = 0] = this.#random(2);
    return Math.ceil(delay / 2 + (((a << 8) | b) / 0x10000) * (delay / 2));
  }

  #remember(id: string): void {
    this.#delivered.add(id);
    if (this.#delivered.size > DELIVERED_MEMORY) {
      const oldest = this.#delivered.values().next().value;
      if (oldest !== undefined) this.#delivered.delete(oldest);
    }
  }
}

function notYet(): ParleyError {
  return new ParleyError(
    'ERR_TRANSPORT_FAILURE',
    'the business webhook has not confirmed this notification yet; it is retried with backoff',
  );
}
