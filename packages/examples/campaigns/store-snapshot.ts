import {
  type Clock,
  type CommitOptions,
  createMemoryStore,
  type ListedRecord,
  type Mutation,
  NAMESPACES,
  type Namespace,
  type Store,
} from '@parley/core';

/** Every record of a store, per namespace, in key order (values copied). */
export type StoreSnapshot = ReadonlyMap<Namespace, readonly ListedRecord[]>;

export async function snapshotStore(store: Store): Promise<StoreSnapshot> {
  const out = new Map<Namespace, ListedRecord[]>();
  for (const namespace of NAMESPACES) out.set(namespace, await store.list(namespace));
  return out;
}

/** A memory store holding the snapshot's records (with new versions: a restored copy). */
export async function memoryStoreFrom(snapshot: StoreSnapshot, clock: Clock): Promise<Store> {
  const store = createMemoryStore({ clock });
  const writes: Mutation[number][] = [];
  for (const [namespace, records] of snapshot) {
    for (const record of records) {
      writes.push({
        type: 'put',
        namespace,
        key: record.key,
        value: record.value,
        expiresAt: record.expiresAt,
      });
    }
  }
  if (writes.length > 0) await store.commit(writes);
  return store;
}

/**
 * Keys whose bytes or expiry (and, with `versions`, version) differ between two snapshots.
 * Without `versions` a restored copy compares equal to its original.
 */
export function diffSnapshots(before: StoreSnapshot, after: StoreSnapshot, versions = true): string[] {
  const changes: string[] = [];
  for (const namespace of NAMESPACES) {
    const a = new Map((before.get(namespace) ?? []).map((r) => [r.key, r]));
    const b = new Map((after.get(namespace) ?? []).map((r) => [r.key, r]));
    for (const [key, record] of a) {
      const other = b.get(key);
      if (!other) changes.push(`deleted ${namespace}:${key}`);
      else if (
        (versions && other.version !== record.version) ||
        other.expiresAt !== record.expiresAt ||
        !sameBytes(other.value, record.value)
      )
        changes.push(`changed ${namespace}:${key}`);
    }
    for (const key of b.keys()) if (!a.has(key)) changes.push(`added ${namespace}:${key}`);
  }
  return changes;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A store that counts the writes that took effect (commits, and sweeps that removed
 * something): an input that left the count alone wrote nothing, with no snapshot needed.
 */
export interface TrackedStore extends Store {
  readonly writes: number;
}

export function trackWrites(inner: Store): TrackedStore {
  let writes = 0;
  return {
    kind: inner.kind,
    region: inner.region,
    location: inner.location,
    get writes() {
      return writes;
    },
    get: (namespace, key) => inner.get(namespace, key),
    getMany: (namespace, keys) => inner.getMany(namespace, keys),
    list: (namespace, options) => inner.list(namespace, options),
    async commit(mutation: Mutation, options?: CommitOptions) {
      const result = await inner.commit(mutation, options);
      if (Array.isArray(mutation) && mutation.length > 0) writes += 1;
      return result;
    },
    async sweepExpired(now) {
      const removed = await inner.sweepExpired(now);
      if (removed > 0) writes += 1;
      return removed;
    },
    close: () => inner.close(),
  };
}
