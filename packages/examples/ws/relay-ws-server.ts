/**
 * The network's WebSocket side: the gateway connects here, receives inbound frames and
 * receipts, and sends outbound frames, acknowledgements and retry requests. A frame for a
 * gateway that is not connected stays queued in the network and is redelivered once it is
 * back (`TestNetwork` keeps "unreachable" packets).
 */
import type { AddressInfo } from 'node:net';
import { ParleyError } from '@parley/core';
import type { GatewayEndpoint, TestNetwork } from '@parley/core/testing';
import { type WebSocket, WebSocketServer } from 'ws';
import { BadRequest, frameFromJson, frameToJson, retryRequestFromJson, text } from '../src/wire-json.js';
import { PendingRequests, parseWsMessage, type WsMessage } from './protocol.js';

export interface WsRelay {
  readonly url: string;
  /** Give to `network.connect(...)`: delivers to whichever gateway connection is open. */
  readonly endpoint: GatewayEndpoint;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Resolves at the next accepted connection. */
  nextConnection(): Promise<void>;
  /** Cuts every connection, as a network blip would. */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startWsRelay(
  network: TestNetwork,
  options: { readonly idle?: () => Promise<void> } = {},
): Promise<WsRelay> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 256 * 1024 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  let current: { socket: WebSocket; pending: PendingRequests } | undefined;
  let connections = 0;
  let waiters: (() => void)[] = [];

  server.on('connection', (socket) => {
    const pending = new PendingRequests();
    current = { socket, pending };
    connections += 1;
    for (const waiter of waiters) waiter();
    waiters = [];
    socket.on('message', (data) => {
      void handle(socket, pending, String(data));
    });
    socket.on('close', () => {
      pending.failAll(new ParleyError('ERR_TRANSPORT_FAILURE', 'the gateway connection closed'));
      if (current?.socket === socket) current = undefined;
    });
    socket.on('error', () => socket.terminate());
  });

  async function handle(socket: WebSocket, pending: PendingRequests, raw: string): Promise<void> {
    let message: WsMessage;
    try {
      message = parseWsMessage(raw);
    } catch (error) {
      reply(socket, errorMessage(undefined, error));
      return;
    }
    pending.settle(message, refusal);
    try {
      if (message.op === 'send') {
        await network.send(frameFromJson(message.frame));
        reply(socket, { op: 'result', seq: message.seq });
      } else if (message.op === 'ack') {
        await network.acknowledge(text(message.frameId, 'frameId'));
      } else if (message.op === 'retry') {
        await network.requestRetry(retryRequestFromJson(message.request));
      }
    } catch (error) {
      reply(socket, errorMessage('seq' in message ? message.seq : undefined, error));
    }
  }

  async function request(message: (seq: number) => WsMessage): Promise<unknown> {
    const connection = current;
    if (!connection || connection.socket.readyState !== connection.socket.OPEN) {
      throw new ParleyError('ERR_TRANSPORT_FAILURE', 'no gateway is connected');
    }
    const { seq, answer } = connection.pending.next();
    connection.socket.send(JSON.stringify(message(seq)));
    return answer;
  }

  const endpoint: GatewayEndpoint = {
    receiveFrame: async (frame) =>
      (await request((seq) => ({ op: 'frame', seq, frame: frameToJson(frame) }))) as Awaited<
        ReturnType<GatewayEndpoint['receiveFrame']>
      >,
    receiveReceipt: async (receipt) => {
      await request((seq) => ({ op: 'receipt', seq, receipt }));
    },
    idle: options.idle,
  };

  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    endpoint,
    get connections() {
      return connections;
    },
    nextConnection: () => new Promise<void>((resolve) => waiters.push(resolve)),
    dropConnections() {
      for (const client of server.clients) client.terminate();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

function reply(socket: WebSocket, message: WsMessage): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

function errorMessage(seq: number | undefined, error: unknown): WsMessage {
  if (error instanceof BadRequest) return { op: 'error', seq, code: error.code, message: error.message };
  if (error instanceof ParleyError) return { op: 'error', seq, code: error.code, message: error.message };
  return { op: 'error', seq, code: 'ERR_INTERNAL', message: 'internal error' };
}

/** The gateway refused a frame for good (it is malformed or not for it). */
function refusal(code: string): Error {
  return code === 'ERR_TRANSPORT_FAILURE'
    ? new ParleyError('ERR_TRANSPORT_FAILURE', 'the gateway could not take the frame now')
    : new ParleyError('ERR_INVALID_ARGUMENT', `the gateway refused the frame (${code})`);
}
