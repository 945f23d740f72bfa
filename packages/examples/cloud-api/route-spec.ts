/**
 * One route of the cloud API as data: method, path, schemas, the answers it documents and the
 * handler. The server registers routes from these tables and the OpenAPI document is built
 * from the same tables, so a route cannot exist without its documentation (or the reverse).
 * Most routes take and answer JSON; a route may instead take a file as its raw body (`rawBody`:
 * the handler gets the stream with its content-type and length) or answer a file (`binary`).
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';

/** Who may call: a business's bearer token, the network's token, or anyone. */
export type RouteSecurity = 'business' | 'network' | 'none';

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

export interface RouteInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
}

/** The `body` schema of a `rawBody` route: what the server's raw-body parser hands on. */
export const RawBodySchema = z.custom<RawBody>(
  (value) => typeof value === 'object' && value !== null && 'stream' in value && 'contentType' in value,
  { message: 'expected a file as the request body, with its content-type' },
);

/** A file sent as the request body, handed to the handler unread. */
export interface RawBody {
  readonly stream: Readable;
  /** The content-type header, parameters stripped, lower case. */
  readonly contentType: string;
  /** The content-length header, when the client sent one. */
  readonly length: number | undefined;
}

/** A file answered as the response body. */
export interface BinaryReply {
  readonly stream: Readable;
  readonly contentType: string;
  readonly length: number;
  /** Sent as content-disposition (documents). */
  readonly fileName?: string | undefined;
}

export interface RouteSpec<C> {
  readonly method: HttpMethod;
  /** OpenAPI form: `/v1/{phone_number_id}/messages`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly security: RouteSecurity;
  readonly params?: z.ZodType;
  readonly query?: z.ZodType;
  readonly body?: z.ZodType;
  /** Largest body in bytes, when this route needs another than the server's. */
  readonly bodyLimit?: number;
  /** The body is a file of any content-type (the handler's `body` is a `RawBody`), not JSON. */
  readonly rawBody?: { readonly description: string };
  /** `binary`: the handler answers a `BinaryReply` (a file), and `schema` is unused. */
  readonly response: {
    readonly status: number;
    readonly description: string;
    readonly schema: z.ZodType;
    readonly binary?: boolean;
  };
  /** Error statuses this route can answer besides the ones every route can (400, 401, 429, 500). */
  readonly errors: readonly number[];
  readonly handler: (input: RouteInput<unknown, unknown, unknown>, context: C) => Promise<unknown>;
}

interface TypedRouteSpec<
  C,
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  R extends z.ZodType,
> extends Omit<RouteSpec<C>, 'params' | 'query' | 'body' | 'response' | 'handler'> {
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  readonly response: {
    readonly status: number;
    readonly description: string;
    readonly schema: R;
    readonly binary?: boolean;
  };
  readonly handler: (
    input: RouteInput<z.output<P>, z.output<Q>, z.output<B>>,
    context: C,
  ) => Promise<z.input<NoInfer<R>>>;
}

/** Types a route's handler by its schemas, then erases them for the table. */
export function defineRoute<C>() {
  return <
    P extends z.ZodType = z.ZodUndefined,
    Q extends z.ZodType = z.ZodUndefined,
    B extends z.ZodType = z.ZodUndefined,
    R extends z.ZodType = z.ZodType,
  >(
    spec: TypedRouteSpec<C, P, Q, B, R>,
  ): RouteSpec<C> => spec as unknown as RouteSpec<C>;
}

/** `/v1/{phone_number_id}/messages` → `/v1/:phone_number_id/messages` (fastify's form). */
export function fastifyPath(path: string): string {
  return path.replace(/\{([a-z_]+)\}/g, ':$1');
}
