/**
 * The store contract. Adapters (memory here; SQLite and IndexedDB in
 * `@parley/storage-adapters`) keep opaque, versioned byte records and never parse them.
 *
 * - Records live in a fixed set of namespaces and are addressed by a string key.
 *   Keys are hierarchical by convention (`scope/kind/id`), so `list` by prefix finds a
 *   family of records (all sessions of one person, all messages of one period).
 * - Every write gives the record a new `version`: a positive integer that is never
 *   reused for the same key while the store exists (adapters use a store-wide sequence,
 *   so a record deleted and re-created does not come back with an old version).
 * - `expiresAt` is an absolute epoch-milliseconds deadline. A record is expired when
 *   `expiresAt <= clock.now()`. An adapter never returns an expired record, and
 *   `sweepExpired(now)` deletes them physically. No adapter may ignore expiry.
 * - `commit` applies every write of a mutation atomically, after checking every expected
 *   version; a mismatch throws `ERR_STORE_CONFLICT` and writes nothing.
 */

export const NAMESPACES = [
  /** Own identity (per business number) and remote identities (keyed by pseudonym). */
  'identities',
  /** One-time, signed and Kyber prekeys. */
  'prekeys',
  /** Session records (current + archived states) per remote address. */
  'sessions',
  /** Inbound and outbound messages, content encrypted, with status. */
  'messages',
  /** Retransmission queue for outbound frames and redelivery queue for inbound ones. */
  'outbox',
  /** Statistics, billing and integrity counters (non-personal). */
  'counters',
  /** Wrapped data keys for crypto-shredding (kept in a separate store instance). */
  'vault',
  /** Everything else a layer above needs (device lists, configuration, dedup ids). */
  'meta',
] as const;

export type Namespace = (typeof NAMESPACES)[number];

export interface StoredRecord {
  readonly value: Uint8Array;
  readonly version: number;
  readonly expiresAt?: number | undefined;
}

export interface ListedRecord extends StoredRecord {
  readonly key: string;
}

export interface PutOperation {
  readonly type: 'put';
  readonly namespace: Namespace;
  readonly key: string;
  readonly value: Uint8Array;
  /** Absolute epoch ms. Omitted: the record never expires on its own. */
  readonly expiresAt?: number | undefined;
}

export interface DeleteOperation {
  readonly type: 'delete';
  readonly namespace: Namespace;
  readonly key: string;
}

export type WriteOperation = PutOperation | DeleteOperation;

/** All writes of one logical operation; applied all-or-nothing. */
export type Mutation = readonly WriteOperation[];

/**
 * A precondition on one record. `version: 0` means "must not exist (or be expired)";
 * any other number must equal the record's current version.
 */
export interface ExpectedVersion {
  readonly namespace: Namespace;
  readonly key: string;
  readonly version: number;
}

export interface CommitOptions {
  readonly expectVersions?: readonly ExpectedVersion[];
}

export interface CommitResult {
  /** New version of each put, in the order of the mutation's puts. */
  readonly versions: readonly {
    readonly namespace: Namespace;
    readonly key: string;
    readonly version: number;
  }[];
}

export interface ListOptions {
  /** Only keys starting with this prefix (plain string comparison). */
  readonly prefix?: string;
  /** At most this many records, in ascending key order. */
  readonly limit?: number;
}

export interface Store {
  /** Adapter name for diagnostics, e.g. "memory", "sqlite". */
  readonly kind: string;
  /** Region the data rests in (for residency checks); undefined means "not declared". */
  readonly region?: string | undefined;
  /**
   * Where the data lives, when two instances can share it: a resolved file path, a database
   * name, a server and database (never credentials). Two stores with the same location are one
   * store; the gateway refuses them as message store and vault store. Undefined: private to
   * this instance (the memory store, an SQLite `:memory:` database).
   */
  readonly location?: string | undefined;

  get(namespace: Namespace, key: string): Promise<StoredRecord | undefined>;
  /** Several keys of one namespace at once; missing or expired keys are absent from the map. */
  getMany(namespace: Namespace, keys: readonly string[]): Promise<Map<string, StoredRecord>>;
  /** Records of a namespace in ascending key order, expired ones excluded. */
  list(namespace: Namespace, options?: ListOptions): Promise<ListedRecord[]>;
  commit(mutation: Mutation, options?: CommitOptions): Promise<CommitResult>;
  /** Physically deletes every record with `expiresAt <= now`; returns how many. */
  sweepExpired(now: number): Promise<number>;
  /** Releases resources; later calls throw `ERR_STORE_CLOSED`. Idempotent. */
  close(): Promise<void>;
}

/** Injected time source (epoch milliseconds). Nothing in Parley reads `Date.now()` directly. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function isExpired(record: { readonly expiresAt?: number | undefined }, now: number): boolean {
  return record.expiresAt !== undefined && record.expiresAt <= now;
}
