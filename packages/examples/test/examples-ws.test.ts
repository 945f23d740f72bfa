import { TestNetwork } from '@parley/core/testing';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { silent } from '../src/format.js';
import { runWsExample } from '../ws/main.js';
import { startWsRelay } from '../ws/relay-ws-server.js';

describe('WebSocket example', () => {
  it('after a dropped connection the gateway reconnects, the queued frame is redelivered and a refused send is retried', async () => {
    const result = await runWsExample(silent);
    expect(result.queuedDuringOutage).toBe(1);
    expect(result.reconnects).toBeGreaterThanOrEqual(1);
    expect(result.businessReceived).toEqual(['Hello over WebSocket', 'Sent during the outage']);
    expect(result.outageStatus).toEqual({ before: 'accepted', after: 'delivered' });
    expect(result.personReceived).toEqual(['Are you there?']);
  });

  it('the relay answers a malformed message with an error and keeps the connection', async () => {
    const relay = await startWsRelay(new TestNetwork());
    const socket = new WebSocket(relay.url);
    try {
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      const replies: unknown[] = [];
      const next = () =>
        new Promise<void>((resolve) =>
          socket.once('message', (data) => resolve(void replies.push(JSON.parse(String(data))))),
        );
      let reply = next();
      socket.send('{not json');
      await reply;
      reply = next();
      socket.send(JSON.stringify({ op: 'send', seq: 7, frame: { frameId: 'x' } }));
      await reply;
      expect(replies).toEqual([
        expect.objectContaining({ op: 'error', code: 'ERR_BAD_JSON' }),
        expect.objectContaining({ op: 'error', seq: 7, code: 'ERR_INVALID_ARGUMENT' }),
      ]);
      expect(socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      socket.terminate();
      await relay.close();
    }
  });
});
