/**
 * One route of the cloud API as data: method, path, schemas, the answers it documents and the
 * handler. The server registers routes from these tables and the OpenAPI document is built
 * from the same tables, so a route cannot exist without its documentation (or the reverse).
 * New features add rows (media, issue 21: `POST /v1/{phone_number_id}/media`,
 * `GET /v1/media/{media_id}`, `DELETE /v1/media/{media_id}`).
 */
import type { z } from 'zod';

/** Who may call: a business's bearer token, the network's token, or anyone. */
export type RouteSecurity = 'business' | 'network' | 'none';

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

export interface RouteInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
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
  readonly response: { readonly status: number; readonly description: string; readonly schema: z.ZodType };
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
  readonly response: { readonly status: number; readonly description: string; readonly schema: R };
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
