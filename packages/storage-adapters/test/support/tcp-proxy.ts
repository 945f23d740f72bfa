/**
 * A TCP proxy between a store and the real PostgreSQL server that cuts connections at chosen
 * moments of the wire protocol — the faults a network or a crashed host produces, made exact:
 *
 * - `cutBefore(marker)`: the next client message containing `marker` is not forwarded; both
 *   sockets are closed (the server never sees it).
 * - `cutReplyAfter(marker, reply)`: the next client message containing `marker` is forwarded;
 *   the server's answer containing `reply` is swallowed and both sockets are closed (the server
 *   did the work; the client never hears of it).
 * - `cutAll()`: every open connection is closed now.
 * - `refuse(true)`: new connections are closed as soon as they arrive (the server is unreachable).
 */
import { createServer, type Server, Socket } from 'node:net';

interface Rule {
  readonly marker: Buffer;
  readonly reply: Buffer | undefined;
  /** After the cut, refuse new connections too. */
  readonly thenRefuse: boolean;
}

export interface TcpProxy {
  readonly port: number;
  /** `url` with host and port replaced by the proxy's. */
  urlThrough(url: string): string;
  cutBefore(marker: string): void;
  cutReplyAfter(marker: string, reply: string, options?: { thenRefuse?: boolean }): void;
  cutAll(): void;
  refuse(on: boolean): void;
  /** How many cuts happened. */
  readonly cuts: number;
  close(): Promise<void>;
}

export async function startTcpProxy(upstreamHost: string, upstreamPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let rule: Rule | undefined;
  let cuts = 0;
  let refusing = false;

  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    let awaitingReply: Rule | undefined;
    const cut = (fired: Rule) => {
      cuts += 1;
      if (fired.thenRefuse) refusing = true;
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    upstream.connect(upstreamPort, upstreamHost);
    client.on('data', (chunk: Buffer) => {
      if (rule !== undefined && chunk.includes(rule.marker)) {
        const fired = rule;
        rule = undefined;
        if (fired.reply === undefined) return cut(fired);
        awaitingReply = fired;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (awaitingReply?.reply !== undefined && chunk.includes(awaitingReply.reply))
        return cut(awaitingReply);
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');

  const cutAll = () => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port: address.port,
    urlThrough(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(address.port);
      return parsed.toString();
    },
    cutBefore(marker) {
      rule = { marker: Buffer.from(marker), reply: undefined, thenRefuse: false };
    },
    cutReplyAfter(marker, reply, options = {}) {
      rule = {
        marker: Buffer.from(marker),
        reply: Buffer.from(reply),
        thenRefuse: options.thenRefuse === true,
      };
    },
    refuse(on) {
      refusing = on;
    },
    cutAll,
    get cuts() {
      return cuts;
    },
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
