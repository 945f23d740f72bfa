/**
 * The browser example's server, on loopback: a Parley gateway serving one business (SQLite
 * files in a temp folder, or memory), the relay and key directory it talks to, and the page —
 * bundled with esbuild at startup, in memory — where a person's phone runs Parley's core.
 *
 *   pnpm --filter @parley/examples exec tsx --conditions=parley-source browser/server.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  defaultRandom,
  type Gateway,
  isParleyError,
  type MessageId,
  type OutboundStatus,
  type Store,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSqliteStore } from '@parley/storage-adapters/sqlite';
import { build } from 'esbuild';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  type BundleJson,
  type Config,
  type DeviceKeysJson,
  type ErrorJson,
  type FrameJson,
  fromBase64,
  PHONE_NUMBER,
  type PushedFrame,
  type ReceiptJson,
  toBase64,
} from './protocol.js';
import { Relay } from './relay.js';

export const BUSINESS_ID = 'corner-bakery';
export const BUSINESS_NAME = 'Corner Bakery';
export const BUSINESS_NUMBER = '+15550100';
const MAX_BODY_BYTES = 256 * 1024;

export interface BrowserExampleOptions {
  /** Default 0 (any free port). */
  readonly port?: number;
  /** 'sqlite' (default): two database files in a temp folder, removed on close. */
  readonly storage?: 'sqlite' | 'memory';
  readonly log?: (line: string) => void;
}

export interface BrowserExample {
  readonly url: string;
  readonly relay: Relay;
  readonly gateway: Gateway;
  /** Latest status of every message the business sent. */
  readonly statuses: ReadonlyMap<MessageId, OutboundStatus>;
  /** What the business received, in order (the example keeps it for the transcript). */
  readonly inbox: readonly { from: string; text: string }[];
  /** The business sends a message of its own to a person. */
  sendFromBusiness(to: string, text: string): Promise<MessageId>;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The page's script, bundled from page.ts with Parley's TypeScript sources. */
export async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./page.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['parley-source'],
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild produced no output');
  return output.text;
}

const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Parley — a person's phone in the browser</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
  #log { list-style: none; padding: 0; }
  #log li { padding: .25rem .5rem; margin: .2rem 0; border-radius: .3rem; background: #f3f3f3; }
  #log li.out { background: #dcf3dc; margin-left: 4rem; }
  #log li.in { background: #dde8fb; margin-right: 4rem; }
  #log li.error { background: #fbdddd; }
  form { display: flex; gap: .5rem; } input { flex: 1; padding: .4rem; }
</style>
</head>
<body>
<h1 id="title">Starting…</h1>
<p>Your phone's Signal-protocol state lives in this tab's IndexedDB: reload and the session continues.</p>
<ul id="log"></ul>
<form id="compose"><input id="text" autocomplete="off" placeholder="Message"><button>Send</button></form>
<script type="module" src="/app.js"></script>
</body>
</html>
`;

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(text);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
    throw new HttpError(415, 'expected content-type application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'malformed JSON');
  }
}

// ── Validation of what devices send (bad input is a 400, never a crash) ──

function field(body: unknown, name: string): unknown {
  if (typeof body !== 'object' || body === null) throw new HttpError(400, 'expected a JSON object');
  return (body as Record<string, unknown>)[name];
}
function int(value: unknown, name: string, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new HttpError(400, `"${name}" expected an integer from ${min} to ${max}`);
  }
  return value as number;
}
function bytes(value: unknown, name: string): Uint8Array {
  try {
    if (typeof value === 'string') return fromBase64(value);
  } catch {}
  throw new HttpError(400, `"${name}" expected base64`);
}
function phone(value: unknown, name: string): string {
  if (typeof value !== 'string' || !PHONE_NUMBER.test(value)) {
    throw new HttpError(400, `"${name}" expected an E.164 phone number`);
  }
  return value;
}
function signedKey(value: unknown, name: string) {
  return {
    id: int(field(value, 'id'), `${name}.id`, 0, 0xffffff),
    publicKey: bytes(field(value, 'publicKey'), `${name}.publicKey`),
    signature: bytes(field(value, 'signature'), `${name}.signature`),
  };
}

export async function startBrowserExample(options: BrowserExampleOptions = {}): Promise<BrowserExample> {
  const log = options.log ?? (() => {});
  const script = await bundlePage();
  const crypto = createNodeCrypto();
  const relay = new Relay();
  const dir = options.storage === 'memory' ? undefined : mkdtempSync(join(tmpdir(), 'parley-browser-'));
  const store: Store = dir ? createSqliteStore({ path: join(dir, 'messages.db') }) : createMemoryStore();
  const vaultStore: Store = dir ? createSqliteStore({ path: join(dir, 'vault.db') }) : createMemoryStore();
  const gateway = createGateway({
    store,
    vaultStore,
    // A fresh key-encryption key per run, as the databases are too. In production: a KMS.
    keyProvider: createLocalKeyProvider({ kek: defaultRandom(32), crypto }),
    transport: relay,
    directory: relay,
    crypto,
  });
  const statuses = new Map<MessageId, OutboundStatus>();
  const inbox: { from: string; text: string }[] = [];
  gateway.onError((error) => log(`gateway: ${isParleyError(error) ? error.code : 'background error'}`));
  await gateway.registerBusiness({ businessId: BUSINESS_ID });
  await gateway.addNumber(BUSINESS_ID, BUSINESS_NUMBER);
  gateway.onEvent(BUSINESS_ID, (event) => {
    if (event.type !== 'status') return;
    statuses.set(event.messageId, event.status);
    log(`business: message ${event.messageId.slice(0, 8)}… ${event.status}`);
  });
  // The business: answers every message.
  gateway.onMessage(BUSINESS_ID, async (message) => {
    const text = new TextDecoder().decode(message.content);
    inbox.push({ from: message.from, text });
    log(`business: received a message (${text.length} characters)`);
    await gateway.send({ from: message.to, to: message.from, content: `You said: "${text}"` });
  });

  const config: Config = {
    instance: toBase64(defaultRandom(9)).replace(/[+/]/g, '_'),
    businessName: BUSINESS_NAME,
    businessNumber: BUSINESS_NUMBER,
  };

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(PAGE_HTML);
      return;
    }
    if (method === 'GET' && url.pathname === '/app.js') {
      response.writeHead(200, {
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'no-store',
      });
      response.end(script);
      return;
    }
    if (method === 'GET' && url.pathname === '/api/config') return sendJson(response, 200, config);
    if (method === 'POST' && url.pathname === '/api/keys') {
      const body = (await readJson(request)) as DeviceKeysJson;
      const phoneNumber = phone(field(body, 'phoneNumber'), 'phoneNumber');
      const oneTime = field(body, 'oneTimePreKeys');
      if (!Array.isArray(oneTime) || oneTime.length > 1000) {
        throw new HttpError(400, '"oneTimePreKeys" expected an array of at most 1000 keys');
      }
      const kyber = field(body, 'kyberPreKey');
      relay.publishDevice(phoneNumber, {
        deviceId: int(field(body, 'deviceId'), 'deviceId', 1, 0x7fffffff),
        registrationId: int(field(body, 'registrationId'), 'registrationId', 0, 0xffffffff),
        identityKey: bytes(field(body, 'identityKey'), 'identityKey'),
        signedPreKey: signedKey(field(body, 'signedPreKey'), 'signedPreKey'),
        oneTimePreKeys: oneTime.map((key, i) => ({
          id: int(field(key, 'id'), `oneTimePreKeys[${i}].id`, 0, 0xffffff),
          publicKey: bytes(field(key, 'publicKey'), `oneTimePreKeys[${i}].publicKey`),
        })),
        lastResortKyberPreKey: kyber === undefined ? undefined : signedKey(kyber, 'kyberPreKey'),
      });
      log('relay: a device published its prekeys');
      response.writeHead(204).end();
      return;
    }
    const bundleMatch = /^\/api\/bundle\/([^/]+)$/.exec(url.pathname);
    if (method === 'GET' && bundleMatch) {
      const number = phone(decodeURIComponent(bundleMatch[1]!), 'number');
      if (number !== BUSINESS_NUMBER) throw new HttpError(404, 'no such business number');
      const bundle = await relay.fetchBundle(number, 1);
      const json: BundleJson = {
        registrationId: bundle.registrationId,
        deviceId: bundle.deviceId,
        identityKey: toBase64(bundle.identityKey),
        signedPreKeyId: bundle.signedPreKeyId,
        signedPreKey: toBase64(bundle.signedPreKey),
        signedPreKeySignature: toBase64(bundle.signedPreKeySignature),
        preKeyId: bundle.preKeyId,
        preKey: bundle.preKey && toBase64(bundle.preKey),
        kyberPreKeyId: bundle.kyberPreKeyId,
        kyberPreKey: bundle.kyberPreKey && toBase64(bundle.kyberPreKey),
        kyberPreKeySignature: bundle.kyberPreKeySignature && toBase64(bundle.kyberPreKeySignature),
      };
      return sendJson(response, 200, json);
    }
    if (method === 'POST' && url.pathname === '/api/frames') {
      const body = (await readJson(request)) as FrameJson;
      const type = field(body, 'type');
      if (type !== 2 && type !== 3) throw new HttpError(400, '"type" expected 2 (whisper) or 3 (prekey)');
      const frameId = field(body, 'frameId');
      if (typeof frameId !== 'string' || frameId.length === 0 || frameId.length > 128) {
        throw new HttpError(400, '"frameId" expected a string of 1–128 characters');
      }
      const to = phone(field(body, 'to'), 'to');
      if (to !== BUSINESS_NUMBER) throw new HttpError(404, 'no such business number');
      const frame = {
        frameId,
        to,
        // A real network authenticates the sender; this example trusts what the page says.
        from: phone(field(body, 'from'), 'from'),
        deviceId: int(field(body, 'deviceId'), 'deviceId', 1, 0x7fffffff),
        type,
        body: bytes(field(body, 'body'), 'body'),
      } as const;
      relay.noteInbound(frame.frameId, frame.type);
      const outcome = await gateway.receiveFrame(frame);
      log(`relay: frame to the business (${frame.type === 3 ? 'prekey' : 'whisper'}): ${outcome.kind}`);
      return sendJson(response, 200, { outcome: outcome.kind });
    }
    throw new HttpError(404, 'not found');
  }

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      const status =
        error instanceof HttpError
          ? error.status
          : isParleyError(error, 'ERR_INVALID_ARGUMENT')
            ? 400
            : isParleyError(error, 'ERR_NOT_FOUND')
              ? 404
              : 500;
      const message =
        error instanceof HttpError || status !== 500 ? (error as Error).message : 'internal error';
      if (status === 500) log(`server: ${isParleyError(error) ? error.code : 'unexpected error'}`);
      if (response.headersSent) response.end();
      else sendJson(response, status, { error: message } satisfies ErrorJson);
    });
  });

  // WebSocket inbox: frames for one device, pushed until the device sends a receipt.
  const sockets = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const phoneNumber = url.searchParams.get('phone') ?? '';
    const deviceId = Number(url.searchParams.get('device'));
    if (
      url.pathname !== '/api/inbox' ||
      !PHONE_NUMBER.test(phoneNumber) ||
      !(deviceId >= 1 && deviceId <= 0x7fffffff)
    ) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => serveInbox(ws, phoneNumber, Math.trunc(deviceId)));
  });

  function serveInbox(ws: WebSocket, phoneNumber: string, deviceId: number): void {
    const push = (frame: { frameId: string; from: string; type: 2 | 3 | 7 | 8; body: Uint8Array }) => {
      // The browser person takes part in no group: it is only ever sent 1:1 frames.
      if (frame.type === 7) return;
      const message: PushedFrame = {
        kind: 'frame',
        frameId: frame.frameId,
        from: frame.from,
        type: frame.type,
        body: toBase64(frame.body),
      };
      ws.send(JSON.stringify(message));
    };
    const unsubscribe = relay.subscribe(phoneNumber, deviceId, push);
    for (const frame of relay.pending(phoneNumber, deviceId)) push(frame);
    ws.on('close', unsubscribe);
    ws.on('message', (data) => {
      let receipt: ReceiptJson;
      try {
        receipt = JSON.parse(String(data)) as ReceiptJson;
      } catch {
        return ws.close(1003, 'malformed JSON');
      }
      if (receipt?.kind !== 'receipt' || typeof receipt.frameId !== 'string')
        return ws.close(1003, 'expected a receipt');
      // Only a frame that was in this device's mailbox turns into a delivery receipt.
      if (!relay.confirm(phoneNumber, deviceId, receipt.frameId)) return;
      gateway
        .receiveReceipt({ frameId: receipt.frameId })
        .catch((error: unknown) =>
          log(`relay: receipt refused (${isParleyError(error) ? error.code : 'error'})`),
        );
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/`;
  log(`server: listening on ${url}`);

  let closed = false;
  return {
    url,
    relay,
    gateway,
    statuses,
    inbox,
    sendFromBusiness: (to, text) => gateway.send({ from: BUSINESS_NUMBER, to, content: text }),
    async close() {
      if (closed) return;
      closed = true;
      for (const ws of sockets.clients) ws.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.close();
      await store.close();
      await vaultStore.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 0);
  startBrowserExample({ port, log: (line) => console.log(line) })
    .then((example) => {
      console.log(`\nOpen ${example.url}?phone=%2B15550123 in a browser (Ctrl-C to stop).`);
      const stop = () => {
        example.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    })
    .catch((error: unknown) => {
      console.error('browser example failed to start:', error instanceof Error ? error.message : error);
      process.exit(1);
    });
}
