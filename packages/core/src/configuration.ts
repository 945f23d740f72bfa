import { ParleyError } from './errors.js';

/**
 * Up-front checks of constructor options and of the objects passed in them (stores, clocks,
 * providers). A mistake here is the programmer's, so the message says which field is wrong and
 * what to pass — at construction, not at the first message hours later. Every failure is
 * `ERR_CONFIGURATION` with `details.field`. Values are described by their kind only (never
 * printed: an option may hold a key).
 */

export function configurationError(
  field: string,
  expected: string,
  ...given: [value?: unknown]
): ParleyError {
  const got = given.length > 0 ? `, got ${describeValue(given[0])}` : '';
  return new ParleyError('ERR_CONFIGURATION', `"${field}" expected ${expected}${got}`, { field });
}

/** The kind of a value, for error messages: never its contents. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (undefined)';
  if (value === null) return 'null';
  if (isThenable(value)) return 'a Promise — did you forget `await`?';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  const type = typeof value;
  if (type === 'object') return 'an object';
  if (type === 'function') return 'a function';
  return `a ${type}`;
}

export function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The options object itself (`createGateway(options)`, `new SessionManager(options)`). */
export function assertOptions(value: unknown, field: string, expected: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isThenable(value)) {
    throw configurationError(field, expected, value);
  }
}

/**
 * An object with these methods (a transport, a directory, a key provider…). A missing
 * method is named, so an object of the wrong kind is told apart from a misspelt one.
 */
export function assertMethods(
  value: unknown,
  field: string,
  methods: readonly string[],
  expected: string,
): void {
  if (typeof value !== 'object' || value === null || isThenable(value)) {
    throw configurationError(field, expected, value);
  }
  for (const method of methods) {
    if (typeof (value as Record<string, unknown>)[method] !== 'function') {
      throw new ParleyError(
        'ERR_CONFIGURATION',
        `"${field}" expected ${expected}, got an object without a "${method}" method`,
        { field, method },
      );
    }
  }
}

const STORE_METHODS = ['get', 'getMany', 'list', 'commit', 'sweepExpired', 'close'] as const;

/** A `Store` (an adapter instance), refusing the common mistake of passing its Promise. */
export function assertStore(value: unknown, field: string): void {
  assertMethods(
    value,
    field,
    STORE_METHODS,
    'a Store (an adapter: createMemoryStore(), createSqliteStore({ path }), await createIndexedDbStore({ name }))',
  );
}

export function assertOptionalClock(value: unknown, field: string): void {
  if (value === undefined) return;
  assertMethods(value, field, ['now'], 'a clock: an object with now() returning epoch milliseconds');
}

export function assertOptionalFunction(value: unknown, field: string, expected: string): void {
  if (value !== undefined && typeof value !== 'function') throw configurationError(field, expected, value);
}

export function assertOptionalString(value: unknown, field: string, expected: string): void {
  if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
    throw configurationError(field, expected, value);
  }
}

/** A crypto provider is checked by a few of its methods (a wrong object fails here, not mid-handshake). */
export function assertOptionalCryptoProvider(value: unknown, field: string): void {
  if (value === undefined) return;
  assertMethods(
    value,
    field,
    ['x25519', 'hmacSha256', 'hkdfSha256', 'aes256CbcEncrypt', 'aes256GcmEncrypt'],
    'a crypto provider: createNodeCrypto() from @parley/core/node or createPortableCrypto()',
  );
}
