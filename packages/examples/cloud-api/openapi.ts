/**
 * The OpenAPI 3.1 document, generated from the route tables and their zod schemas (JSON Schema
 * 2020-12, which OpenAPI 3.1 uses as is). Served at `/openapi.json`; `pnpm --filter
 * @parley/examples openapi` writes it to `cloud-api/openapi.json`.
 */
import { z } from 'zod';
import type { RouteSpec } from './route-spec.js';
import { ErrorBodySchema } from './schemas.js';

type JsonSchema = Record<string, unknown>;

/** What any route may answer, whatever it does. */
const COMMON_ERRORS: Readonly<Record<number, string>> = {
  400: 'The request is malformed (bad JSON, a field of the wrong shape, an unknown field)',
  401: 'No valid bearer token',
  429: 'Too many requests for this token',
  500: 'Internal error',
};

const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  403: 'Refused by the integrity rules (the business is blocked)',
  404: 'Not found (also: it belongs to another business)',
  410: 'Gone: past its retention',
  413: 'The body (or the file) is too large',
  415: 'Unsupported content-type (JSON routes take application/json; an upload needs the file’s MIME type)',
  502: 'The media host served a file that is not what its pointer says',
  503: 'The media host (or the network) is unreachable',
  501: 'Not available on this server (statistics are off)',
};

/** A file, as OpenAPI 3.1 describes raw bytes. */
const BINARY = { type: 'string', contentMediaType: 'application/octet-stream' } as const;

export const OPENAPI_INFO = {
  title: 'Parley cloud API (example server)',
  version: '1.0.0',
  description:
    'Endpoints in the shape of the reference business-messaging cloud API, served by the Parley gateway. ' +
    'Each business authenticates with its own bearer token and reaches only its own numbers, messages and ' +
    'customers. Inbound messages and statuses arrive as signed webhooks (X-Hub-Signature-256).',
} as const;

export function buildOpenApiDocument(routes: readonly RouteSpec<never>[]): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const operation: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      security: securityOf(route),
    };
    const parameters = [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')];
    if (parameters.length > 0) operation.parameters = parameters;
    if (route.rawBody) {
      operation.requestBody = {
        required: true,
        description: route.rawBody.description,
        content: { '*/*': { schema: BINARY } },
      };
    } else if (route.body) {
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: toSchema(route.body, 'input') } },
      };
    }
    const responses: Record<string, unknown> = {
      [route.response.status]: {
        description: route.response.description,
        content: route.response.binary
          ? { '*/*': { schema: BINARY } }
          : { 'application/json': { schema: toSchema(route.response.schema, 'output') } },
      },
    };
    const errors = { ...COMMON_ERRORS };
    for (const status of route.errors) errors[status] = ERROR_DESCRIPTIONS[status] ?? 'Refused';
    if (route.security === 'none') delete errors[401];
    for (const [status, description] of Object.entries(errors)) {
      responses[status] = {
        description,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    operation.responses = responses;
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: OPENAPI_INFO,
    paths,
    components: {
      securitySchemes: {
        businessToken: {
          type: 'http',
          scheme: 'bearer',
          description: "A business's token (prl_…): shown once when issued, stored only as its SHA-256.",
        },
        networkToken: { type: 'http', scheme: 'bearer', description: "The messaging network's token." },
      },
      schemas: { Error: toSchema(ErrorBodySchema, 'output') },
    },
  };
}

function securityOf(route: RouteSpec<never>): unknown[] {
  if (route.security === 'business') return [{ businessToken: [] }];
  if (route.security === 'network') return [{ networkToken: [] }];
  return [];
}

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const object = toSchema(schema, 'input') as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (object.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  });
  return json;
}
