import { copyBytes } from '../bytes.js';
import { assertOptionalClock, assertOptionalString, assertOptions } from '../configuration.js';
import { ParleyError } from '../errors.js';
import {
  assertKey,
  assertNamespace,
  checkExpectations,
  checkListOptions,
  checkMutation,
  conflictError,
  invalid,
} from './adapter-kit.js';
import {
  type Clock,
  type CommitOptions,
  type CommitResult,
  type ListedRecord,
  type ListOptions,
  type Mutation,
  NAMESPACES,
  type Namespace,
  type Store,
  type StoredRecord,
  systemClock,
  type WriteOperation,
} from './contract.js';

/**
 * The reference store: everything the contract asks for, in a `Map`, with nothing durable.
 * Adapters in `@parley/storage-adapters` must behave exactly like this one (the conformance
 * suite runs against it first).
 *
 * Expiry rule shared by every adapter: a store instance evaluates expiry against the highest
 * clock value it has seen, so a clock stepping backwards (an NTP correction) never brings back
 * a record that was already treated as expired. `sweepExpired(now)` deletes every record with
 * `expiresAt <= now`, and also those the instance already hides.
 */
export interface MemoryStoreOptions {
  readonly clock?: Clock;
  readonly region?: string;
  /**
   * Testing only: called inside `commit` before each write is applied, after the version
   * checks passed. Throwing from it simulates a failure mid-commit; the store must roll back.
   */
  readonly testHooks?: {
    readonly beforeWrite?: (operation: WriteOperation, index: number) => void;
  };
}

interface MemoryRecord {
  readonly value: Uint8Array;
  readonly version: number;
  readonly expiresAt: number | undefined;
}

type UndoEntry = {
  readonly table: Map<string, MemoryRecord>;
  readonly key: string;
  readonly previous?: MemoryRecord;
};

export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  assertOptions(options, 'options', 'createMemoryStore({ clock?, region? })');
  assertOptionalClock(options.clock, 'clock');
  assertOptionalString(options.region, 'region', 'a region name such as "eu"');
  const clock = options.clock ?? systemClock;
  const beforeWrite = options.testHooks?.beforeWrite;
  const tables = new Map<Namespace, Map<string, MemoryRecord>>(NAMESPACES.map((ns) => [ns, new Map()]));
  let sequence = 0;
  let latestNow = Number.NEGATIVE_INFINITY;
  let closed = false;

  function assertOpen(): void {
    if (closed) {
      throw new ParleyError(
        'ERR_STORE_CLOSED',
        'the memory store is closed; create a new store to continue',
        {
          store: 'memory',
        },
      );
    }
  }

  function expiryNow(): number {
    latestNow = Math.max(latestNow, clock.now());
    return latestNow;
  }

  function table(namespace: Namespace): Map<string, MemoryRecord> {
    return tables.get(namespace)!;
  }

  function live(namespace: Namespace, key: string, now: number): MemoryRecord | undefined {
    const record = table(namespace).get(key);
    if (record === undefined) return undefined;
    if (record.expiresAt !== undefined && record.expiresAt <= now) return undefined;
    return record;
  }

  function copyOut(record: MemoryRecord): StoredRecord {
    return { value: copyBytes(record.value), version: record.version, expiresAt: record.expiresAt };
  }

  return {
    kind: 'memory',
    region: options.region,

    async get(namespace, key) {
      assertOpen();
      assertNamespace(namespace);
      assertKey(key, 'key');
      const record = live(namespace, key, expiryNow());
      return record === undefined ? undefined : copyOut(record);
    },

    async getMany(namespace, keys) {
      assertOpen();
      assertNamespace(namespace);
      if (!Array.isArray(keys)) throw invalid('"keys" expected an array of strings');
      keys.forEach((key, i) => {
        assertKey(key, `keys[${i}]`);
      });
      const now = expiryNow();
      const out = new Map<string, StoredRecord>();
      for (const key of keys) {
        const record = live(namespace, key, now);
        if (record !== undefined) out.set(key, copyOut(record));
      }
      return out;
    },

    async list(namespace, listOptions: ListOptions = {}) {
      assertOpen();
      assertNamespace(namespace);
      const { prefix, limit } = checkListOptions(listOptions);
      const now = expiryNow();
      const keys = [...table(namespace).keys()]
        .filter((key) => key.startsWith(prefix))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const out: ListedRecord[] = [];
      for (const key of keys) {
        if (out.length >= limit) break;
        const record = live(namespace, key, now);
        if (record !== undefined) out.push({ key, ...copyOut(record) });
      }
      return out;
    },

    async commit(mutation: Mutation, commitOptions: CommitOptions = {}): Promise<CommitResult> {
      assertOpen();
      checkMutation(mutation);
      const expectations = checkExpectations(commitOptions.expectVersions);
      const now = expiryNow();
      for (const expected of expectations) {
        const current = live(expected.namespace, expected.key, now)?.version ?? 0;
        if (current !== expected.version) throw conflictError('memory', expected, current);
      }
      // Copy every value before touching the tables, so nothing the caller does later (or a
      // throwing getter) can leave a half-applied commit behind.
      const staged = mutation.map((op) => (op.type === 'put' ? { ...op, value: copyBytes(op.value) } : op));
      const undo: UndoEntry[] = [];
      const versions: { namespace: Namespace; key: string; version: number }[] = [];
      try {
        staged.forEach((op, index) => {
          beforeWrite?.(op, index);
          const target = table(op.namespace);
          const previous = target.get(op.key);
          undo.push(
            previous === undefined
              ? { table: target, key: op.key }
              : { table: target, key: op.key, previous },
          );
          if (op.type === 'delete') {
            target.delete(op.key);
          } else {
            sequence += 1;
            target.set(op.key, { value: op.value, version: sequence, expiresAt: op.expiresAt });
            versions.push({ namespace: op.namespace, key: op.key, version: sequence });
          }
        });
      } catch (cause) {
        for (const entry of undo.reverse()) {
          if (entry.previous === undefined) entry.table.delete(entry.key);
          else entry.table.set(entry.key, entry.previous);
        }
        throw new ParleyError(
          'ERR_STORE_FAILURE',
          'commit failed and was rolled back; nothing was written. Retry the operation',
          { store: 'memory', operations: mutation.length },
          { cause },
        );
      }
      return { versions };
    },

    async sweepExpired(now) {
      assertOpen();
      if (typeof now !== 'number' || Number.isNaN(now)) throw invalid('"now" expected a number (epoch ms)');
      const limit = Math.max(now, latestNow);
      let removed = 0;
      for (const target of tables.values()) {
        for (const [key, record] of target) {
          if (record.expiresAt !== undefined && record.expiresAt <= limit) {
            target.delete(key);
            removed += 1;
          }
        }
      }
      return removed;
    },

    async close() {
      if (closed) return;
      closed = true;
      tables.clear();
    },
  };
}
