/**
 * Typed error bodies: every refusal is `{ error: { code, type, message } }` (plus `field` when
 * one input field is at fault). `code` is Parley's error code where Parley refused (the gateway
 * or the business handle), else one of the HTTP layer's own codes below. Messages are fixed
 * texts or Parley's own messages, which never carry content or phone numbers — never the
 * framework's or the JSON parser's, which can quote what the client sent.
 */
import { isParleyError } from '@parley/core';
import type { z } from 'zod';

/** What kind of refusal, for clients that branch coarsely (the reference API's `type`). */
export type ApiErrorType =
  | 'invalid_request'
  | 'authentication'
  | 'not_found'
  | 'gone'
  | 'integrity'
  | 'rate_limit'
  | 'unavailable'
  | 'server';

/** Codes of the HTTP layer; the rest are Parley's `ERROR_CODES`. */
export type HttpErrorCode =
  | 'ERR_UNAUTHORIZED'
  | 'ERR_BAD_JSON'
  | 'ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_TOO_LARGE'
  | 'ERR_BAD_REQUEST'
  | 'ERR_NO_ROUTE'
  | 'ERR_RATE_LIMITED'
  | 'ERR_INTERNAL';

export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly type: ApiErrorType;
    readonly message: string;
    readonly field?: string;
  };
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    readonly type: ApiErrorType,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        type: this.type,
        message: this.message,
        ...(this.field === undefined ? {} : { field: this.field }),
      },
    };
  }
}

export const unauthorized = (): ApiError =>
  new ApiError(401, 'ERR_UNAUTHORIZED', 'authentication', 'a valid bearer token is required');

export const noRoute = (): ApiError => new ApiError(404, 'ERR_NO_ROUTE', 'not_found', 'no such endpoint');

export const rateLimited = (): ApiError =>
  new ApiError(429, 'ERR_RATE_LIMITED', 'rate_limit', 'too many requests for this token; retry later');

/** How each Parley code reads over HTTP. Unlisted codes are input errors (400). */
const PARLEY_STATUS: Readonly<Record<string, readonly [number, ApiErrorType]>> = {
  ERR_NOT_FOUND: [404, 'not_found'],
  ERR_RETENTION_EXPIRED: [410, 'gone'],
  ERR_MEDIA_TOO_LARGE: [413, 'invalid_request'],
  // The media host served a blob that is not what the pointer says: the upstream's fault.
  ERR_MEDIA_INTEGRITY: [502, 'unavailable'],
  ERR_INTEGRITY_BLOCKED: [403, 'integrity'],
  ERR_CONFIGURATION: [501, 'server'],
  ERR_TRANSPORT_FAILURE: [503, 'unavailable'],
  ERR_CLOSED: [503, 'unavailable'],
  ERR_STORE_CLOSED: [503, 'unavailable'],
  ERR_STORE_CONFLICT: [503, 'unavailable'],
  ERR_STORE_FAILURE: [500, 'server'],
  ERR_STORE_SCHEMA: [500, 'server'],
  ERR_RESIDENCY: [500, 'server'],
  ERR_INVALID_RECORD: [500, 'server'],
};

/** Framework errors (fastify's `FST_ERR_*` codes) that are the client's fault. */
const FRAMEWORK: Readonly<Record<string, () => ApiError>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () =>
    new ApiError(413, 'ERR_TOO_LARGE', 'invalid_request', 'the request body is too large'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new ApiError(
      415,
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      'invalid_request',
      'expected content-type application/json',
    ),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => badJson(),
  FST_ERR_CTP_INVALID_JSON_BODY: () => badJson(),
  FST_ERR_BAD_URL: () => new ApiError(400, 'ERR_BAD_REQUEST', 'invalid_request', 'the URL is malformed'),
  FST_ERR_MAX_PARAM_LENGTH: () =>
    new ApiError(414, 'ERR_TOO_LARGE', 'invalid_request', 'a path parameter is too long'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new ApiError(400, 'ERR_BAD_REQUEST', 'invalid_request', 'the content-length does not match the body'),
};

function badJson(): ApiError {
  return new ApiError(400, 'ERR_BAD_JSON', 'invalid_request', 'the request body is not valid JSON');
}

/** Any error thrown while serving a request, as the error the client sees. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isParleyError(error)) {
    const [status, type] = PARLEY_STATUS[error.code] ?? [400, 'invalid_request'];
    // Internal failures say what kind, not what happened inside.
    const message = status >= 500 && ![501, 502, 503].includes(status) ? 'internal error' : error.message;
    const field = typeof error.details.field === 'string' ? error.details.field : undefined;
    return new ApiError(status, error.code, type, message, field);
  }
  const framework = error as { code?: unknown; statusCode?: unknown; name?: unknown };
  if (typeof framework.code === 'string' && FRAMEWORK[framework.code]) return FRAMEWORK[framework.code]!();
  // The JSON parser's own errors (a SyntaxError, or a forbidden `__proto__` key) carry status 400.
  if (framework.statusCode === 400 && (framework.name === 'SyntaxError' || framework.code === undefined)) {
    return badJson();
  }
  if (typeof framework.statusCode === 'number' && framework.statusCode >= 400 && framework.statusCode < 500) {
    return new ApiError(
      framework.statusCode,
      'ERR_BAD_REQUEST',
      'invalid_request',
      'the request was refused',
    );
  }
  return new ApiError(500, 'ERR_INTERNAL', 'server', 'internal error');
}

/**
 * A schema failure as one error, naming the field by its place in the schema. Never the value,
 * and never a key the client made up (an unknown field is reported at its parent).
 */
export function validationError(
  where: 'body' | 'params' | 'querystring',
  issues: readonly z.core.$ZodIssue[],
): ApiError {
  const issue = issues[0];
  const path = issue ? issue.path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))) : [];
  const prefix = where === 'body' ? '' : where === 'params' ? 'path' : 'query';
  const field = [prefix, ...path].filter(Boolean).join('.').replace(/\.\[/g, '[') || 'body';
  return new ApiError(
    400,
    'ERR_INVALID_ARGUMENT',
    'invalid_request',
    `"${field}" ${issue ? reason(issue) : 'is invalid'}`,
    field,
  );
}

function reason(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'too_small':
      return issue.origin === 'string'
        ? `is shorter than ${issue.minimum} characters`
        : `is below ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'string'
        ? `is longer than ${issue.maximum} characters`
        : `is above ${issue.maximum}`;
    case 'invalid_format':
      return 'has the wrong format';
    case 'invalid_value':
      return `expected ${issue.values.map((value) => JSON.stringify(value)).join(' or ')}`;
    case 'unrecognized_keys':
      return 'has an unknown field';
    case 'invalid_union':
      return 'matches none of the accepted shapes';
    case 'not_multiple_of':
      return 'is not an integer';
    default:
      return 'is invalid';
  }
}
