import { ParleyError } from '../errors.js';
import {
  type Clock,
  type ExpectedVersion,
  type ListOptions,
  type Mutation,
  NAMESPACES,
  type Namespace,
  type WriteOperation,
} from './contract.js';

/**
 * The toolkit for store adapters (`@parley/core/storage`): argument checks, errors and the
 * expiry rule every adapter shares with the memory store, so every adapter refuses the same
 * inputs with the same codes.
 */

const NAMESPACE_SET: ReadonlySet<string> = new Set(NAMESPACES);

export function invalid(message: string, details: Record<string, string | number> = {}): ParleyError {
  return new ParleyError('ERR_INVALID_ARGUMENT', message, details);
}

export function assertNamespace(namespace: unknown, field = 'namespace'): asserts namespace is Namespace {
  if (typeof namespace !== 'string' || !NAMESPACE_SET.has(namespace)) {
    throw invalid(`"${field}" expected one of ${NAMESPACES.join(', ')}`, { field });
  }
}

export function assertKey(key: unknown, field: string): asserts key is string {
  if (typeof key !== 'string' || key.length === 0)
    throw invalid(`"${field}" expected a non-empty string`, { field });
}

export function assertKeys(keys: unknown): asserts keys is readonly string[] {
  if (!Array.isArray(keys)) throw invalid('"keys" expected an array of strings');
  keys.forEach((key, i) => {
    assertKey(key, `keys[${i}]`);
  });
}

export function checkListOptions(options: ListOptions): { prefix: string; limit: number } {
  const prefix = options.prefix ?? '';
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (typeof prefix !== 'string') throw invalid('"prefix" expected a string', { field: 'prefix' });
  if (limit !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw invalid('"limit" expected a non-negative integer', { field: 'limit' });
  }
  return { prefix, limit };
}

export function checkMutation(mutation: Mutation): void {
  if (!Array.isArray(mutation)) throw invalid('"mutation" expected an array of operations');
  mutation.forEach((op: WriteOperation, i) => {
    if (op === null || typeof op !== 'object') throw invalid(`"mutation[${i}]" expected an operation object`);
    assertNamespace(op.namespace, `mutation[${i}].namespace`);
    assertKey(op.key, `mutation[${i}].key`);
    if (op.type === 'put') {
      if (!(op.value instanceof Uint8Array)) throw invalid(`"mutation[${i}].value" expected a Uint8Array`);
      if (
        op.expiresAt !== undefined &&
        (typeof op.expiresAt !== 'number' || !Number.isFinite(op.expiresAt))
      ) {
        throw invalid(`"mutation[${i}].expiresAt" expected a finite number (epoch ms)`);
      }
    } else if (op.type !== 'delete') {
      throw invalid(`"mutation[${i}].type" expected "put" or "delete"`);
    }
  });
}

/**
 * A copy of a checked mutation, values included, for an adapter that writes it after an await:
 * what it stores is what the caller passed when it called `commit`, whatever the caller does
 * with its arrays afterwards.
 */
export function stagedMutation(mutation: Mutation): Mutation {
  return mutation.map((op) => (op.type === 'put' ? { ...op, value: op.value.slice() } : { ...op }));
}

export function checkExpectations(
  expectations: readonly ExpectedVersion[] | undefined,
): readonly ExpectedVersion[] {
  if (expectations === undefined) return [];
  if (!Array.isArray(expectations)) throw invalid('"expectVersions" expected an array');
  expectations.forEach((expected: ExpectedVersion, i) => {
    assertNamespace(expected?.namespace, `expectVersions[${i}].namespace`);
    assertKey(expected.key, `expectVersions[${i}].key`);
    if (!Number.isSafeInteger(expected.version) || expected.version < 0) {
      throw invalid(`"expectVersions[${i}].version" expected a non-negative integer`);
    }
  });
  // Copies: an adapter that checks them after an await reads what the caller passed.
  return expectations.map(({ namespace, key, version }) => ({ namespace, key, version }));
}

export function checkSweepNow(now: unknown): asserts now is number {
  if (typeof now !== 'number' || Number.isNaN(now)) throw invalid('"now" expected a number (epoch ms)');
}

export function conflictError(store: string, expected: ExpectedVersion, actual: number): ParleyError {
  return new ParleyError(
    'ERR_STORE_CONFLICT',
    `version conflict in "${expected.namespace}": expected ${expected.version}, found ${actual}; re-read and retry`,
    { store, namespace: expected.namespace, expected: expected.version, actual },
  );
}

export function closedError(store: string, hint = 'open a new store to continue'): ParleyError {
  return new ParleyError('ERR_STORE_CLOSED', `the ${store} store is closed; ${hint}`, { store });
}

/**
 * Expiry is judged against the highest clock value this instance has seen, so a clock that
 * steps backwards never resurrects a record already treated as expired (the rule of the
 * memory store in core, which every adapter follows).
 */
export class ExpiryClock {
  #latest = Number.NEGATIVE_INFINITY;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  now(): number {
    this.#latest = Math.max(this.#latest, this.#clock.now());
    return this.#latest;
  }

  /** Sweep bound: the caller's `now`, or later if this instance already hides more. */
  sweepBound(now: number): number {
    return Math.max(now, this.#latest);
  }
}

export function isLive(expiresAt: number | undefined | null, now: number): boolean {
  return expiresAt === undefined || expiresAt === null || expiresAt > now;
}

/** Testing hook shape accepted by every adapter (see the conformance suite's fault injector). */
export interface StoreTestHooks {
  /**
   * Called inside `commit` before each write, after the version checks, with the operation the
   * caller passed (the same object) and its index. Throwing aborts the commit.
   */
  readonly beforeWrite?: (operation: WriteOperation, index: number) => void;
}
