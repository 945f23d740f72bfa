/**
 * Messages on the example WebSocket between the relay (network) and the gateway. Each
 * request carries a `seq`; the answer echoes it. Bodies of frames are base64 (see wire-json).
 */
import { BadRequest, parseJson, record } from '../src/wire-json.js';

export type WsMessage =
  // relay → gateway
  | { readonly op: 'frame'; readonly seq: number; readonly frame: unknown }
  | { readonly op: 'receipt'; readonly seq: number; readonly receipt: unknown }
  // gateway → relay
  | { readonly op: 'send'; readonly seq: number; readonly frame: unknown }
  | { readonly op: 'ack'; readonly frameId: unknown }
  | { readonly op: 'retry'; readonly request: unknown }
  // answers, both ways
  | { readonly op: 'result'; readonly seq: number; readonly value?: unknown }
  | { readonly op: 'error'; readonly seq?: number; readonly code: string; readonly message: string };

const OPS = new Set(['frame', 'receipt', 'send', 'ack', 'retry', 'result', 'error']);

export function parseWsMessage(raw: string): WsMessage {
  const object = record(parseJson(raw), 'message');
  if (typeof object.op !== 'string' || !OPS.has(object.op)) {
    throw new BadRequest(
      400,
      'ERR_INVALID_ARGUMENT',
      '"op" expected one of frame, receipt, send, ack, retry, result, error',
    );
  }
  if (['frame', 'receipt', 'send', 'result'].includes(object.op) && !Number.isSafeInteger(object.seq)) {
    throw new BadRequest(400, 'ERR_INVALID_ARGUMENT', '"seq" expected an integer');
  }
  return object as unknown as WsMessage;
}

/** Requests awaiting their answer; all fail when the socket goes away. */
export class PendingRequests {
  private seq = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();

  next(): { seq: number; answer: Promise<unknown> } {
    this.seq += 1;
    const seq = this.seq;
    const answer = new Promise<unknown>((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
    return { seq, answer };
  }

  settle(message: WsMessage, toError: (code: string) => Error): void {
    if (message.op !== 'result' && message.op !== 'error') return;
    if (message.seq === undefined) return;
    const waiter = this.waiting.get(message.seq);
    if (!waiter) return;
    this.waiting.delete(message.seq);
    if (message.op === 'result') waiter.resolve(message.value);
    else waiter.reject(toError(message.code));
  }

  failAll(error: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}
