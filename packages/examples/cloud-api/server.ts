/**
 * The cloud API server: fastify, the route tables, bearer-token authentication, zod
 * validation, per-token rate limits, a body size limit, typed error bodies, the OpenAPI
 * document and the business webhooks. Every business request runs through
 * `gateway.forBusiness(token's business, { principal: token's principal })`.
 */
import rateLimit from '@fastify/rate-limit';
import type { Gateway } from '@parley/core';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';
import { noRoute, rateLimited, toApiError, validationError } from './api-errors.js';
import { createAuthenticator } from './authentication.js';
import { BUSINESS_ROUTES, type BusinessContext } from './business-routes.js';
import { NETWORK_ROUTES, type NetworkContext } from './network-routes.js';
import { buildOpenApiDocument } from './openapi.js';
import { type BinaryReply, defineRoute, fastifyPath, type RawBody, type RouteSpec } from './route-spec.js';
import { sha256, type TokenStore } from './token-store.js';
import { WebhookDispatcher, type WebhookDispatcherOptions } from './webhook-dispatcher.js';
import { WebhookSubscriptions } from './webhook-subscriptions.js';

export interface CloudApiServerOptions {
  readonly gateway: Gateway;
  readonly tokens: TokenStore;
  /** The network's bearer token for `/v1/network/*`; without it those routes answer 401. */
  readonly networkToken?: string;
  readonly webhooks?: WebhookDispatcherOptions;
  /** Requests per token (per address without a valid token) and window; default 600 a minute. */
  readonly rateLimit?: { readonly max: number; readonly timeWindowMs: number };
  /** Largest request body in bytes (default 64 KiB: a 4096-character text with room to spare). */
  readonly bodyLimit?: number;
  /** fastify's request logger (pino); off by default. It never logs headers or bodies. */
  readonly logger?: boolean;
}

export const DEFAULT_RATE_LIMIT = { max: 600, timeWindowMs: 60_000 } as const;
export const DEFAULT_BODY_LIMIT = 64 * 1024;

interface MetaContext {
  readonly document: unknown;
}

const OPENAPI_ROUTE = defineRoute<MetaContext>()({
  method: 'GET',
  path: '/openapi.json',
  operationId: 'getOpenApiDocument',
  summary: 'This document',
  tag: 'meta',
  security: 'none',
  response: {
    status: 200,
    description: 'The OpenAPI 3.1 document',
    schema: z.record(z.string(), z.unknown()),
  },
  errors: [],
  handler: async (_input, { document }) => document as Record<string, unknown>,
});

/** Every route the server serves, in the order of the OpenAPI document. */
export const ROUTES: readonly RouteSpec<never>[] = [...BUSINESS_ROUTES, ...NETWORK_ROUTES, OPENAPI_ROUTE];

/** The OpenAPI document of every route above. */
export function cloudApiDocument(): Record<string, unknown> {
  return buildOpenApiDocument(ROUTES);
}

export interface CloudApiServer {
  readonly app: FastifyInstance;
  /** What the router serves ("GET /v1/messages/:message_id", …), HEAD routes aside. */
  readonly routes: readonly string[];
  readonly tokens: TokenStore;
  readonly webhooks: WebhookSubscriptions;
  readonly dispatcher: WebhookDispatcher;
  /** Listens on 127.0.0.1 (port 0: a free one); resolves to the base URL. */
  listen(options?: { readonly port?: number; readonly host?: string }): Promise<string>;
  /** Resolves when no webhook request is in flight. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function createCloudApiServer(options: CloudApiServerOptions): Promise<CloudApiServer> {
  const { gateway, tokens } = options;
  const limits = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    forceCloseConnections: true,
    return503OnClosing: true,
    // Errors the router answers before any hook (a malformed or overlong URL): typed too, and
    // never the framework's text, which quotes the path.
    frameworkErrors: (error, _request, reply) => {
      const api = toApiError(error);
      (reply as FastifyReply).code(api.statusCode).type('application/json').send(api.toBody());
    },
  });
  // JSON only: fastify would also take text/plain.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const result = (schema as z.ZodType).safeParse(data ?? (httpPart === 'body' ? undefined : {}));
    if (result.success) return { value: result.data };
    const part =
      httpPart === 'body' || httpPart === 'params' || httpPart === 'querystring' ? httpPart : 'body';
    return { error: validationError(part, result.error.issues) };
  });
  app.setErrorHandler((error, request, reply) => {
    const api = toApiError(error);
    if (api.statusCode >= 500) request.log.error({ code: api.code }, 'request failed');
    return reply.code(api.statusCode).type('application/json').send(api.toBody());
  });
  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).type('application/json').send(noRoute().toBody()),
  );
  app.decorateRequest('grant', null);
  app.addHook(
    'onRequest',
    createAuthenticator({
      tokens,
      networkTokenHash: options.networkToken === undefined ? undefined : sha256(options.networkToken),
    }),
  );
  // Route-level onRequest: runs after authentication, before the body is read, so every request
  // a token makes counts (malformed ones too). Without a token: by address.
  await app.register(rateLimit, {
    global: true,
    max: limits.max,
    timeWindow: limits.timeWindowMs,
    keyGenerator: (request) => (request.grant ? `token:${request.grant.tokenId}` : `address:${request.ip}`),
    errorResponseBuilder: () => rateLimited(),
  });

  const routes: string[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
  });
  for (const spec of BUSINESS_ROUTES) {
    register(app, spec, (request): BusinessContext => {
      const grant = request.grant;
      // The authenticator sets it on every business route; a route without one is a bug here.
      if (!grant) throw new Error('business route reached without a grant');
      return { handle: gateway.forBusiness(grant.businessId, { principal: grant.principal }) };
    });
  }
  for (const spec of NETWORK_ROUTES) register(app, spec, (): NetworkContext => ({ gateway }));
  const document = cloudApiDocument();
  register(app, OPENAPI_ROUTE, (): MetaContext => ({ document }));

  const dispatcher = new WebhookDispatcher(options.webhooks);
  const webhooks = new WebhookSubscriptions(gateway, dispatcher);
  return {
    app,
    routes,
    tokens,
    webhooks,
    dispatcher,
    async listen(listenOptions = {}) {
      return app.listen({ port: listenOptions.port ?? 0, host: listenOptions.host ?? '127.0.0.1' });
    },
    idle: () => dispatcher.idle(),
    async close() {
      webhooks.unsubscribeAll();
      await app.close();
      await dispatcher.close();
    },
  };
}

function register<C>(
  app: FastifyInstance,
  spec: RouteSpec<C>,
  context: (request: Parameters<Parameters<FastifyInstance['route']>[0]['handler']>[0]) => C,
): void {
  const route = (target: FastifyInstance) =>
    target.route({
      method: spec.method,
      url: fastifyPath(spec.path),
      config: { security: spec.security },
      ...(spec.bodyLimit === undefined ? {} : { bodyLimit: spec.bodyLimit }),
      schema: {
        ...(spec.params ? { params: spec.params } : {}),
        ...(spec.query ? { querystring: spec.query } : {}),
        ...(spec.body ? { body: spec.body } : {}),
      },
      handler: async (request, reply) => {
        const result = await spec.handler(
          { params: request.params, query: request.query, body: request.body },
          context(request),
        );
        if (!spec.response.binary) return reply.code(spec.response.status).send(result);
        const file = result as BinaryReply;
        reply.code(spec.response.status).type(file.contentType).header('content-length', file.length);
        if (file.fileName !== undefined) {
          reply.header(
            'content-disposition',
            `attachment; filename*=UTF-8''${encodeURIComponent(file.fileName)}`,
          );
        }
        return reply.send(file.stream);
      },
    });
  if (!spec.rawBody) {
    route(app);
    return;
  }
  // A file upload: any content-type, the body handed on as a stream (nothing buffered here; the
  // gateway's per-type limit stops it). Scoped to this route: the JSON routes keep refusing
  // other content-types with 415.
  app.register(async (child) => {
    child.removeAllContentTypeParsers();
    child.addContentTypeParser('*', (request, payload, done) => {
      const length = Number(request.headers['content-length']);
      const body: RawBody = {
        stream: payload,
        contentType: String(request.headers['content-type'] ?? '')
          .split(';')[0]!
          .trim()
          .toLowerCase(),
        length: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
      };
      done(null, body);
    });
    route(child);
  });
}
