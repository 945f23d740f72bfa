/** Small node:http helpers shared by the example servers: bounded JSON bodies, JSON errors, loopback listen. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isParleyError } from '@parley/core';
import { BadRequest, MAX_JSON_BYTES, parseJson } from './wire-json.js';

export type Route = (request: IncomingMessage, body: unknown) => Promise<{ status: number; json?: unknown }>;

export interface RunningServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * A JSON-over-HTTP server on 127.0.0.1 and a free port. Routes are `"METHOD /path"`; anything
 * else is 404/405, a bad body 400/413/415, and a handler's `BadRequest` or `ParleyError`
 * becomes a 4xx JSON error. Nothing a client sends can crash it.
 */
export async function startJsonServer(routes: Record<string, Route>): Promise<RunningServer> {
  const paths = new Set(Object.keys(routes).map((key) => key.split(' ')[1]));
  const server = createServer((request, response) => {
    handle(routes, paths, request, response).catch(() => {
      if (!response.headersSent)
        reply(response, 500, { error: { code: 'ERR_INTERNAL', message: 'internal error' } });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  routes: Record<string, Route>,
  paths: Set<string | undefined>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  const route = routes[`${request.method} ${path}`];
  try {
    if (!route) {
      throw paths.has(path)
        ? new BadRequest(405, 'ERR_METHOD_NOT_ALLOWED', 'method not allowed on this path')
        : new BadRequest(404, 'ERR_NO_ROUTE', 'no such endpoint');
    }
    let body: unknown;
    if (request.method === 'POST') {
      if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
        throw new BadRequest(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'expected application/json');
      }
      body = parseJson(await readBody(request));
    }
    const result = await route(request, body);
    reply(response, result.status, result.json);
  } catch (error) {
    const { status, code, message } = describeError(error);
    reply(response, status, { error: { code, message } });
  }
}

/** Client errors by code; messages of Parley errors carry no secrets, content or numbers. */
function describeError(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof BadRequest) return { status: error.status, code: error.code, message: error.message };
  if (isParleyError(error)) {
    const status =
      error.code === 'ERR_NOT_FOUND'
        ? 404
        : error.code === 'ERR_TRANSPORT_FAILURE'
          ? 503
          : error.code.startsWith('ERR_STORE_') || error.code === 'ERR_RESIDENCY'
            ? 500
            : 400;
    return { status, code: error.code, message: error.message };
  }
  return { status: 500, code: 'ERR_INTERNAL', message: 'internal error' };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_JSON_BYTES) {
        reject(new BadRequest(413, 'ERR_TOO_LARGE', `the body exceeds ${MAX_JSON_BYTES} bytes`));
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function reply(response: ServerResponse, status: number, json: unknown): void {
  if (json === undefined) {
    response.writeHead(status).end();
    return;
  }
  const body = JSON.stringify(json);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
}

/** POSTs JSON; returns the parsed reply, or throws with the server's error code for non-2xx. */
export async function postJson(
  url: string,
  json: unknown,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(json),
  });
  const raw = await response.text();
  const parsed: unknown = raw ? JSON.parse(raw) : undefined;
  if (!response.ok) {
    const code = (parsed as { error?: { code?: string } } | undefined)?.error?.code ?? 'ERR_HTTP';
    throw new HttpError(response.status, code);
  }
  return { status: response.status, json: parsed };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(`HTTP ${status} ${code}`);
    this.name = 'HttpError';
  }
}
