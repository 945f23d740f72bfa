/**
 * Who is calling: the `Authorization: Bearer …` header, checked before the body is read. A
 * business route needs a business token (from the token store); a network route needs the
 * network's token, which the server keeps only as its SHA-256 and compares in constant time.
 * Nothing else identifies a caller — not the path, not a query parameter.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { unauthorized } from './api-errors.js';
import type { RouteSecurity } from './route-spec.js';
import { sha256, type TokenGrant, type TokenStore } from './token-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The business token's grant, on business routes. */
    grant: TokenGrant | null;
  }
  interface FastifyContextConfig {
    security?: RouteSecurity;
  }
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;

export function bearerToken(header: string | undefined): string | undefined {
  const match = typeof header === 'string' ? BEARER.exec(header) : null;
  return match?.[1];
}

export interface AuthenticatorOptions {
  readonly tokens: TokenStore;
  /** SHA-256 of the network's token; undefined: no network token is valid. */
  readonly networkTokenHash: Buffer | undefined;
}

/** The `onRequest` hook: sets `request.grant` on business routes, refuses anyone else with 401. */
export function createAuthenticator(options: AuthenticatorOptions) {
  return async (request: FastifyRequest): Promise<void> => {
    const security = request.routeOptions.config.security;
    if (security === undefined || security === 'none') return;
    const token = bearerToken(request.headers.authorization);
    if (security === 'network') {
      const presented = token === undefined ? undefined : sha256(token);
      const expected = options.networkTokenHash;
      if (!presented || !expected || !timingSafeEqual(presented, expected)) throw unauthorized();
      return;
    }
    const grant = token === undefined ? undefined : await options.tokens.authenticate(token);
    if (!grant) throw unauthorized();
    request.grant = grant;
  };
}
