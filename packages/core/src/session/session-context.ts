import { ByteReader } from '../binary.js';
import { bytesEqual } from '../bytes.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { isParleyError, ParleyError } from '../errors.js';
import { ChainWalks } from '../ratchet/chain-walks.js';
import type { RatchetContext } from '../ratchet/double-ratchet.js';
import { decodeSessionRecord, type SessionRecord } from '../ratchet/session-record.js';
import type { SpqrMode } from '../spqr/pq-ratchet.js';
import type { Clock, CommitResult, ExpectedVersion, WriteOperation } from '../storage/contract.js';
import type { ProtocolAddress } from './address.js';
import type { CommitRetry } from './commit-retry.js';
import type { ProtocolStore, VersionedBytes } from './protocol-store.js';
import type { TrustDirection, TrustPolicy } from './trust.js';
import type { IdentityChange, LocalIdentity } from './types.js';
import type { UnverifiedWorkBudget } from './unverified-work.js';

/** A session record as decoded for one operation, with the version to expect on commit. */
export interface LoadedSession {
  readonly record: SessionRecord | undefined;
  readonly version: number;
}

/** What an operation read, so its commit can expect exactly those versions. */
export interface ReadSet {
  readonly sessionKey: string;
  readonly record: SessionRecord;
  readonly sessionVersion: number;
  readonly identityKeyName: string;
  readonly identity: VersionedBytes;
}

export interface SessionContextOptions {
  readonly crypto: CryptoProvider;
  readonly random: RandomSource;
  readonly clock: Clock;
  readonly trust: TrustPolicy;
  readonly records: ProtocolStore;
  readonly minimumVersion: 3 | 4;
  readonly cacheSize: number;
  readonly retry: CommitRetry;
  readonly unverifiedWork: UnverifiedWorkBudget;
  readonly spqr: SpqrMode;
}

export const LOCAL_IDENTITY_FORMAT = 1;

/** Inserts at the young end of an insertion-ordered Map, evicting the oldest beyond `limit`. */
function remember<V>(cache: Map<string, V>, key: string, value: V, limit: number): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > limit) cache.delete(cache.keys().next().value!);
}

/**
 * What the session builder and cipher share inside one `SessionManager`: the injected
 * dependencies, the store layout, this instance's caches of decoded records, the trust
 * policy, and the discipline every operation follows — serialized per address, run on fresh
 * reads, committed in one mutation that expects the versions it read, re-run on a conflict.
 * Per instance, never process-global: two managers over one store only meet in the store.
 */
export class SessionContext {
  readonly crypto: CryptoProvider;
  readonly random: RandomSource;
  readonly clock: Clock;
  readonly trust: TrustPolicy;
  readonly records: ProtocolStore;
  readonly minimumVersion: 3 | 4;
  /** The subset the ratchet and handshake layers need. */
  readonly ratchet: RatchetContext;
  /** Pays for the work unverified messages cause (per sender device, and in total). */
  readonly unverifiedWork: UnverifiedWorkBudget;
  /** Whether new v4 sessions use the sparse post-quantum ratchet. */
  readonly spqr: SpqrMode;
  private readonly cacheSize: number;
  private readonly retry: CommitRetry;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly sessionCache = new Map<string, LoadedSession>();
  private readonly identityCache = new Map<string, VersionedBytes>();
  /** Sessions whose cached record the running attempt has changed (see `touch`). */
  private readonly touched = new Set<string>();
  private localIdentityCache: LocalIdentity | undefined;

  constructor(options: SessionContextOptions) {
    this.crypto = options.crypto;
    this.random = options.random;
    this.clock = options.clock;
    this.trust = options.trust;
    this.records = options.records;
    this.minimumVersion = options.minimumVersion;
    this.cacheSize = options.cacheSize;
    this.retry = options.retry;
    this.unverifiedWork = options.unverifiedWork;
    this.spqr = options.spqr;
    this.ratchet = { crypto: this.crypto, random: this.random, walks: new ChainWalks() };
  }

  get cachedAddresses(): number {
    return this.sessionCache.size;
  }

  // ── Local identity ────────────────────────────────────────────────────────────────

  async localIdentity(): Promise<LocalIdentity> {
    const identity = await this.findLocalIdentity();
    if (!identity) {
      throw new ParleyError(
        'ERR_NOT_FOUND',
        'no local identity in this scope; call initializeIdentity() first',
      );
    }
    return identity;
  }

  async findLocalIdentity(): Promise<LocalIdentity | undefined> {
    if (this.localIdentityCache) return this.localIdentityCache;
    const { bytes } = await this.records.read('identities', this.records.localIdentityKey());
    if (!bytes) return undefined;
    const r = new ByteReader(bytes, 'local identity');
    if (r.u8() !== LOCAL_IDENTITY_FORMAT) r.fail('unknown format');
    const publicKey = r.fixed(33);
    const privateKey = r.fixed(32);
    const registrationId = r.u32();
    r.end();
    this.localIdentityCache = { identityKeyPair: { publicKey, privateKey }, registrationId };
    return this.localIdentityCache;
  }

  rememberLocalIdentity(identity: LocalIdentity): void {
    this.localIdentityCache = identity;
  }

  // ── Trust ─────────────────────────────────────────────────────────────────────────

  async checkTrust(
    address: ProtocolAddress,
    identityKey: Uint8Array,
    storedIdentityKey: Uint8Array | undefined,
    direction: TrustDirection,
  ): Promise<void> {
    const trusted = await this.trust.isTrusted({ address, identityKey, storedIdentityKey, direction });
    if (trusted !== true) {
      throw new ParleyError(
        'ERR_UNTRUSTED_IDENTITY',
        `identity key of the remote ${direction === 'sending' ? 'recipient' : 'sender'} is not trusted`,
        {
          deviceId: address.deviceId,
          direction,
          policy: this.trust.name,
        },
      );
    }
  }

  /** Adds the identity write when the key is new or changed; reports a change. */
  identityWrite(
    address: ProtocolAddress,
    identityKey: Uint8Array,
    stored: VersionedBytes,
    writes: WriteOperation[],
  ): IdentityChange | undefined {
    if (stored.bytes && bytesEqual(stored.bytes, identityKey)) return undefined;
    writes.push(this.records.put('identities', this.records.remoteIdentityKey(address.name), identityKey));
    if (!stored.bytes) return undefined;
    return { address, previousIdentityKey: stored.bytes, identityKey };
  }

  // ── Reads and commits ─────────────────────────────────────────────────────────────

  /**
   * Reads the session record and the remote identity of one address — from the cache of what
   * this instance last committed, when it has it. A cached entry may be stale (another
   * instance wrote since): the commit then expects the old version, conflicts, and the retry
   * reads fresh. Nothing is ever committed on top of a record this instance did not see.
   */
  async load(address: ProtocolAddress): Promise<{
    sessionKey: string;
    identityKeyName: string;
    session: LoadedSession;
    identity: VersionedBytes;
  }> {
    const sessionKey = this.records.sessionKey(address);
    const identityKeyName = this.records.remoteIdentityKey(address.name);
    const cachedSession = this.sessionCache.get(sessionKey);
    const cachedIdentity = this.identityCache.get(identityKeyName);
    if (cachedSession && cachedIdentity) {
      return { sessionKey, identityKeyName, session: cachedSession, identity: cachedIdentity };
    }
    const [session, identity] = await Promise.all([
      cachedSession ?? this.readSession(sessionKey),
      cachedIdentity ?? this.records.read('identities', identityKeyName),
    ]);
    return { sessionKey, identityKeyName, session, identity };
  }

  private async readSession(sessionKey: string): Promise<LoadedSession> {
    const read = await this.records.read('sessions', sessionKey);
    return { record: read.bytes ? decodeSessionRecord(read.bytes) : undefined, version: read.version };
  }

  /**
   * Commits an operation's writes, expecting the session and identity versions it read (plus
   * any `extra` expectations), and remembers the committed record for the next operation.
   */
  async commit(
    writes: readonly WriteOperation[],
    read: ReadSet,
    extra: readonly ExpectedVersion[] = [],
  ): Promise<void> {
    let result: CommitResult;
    try {
      result = await this.records.store.commit(writes, {
        expectVersions: [
          { namespace: 'sessions', key: read.sessionKey, version: read.sessionVersion },
          { namespace: 'identities', key: read.identityKeyName, version: read.identity.version },
          ...extra,
        ],
      });
    } catch (error) {
      if (isParleyError(error, 'ERR_STORE_CONFLICT') && extra.length > 0)
        await this.checkCallerRecords(extra, error);
      throw error;
    }
    if (this.cacheSize === 0) return;
    let identity = read.identity;
    for (const written of result.versions) {
      if (written.namespace === 'sessions' && written.key === read.sessionKey) {
        remember(
          this.sessionCache,
          read.sessionKey,
          { record: read.record, version: written.version },
          this.cacheSize,
        );
      } else if (written.namespace === 'identities' && written.key === read.identityKeyName) {
        identity = { bytes: read.record.current?.remoteIdentityKey, version: written.version };
      }
    }
    remember(this.identityCache, read.identityKeyName, identity, this.cacheSize);
  }

  /**
   * After a conflict: when a record the caller expected (`alsoExpect`) is no longer at the
   * version it named, re-running the operation from fresh reads cannot succeed — its version
   * does not come back — so the conflict is final (`details.final`), not retried.
   */
  private async checkCallerRecords(extra: readonly ExpectedVersion[], conflict: ParleyError): Promise<void> {
    for (const expected of extra) {
      const current = await this.records.store.get(expected.namespace, expected.key);
      if ((current?.version ?? 0) !== expected.version) {
        throw new ParleyError(
          'ERR_STORE_CONFLICT',
          `a record the caller expected in "${expected.namespace}" (alsoExpect) changed; retrying cannot succeed`,
          { ...conflict.details, final: true },
          { cause: conflict },
        );
      }
    }
  }

  /**
   * Says that the running operation is about to change (or has changed) the decoded record it
   * loaded for `address`. Should it then fail, the cached record is dropped; a failure before
   * any change keeps it — a forged message does not cost the next one a read and a decode.
   */
  touch(address: ProtocolAddress): void {
    this.touched.add(this.records.sessionKey(address));
  }

  /** Whether the cached session and identity of an address are still what the store holds. */
  private async cacheIsCurrent(address: ProtocolAddress): Promise<boolean> {
    const sessionKey = this.records.sessionKey(address);
    const identityKeyName = this.records.remoteIdentityKey(address.name);
    const session = this.sessionCache.get(sessionKey);
    const identity = this.identityCache.get(identityKeyName);
    if (!session || !identity) return false;
    const [storedSession, storedIdentity] = await Promise.all([
      this.records.store.get('sessions', sessionKey),
      this.records.store.get('identities', identityKeyName),
    ]);
    return (
      (storedSession?.version ?? 0) === session.version && (storedIdentity?.version ?? 0) === identity.version
    );
  }

  /** Forgets what this instance cached for one address (after a failure or a deletion). */
  forget(address: ProtocolAddress): void {
    this.sessionCache.delete(this.records.sessionKey(address));
    this.identityCache.delete(this.records.remoteIdentityKey(address.name));
  }

  /** Forgets the cached sessions of every device of a name, and its identity. */
  forgetName(name: string): void {
    const prefix = this.records.sessionPrefix(name);
    for (const key of [...this.sessionCache.keys()])
      if (key.startsWith(prefix)) this.sessionCache.delete(key);
    this.identityCache.delete(this.records.remoteIdentityKey(name));
  }

  // ── Running operations ────────────────────────────────────────────────────────────

  /**
   * Runs one operation on one address: after the operations queued before it on this
   * instance, re-run from fresh reads when another writer committed first.
   */
  run<T>(address: ProtocolAddress, operation: () => Promise<T>): Promise<T> {
    return this.serialized(address, () => this.withRetries(address, operation));
  }

  /**
   * Re-runs an operation from fresh reads when another writer committed first, after a
   * jittered wait, until the retry budget is spent (see `commit-retry.ts`).
   */
  private async withRetries<T>(address: ProtocolAddress, operation: () => Promise<T>): Promise<T> {
    const schedule = this.retry.start();
    const key = this.records.sessionKey(address);
    for (;;) {
      const cached = this.sessionCache.has(key);
      this.touched.delete(key);
      try {
        return await operation();
      } catch (error) {
        const dirty = this.touched.delete(key);
        if (isParleyError(error, 'ERR_STORE_CONFLICT')) {
          this.forget(address);
          if (error.details.final !== true && (await schedule.backOff())) continue;
          throw error;
        }
        // The operation changed the cached record before failing: drop it.
        if (dirty) this.forget(address);
        // A failure computed from a cached record may be the cache's fault (the store moved on
        // without us): unless the store still holds what we cached, it is retried once, at
        // once, from the store before it counts. A spent budget is this instance's own verdict.
        if (!cached || isParleyError(error, 'ERR_WORK_BUDGET_EXHAUSTED')) throw error;
        if (!dirty && (await this.cacheIsCurrent(address))) throw error;
        this.forget(address);
      }
    }
  }

  /** Runs operations on one address one after another (per instance, not process-global). */
  serialized<T>(address: ProtocolAddress, operation: () => Promise<T>): Promise<T> {
    const key = this.records.sessionKey(address);
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous.then(operation, operation);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return next;
  }
}

/**
 * Each `SessionManager` owns one context; its `SessionBuilder` and `SessionCipher` views find
 * it here. A WeakMap rather than a public field, so the context stays out of the public API.
 */
const contexts = new WeakMap<object, SessionContext>();

export function attachSessionContext(owner: object, context: SessionContext): void {
  contexts.set(owner, context);
}

export function sessionContextOf(owner: object): SessionContext {
  const context = contexts.get(owner);
  if (!context) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"sessions" expected a SessionManager');
  }
  return context;
}

export function sessionNotFound(address: ProtocolAddress): ParleyError {
  return new ParleyError(
    'ERR_SESSION_NOT_FOUND',
    'no session with this device; process a prekey bundle first',
    {
      deviceId: address.deviceId,
    },
  );
}

export function preKeyNotFound(kind: 'signed' | 'one-time' | 'kyber', id: number): ParleyError {
  return new ParleyError(
    'ERR_PREKEY_NOT_FOUND',
    `${kind} prekey ${id} is not available (used, removed or never issued)`,
    {
      kind,
      preKeyId: id,
    },
  );
}
