/**
 * The gateway's WebSocket link to the network: its `Transport`, and the receiver of inbound
 * frames and receipts. Reconnects after a drop (a bounded number of times); while it is
 * down, `send` fails and the gateway retries on its own schedule.
 */
import { type Gateway, isParleyError, ParleyError, type RetryRequest, type Transport } from '@parley/core';
import WebSocket from 'ws';
import { frameFromJson, frameToJson, receiptFromJson } from '../src/wire-json.js';
import { PendingRequests, parseWsMessage, type WsMessage } from './protocol.js';

export interface GatewayWsLinkOptions {
  readonly url: string;
  /** Reconnection attempts after the link drops, before giving up (default 50). */
  readonly maxReconnects?: number;
  /** Pause between reconnection attempts (default 25 ms): network pacing, not protocol timing. */
  readonly reconnectDelayMs?: number;
}

export class GatewayWsLink implements Transport {
  /** Successful reconnections after a drop. */
  reconnects = 0;
  private socket: WebSocket | undefined;
  private pending = new PendingRequests();
  private gateway: Gateway | undefined;
  private closed = false;
  private attemptsLeft: number;
  private readonly maxReconnects: number;
  private readonly delayMs: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disconnectWaiters: (() => void)[] = [];

  constructor(private readonly options: GatewayWsLinkOptions) {
    this.maxReconnects = options.maxReconnects ?? 50;
    this.delayMs = options.reconnectDelayMs ?? 25;
    this.attemptsLeft = this.maxReconnects;
  }

  /** The gateway that receives inbound frames (created with this link as its transport). */
  attach(gateway: Gateway): void {
    this.gateway = gateway;
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Resolves when the current connection is lost. */
  nextDisconnect(): Promise<void> {
    return new Promise((resolve) => this.disconnectWaiters.push(resolve));
  }

  /** Opens the first connection. */
  connect(): Promise<void> {
    return this.open(false);
  }

  private open(isReconnect: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.options.url);
      const pending = new PendingRequests();
      socket.once('open', () => {
        this.socket = socket;
        this.pending = pending;
        this.attemptsLeft = this.maxReconnects;
        if (isReconnect) this.reconnects += 1;
        resolve();
      });
      socket.on('message', (data) => {
        void this.handle(socket, pending, String(data));
      });
      socket.once('close', () => {
        pending.failAll(new ParleyError('ERR_TRANSPORT_FAILURE', 'the network connection closed'));
        if (this.socket === socket) {
          this.socket = undefined;
          for (const waiter of this.disconnectWaiters) waiter();
          this.disconnectWaiters = [];
        }
        this.scheduleReconnect();
      });
      socket.once('error', (error) => {
        if (socket.readyState !== WebSocket.OPEN) reject(error);
      });
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer || this.socket || this.attemptsLeft <= 0) return;
    this.attemptsLeft -= 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failed attempt closes its socket, which schedules the next one.
      this.open(true).catch(() => undefined);
    }, this.delayMs);
  }

  private async handle(socket: WebSocket, pending: PendingRequests, raw: string): Promise<void> {
    let message: WsMessage;
    try {
      message = parseWsMessage(raw);
    } catch {
      return;
    }
    pending.settle(message, (code) =>
      code === 'ERR_TRANSPORT_FAILURE'
        ? new ParleyError('ERR_TRANSPORT_FAILURE', 'the network refused the frame')
        : new ParleyError('ERR_INVALID_ARGUMENT', `the network refused the request (${code})`),
    );
    if (message.op !== 'frame' && message.op !== 'receipt') return;
    const answer = (value: WsMessage) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(value));
    };
    try {
      const gateway = this.gateway;
      if (!gateway) throw new ParleyError('ERR_TRANSPORT_FAILURE', 'no gateway attached yet');
      if (message.op === 'frame') {
        answer({
          op: 'result',
          seq: message.seq,
          value: await gateway.receiveFrame(frameFromJson(message.frame)),
        });
      } else {
        await gateway.receiveReceipt(receiptFromJson(message.receipt));
        answer({ op: 'result', seq: message.seq });
      }
    } catch (error) {
      const code = isParleyError(error) ? error.code : ((error as { code?: string }).code ?? 'ERR_INTERNAL');
      answer({ op: 'error', seq: message.seq, code, message: 'refused' });
    }
  }

  private async request(message: (seq: number) => WsMessage): Promise<unknown> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      throw new ParleyError('ERR_TRANSPORT_FAILURE', 'not connected to the network');
    }
    const { seq, answer } = this.pending.next();
    socket.send(JSON.stringify(message(seq)));
    return answer;
  }

  // ── Transport ──
  async send(frame: Parameters<Transport['send']>[0]): Promise<void> {
    await this.request((seq) => ({ op: 'send', seq, frame: frameToJson(frame) }));
  }

  async requestRetry(request: RetryRequest): Promise<void> {
    this.fireAndForget({ op: 'retry', request });
  }

  async acknowledge(frameId: string): Promise<void> {
    this.fireAndForget({ op: 'ack', frameId });
  }

  private fireAndForget(message: WsMessage): void {
    if (this.socket?.readyState !== WebSocket.OPEN) {
      throw new ParleyError('ERR_TRANSPORT_FAILURE', 'not connected to the network');
    }
    this.socket.send(JSON.stringify(message));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.close();
    });
  }
}
