import { bytesEqual } from '../bytes.js';
import { defaultCrypto } from '../crypto/default.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { isParleyError, ParleyError } from '../errors.js';
import type { KeyContext } from '../keys/curve.js';
import { inspectCustom } from '../redaction.js';
import { assertAddress, type ProtocolAddress } from '../session/address.js';
import type { RecordSealer } from '../session/record-sealer.js';
import { type Clock, type Store, systemClock, type WriteOperation } from '../storage/contract.js';
import { assertBytes } from '../wire/limits.js';
import {
  decodeSenderKeyDistributionMessage,
  encodeSenderKeyDistributionMessage,
} from '../wire/sender-key-distribution-message.js';
import { DISTRIBUTION_ID_LENGTH, type SenderKeyFormat } from '../wire/sender-key-format.js';
import { decodeSenderKeyMessage } from '../wire/sender-key-message.js';
import { distributionIdToString } from './distribution-id.js';
import { assertGroupId, type GroupId } from './group-id.js';
import { GroupRecords, type VersionedRecord } from './group-records.js';
import {
  decodeLocalSenderKey,
  encodeLocalSenderKey,
  generateLocalSenderKey,
  type LocalSenderKey,
} from './local-sender-key.js';
import type { MembershipPolicy } from './membership.js';
import { checkGroupSessionsOptions } from './options-check.js';
import { decodeRemoteSenderKey, encodeRemoteSenderKey, type RemoteSenderKey } from './remote-sender-key.js';
import {
  addState,
  decodeRemoteSenderKeyRecord,
  encodeRemoteSenderKeyRecord,
  findStateIndex,
  type RemoteSenderKeyRecord,
  replaceState,
} from './remote-sender-key-record.js';
import { decryptWithSenderKey, encryptWithSenderKey } from './sender-key-cipher.js';

/** libsignal's ciphertext message type of a group message (`CiphertextMessageType::SenderKey`). */
export const SENDER_KEY_MESSAGE_TYPE = 7;

/** Which chain a distribution or group message belongs to. No key material. */
export interface SenderKeyChain {
  readonly format: SenderKeyFormat;
  /** `signal` format only: the UUID every message of the chain carries. */
  readonly distributionId?: string | undefined;
  readonly chainId: number;
  /** The message's iteration; for a distribution, the first iteration its receiver can read. */
  readonly iteration: number;
}

/** A SenderKeyDistributionMessage of our chain, to send over each member device's 1:1 session. */
export interface GroupDistribution extends SenderKeyChain {
  readonly body: Uint8Array;
  /** When the chain was created (the injected clock), for rotation by age. */
  readonly createdAt: number;
}

export interface GroupCiphertext extends SenderKeyChain {
  readonly type: typeof SENDER_KEY_MESSAGE_TYPE;
  /** The SenderKeyMessage, the same bytes for every member device. */
  readonly body: Uint8Array;
}

export interface GroupDecryptResult extends SenderKeyChain {
  readonly plaintext: Uint8Array;
}

export interface ProcessedDistribution extends SenderKeyChain {
  /** False when this chain was already known (a repeated distribution message changes nothing). */
  readonly newChain: boolean;
}

/** More writes committed atomically with an operation's own (a gateway's queue or status entries). */
export interface GroupWriteOptions<R> {
  readonly alsoWrite?: (result: R) => readonly WriteOperation[];
}

export interface GroupSessionsOptions {
  readonly store: Store;
  /** Asked before a sender key is stored and before a group message is decrypted. */
  readonly membership: MembershipPolicy;
  /** Wire format of every group of this instance: the network's. Default `signal`. */
  readonly format?: SenderKeyFormat;
  readonly crypto?: CryptoProvider;
  readonly random?: RandomSource;
  readonly clock?: Clock;
  /** The local identity the records belong to, as `SessionManager`'s scope. Default "default". */
  readonly scope?: string;
  /** Seals every record (they hold chain keys and our signing key). */
  readonly sealer?: RecordSealer;
  /** Decoded records kept between operations, checked by version on every commit. Default 1 024. */
  readonly cacheSize?: number;
}

const DEFAULT_CACHE_SIZE = 1_024;
/** Optimistic commits retry this often when another writer changed the same record. */
const MAX_COMMIT_ATTEMPTS = 8;
/** The `whatsapp` format has no distribution id; its states store zeros in that place. */
const NO_DISTRIBUTION_ID = new Uint8Array(DISTRIBUTION_ID_LENGTH);

interface LoadedLocal {
  readonly key: LocalSenderKey | undefined;
  readonly version: number;
}

interface LoadedRemote {
  readonly record: RemoteSenderKeyRecord | undefined;
  readonly version: number;
}

function remember<V>(cache: Map<string, V>, key: string, value: V, limit: number): void {
  if (limit === 0) return;
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > limit) cache.delete(cache.keys().next().value!);
}

/**
 * Sender keys of one local identity in many groups, in the spirit of libsignal's
 * GroupSessionBuilder and GroupCipher: our own sending chain per group (created, distributed,
 * rotated) and the chains other member devices distributed to us. Every operation reads the one
 * record it needs, computes on copies, and commits in one atomic mutation that expects the
 * version it read; operations on one record are serialized in this instance.
 */
export class GroupSessions {
  readonly format: SenderKeyFormat;
  readonly records: GroupRecords;
  private readonly crypto: CryptoProvider;
  private readonly ctx: KeyContext;
  private readonly clock: Clock;
  private readonly membership: MembershipPolicy;
  private readonly cacheSize: number;
  private readonly localCache = new Map<string, LoadedLocal>();
  private readonly remoteCache = new Map<string, LoadedRemote>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(options: GroupSessionsOptions) {
    checkGroupSessionsOptions(options);
    const format = options.format ?? 'signal';
    this.format = format;
    this.crypto = options.crypto ?? defaultCrypto();
    this.ctx = { crypto: this.crypto, random: options.random ?? defaultRandom };
    this.clock = options.clock ?? systemClock;
    this.membership = options.membership;
    this.cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.records = new GroupRecords(options.store, options.scope ?? 'default', options.sealer);
  }

  /** A summary without keys, groups or addresses (see redaction.ts). */
  toJSON(): Record<string, string | number | boolean> {
    return {
      type: 'GroupSessions',
      format: this.format,
      membership: this.membership.name,
      cachedRecords: this.localCache.size + this.remoteCache.size,
    };
  }

  [inspectCustom](): string {
    return `GroupSessions ${JSON.stringify(this.toJSON())}`;
  }

  // ── Our sending chain ──────────────────────────────────────────────────────────────

  /**
   * The distribution message of our current chain in `group`, creating the chain on first use.
   * A device that receives it reads our messages from the chain's current iteration on (not
   * earlier ones). Creating commits; returning an existing chain writes nothing of its own
   * (`alsoWrite` is still committed, on condition that the chain did not change meanwhile).
   */
  async createDistribution(
    group: GroupId,
    options: GroupWriteOptions<GroupDistribution> = {},
  ): Promise<GroupDistribution> {
    assertGroupId(group);
    const key = this.records.localKey(group);
    return this.serialized(key, () =>
      this.withRetries(key, async () => {
        const loaded = await this.loadLocal(key);
        if (loaded.key) {
          const existing = this.distributionOf(loaded.key);
          const extra = options.alsoWrite?.(existing) ?? [];
          if (extra.length > 0) await this.commitExtra(key, loaded.version, extra);
          return existing;
        }
        const created = generateLocalSenderKey(this.ctx, { format: this.format, now: this.clock.now() });
        const result = this.distributionOf(created);
        await this.commitLocal(key, created, loaded.version, options.alsoWrite?.(result) ?? []);
        return result;
      }),
    );
  }

  /**
   * Replaces our chain in `group` with a new one (new chain id, chain key and signing key; the
   * `signal` distribution id stays) and returns its distribution message. Devices that do not
   * receive it — members removed from the group — cannot read anything sent afterwards.
   */
  async rotate(
    group: GroupId,
    options: GroupWriteOptions<GroupDistribution> = {},
  ): Promise<GroupDistribution> {
    assertGroupId(group);
    const key = this.records.localKey(group);
    return this.serialized(key, () =>
      this.withRetries(key, async () => {
        const loaded = await this.loadLocal(key);
        const created = generateLocalSenderKey(this.ctx, {
          format: this.format,
          now: this.clock.now(),
          previous: loaded.key,
        });
        const result = this.distributionOf(created);
        await this.commitLocal(key, created, loaded.version, options.alsoWrite?.(result) ?? []);
        return result;
      }),
    );
  }

  /** Our current chain in `group` (no key material), or undefined before `createDistribution`. */
  async localChain(group: GroupId): Promise<(SenderKeyChain & { readonly createdAt: number }) | undefined> {
    assertGroupId(group);
    const key = this.records.localKey(group);
    const loaded = await this.loadLocal(key);
    if (!loaded.key) return undefined;
    return { ...chainOf(loaded.key, loaded.key.chainKey.index), createdAt: loaded.key.createdAt };
  }

  /**
   * Encrypts one group message: one SenderKeyMessage for every member device. Refused with
   * `ERR_SENDER_KEY_NOT_FOUND` before `createDistribution(group)`.
   */
  async encrypt(
    group: GroupId,
    plaintext: Uint8Array,
    options: GroupWriteOptions<GroupCiphertext> = {},
  ): Promise<GroupCiphertext> {
    assertGroupId(group);
    assertBytes(plaintext, 'plaintext');
    const key = this.records.localKey(group);
    return this.serialized(key, () =>
      this.withRetries(key, async () => {
        const loaded = await this.loadLocal(key);
        if (!loaded.key) {
          throw new ParleyError(
            'ERR_SENDER_KEY_NOT_FOUND',
            'no sending chain in this group; call createDistribution(group) and distribute it first',
          );
        }
        const encrypted = encryptWithSenderKey(this.ctx, loaded.key, plaintext);
        const result: GroupCiphertext = {
          type: SENDER_KEY_MESSAGE_TYPE,
          body: encrypted.body,
          ...chainOf(loaded.key, encrypted.iteration),
        };
        await this.commitLocal(key, encrypted.next, loaded.version, options.alsoWrite?.(result) ?? []);
        return result;
      }),
    );
  }

  // ── Other members' chains ──────────────────────────────────────────────────────────

  /**
   * Stores the chain a member device distributed (received over its 1:1 session). The
   * membership policy is asked first; a repeated distribution message of a known chain changes
   * nothing (it cannot rewind the chain); a new chain of the same sender is kept beside the
   * previous ones (at most MAX_SENDER_KEY_STATES).
   */
  async processDistribution(
    group: GroupId,
    sender: ProtocolAddress,
    message: Uint8Array,
    options: GroupWriteOptions<ProcessedDistribution> = {},
  ): Promise<ProcessedDistribution> {
    assertGroupId(group);
    assertAddress(sender);
    const decoded = decodeSenderKeyDistributionMessage(message, this.format);
    const key = this.records.remoteKey(group, sender);
    return this.serialized(key, () =>
      this.withRetries(key, async () => {
        await this.checkMembership(group, sender, 'distribution');
        const loaded = await this.loadRemote(key);
        const state: RemoteSenderKey = {
          distributionId: decoded.distributionId ?? NO_DISTRIBUTION_ID,
          chainId: decoded.chainId,
          signingKey: decoded.signingKey,
          firstIteration: decoded.iteration,
          chainKey: { key: decoded.chainKey, index: decoded.iteration },
          skipped: new Map(),
        };
        const { record, newChain } = addState(
          loaded.record ?? { format: this.format, states: [] },
          encodeRemoteSenderKey(state),
        );
        const result: ProcessedDistribution = {
          format: this.format,
          distributionId: decoded.distributionId && distributionIdToString(decoded.distributionId),
          chainId: decoded.chainId,
          iteration: decoded.iteration,
          newChain,
        };
        const extra = options.alsoWrite?.(result) ?? [];
        // A repeated distribution message leaves the record as it was: no write of our own.
        if (newChain || !sameStates(record, loaded.record)) {
          await this.commitRemote(key, record, loaded.version, extra);
        } else if (extra.length > 0) {
          await this.commitExtra(key, loaded.version, extra);
        }
        return result;
      }),
    );
  }

  /**
   * Verifies and decrypts a member device's group message. Refusals change nothing:
   * `ERR_NOT_GROUP_MEMBER` (policy), `ERR_SENDER_KEY_NOT_FOUND` (no distribution message for
   * its chain, or the message predates the one we got), `ERR_INVALID_SIGNATURE`,
   * `ERR_DUPLICATE_MESSAGE`, `ERR_MESSAGE_GAP_TOO_LARGE`, `ERR_DECRYPTION_FAILED`, and the
   * decoder's `ERR_INVALID_MESSAGE` family.
   */
  async decrypt(
    group: GroupId,
    sender: ProtocolAddress,
    message: Uint8Array,
    options: GroupWriteOptions<GroupDecryptResult> = {},
  ): Promise<GroupDecryptResult> {
    assertGroupId(group);
    assertAddress(sender);
    const decoded = decodeSenderKeyMessage(message, this.format);
    const key = this.records.remoteKey(group, sender);
    return this.serialized(key, () =>
      this.withRetries(key, async () => {
        await this.checkMembership(group, sender, 'message');
        const loaded = await this.loadRemote(key);
        const distributionId = decoded.distributionId ?? NO_DISTRIBUTION_ID;
        const index = loaded.record ? findStateIndex(loaded.record, distributionId, decoded.chainId) : -1;
        if (!loaded.record || index < 0) {
          throw new ParleyError(
            'ERR_SENDER_KEY_NOT_FOUND',
            'no sender key for this group message; the sender must (re)send its distribution message',
            { deviceId: sender.deviceId, chainId: decoded.chainId, iteration: decoded.iteration },
          );
        }
        const state = decodeRemoteSenderKey(loaded.record.states[index]!);
        const plaintext = decryptWithSenderKey(this.crypto, state, decoded);
        const record = replaceState(loaded.record, index, encodeRemoteSenderKey(state));
        const result: GroupDecryptResult = {
          plaintext,
          format: this.format,
          distributionId: decoded.distributionId && distributionIdToString(decoded.distributionId),
          chainId: decoded.chainId,
          iteration: decoded.iteration,
        };
        await this.commitRemote(key, record, loaded.version, options.alsoWrite?.(result) ?? []);
        return result;
      }),
    );
  }

  /** True when we hold at least one chain of `sender` in `group`. */
  async hasSenderKey(group: GroupId, sender: ProtocolAddress): Promise<boolean> {
    assertGroupId(group);
    assertAddress(sender);
    const loaded = await this.loadRemote(this.records.remoteKey(group, sender));
    return (loaded.record?.states.length ?? 0) > 0;
  }

  // ── Forgetting ─────────────────────────────────────────────────────────────────────

  /** Deletes the chains of one member device in `group`. */
  async forgetSender(group: GroupId, sender: ProtocolAddress): Promise<void> {
    assertGroupId(group);
    assertAddress(sender);
    const key = this.records.remoteKey(group, sender);
    await this.serialized(key, async () => {
      this.remoteCache.delete(key);
      await this.records.store.commit([this.records.delete(key)]);
    });
  }

  /** Deletes the chains of every device of `name` in `group` (one commit): for a removed member. */
  async forgetMember(group: GroupId, name: string): Promise<void> {
    assertGroupId(group);
    assertAddress({ name, deviceId: 1 });
    await this.deleteUnder(this.records.memberPrefix(group, name));
  }

  /** Deletes every sender-key record of `group` — ours and every member's — in one commit. */
  async deleteGroup(group: GroupId): Promise<void> {
    assertGroupId(group);
    await this.deleteUnder(this.records.groupPrefix(group));
  }

  /**
   * Drops what this instance caches about `group` (for callers that delete its records in the
   * store themselves, e.g. with `deletionWrites` in their own commit).
   */
  forgetCached(group: GroupId): void {
    const prefix = this.records.groupPrefix(group);
    for (const cache of [this.localCache, this.remoteCache] as Map<string, unknown>[]) {
      for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
    }
  }

  /**
   * The deletes of every record of `group` (or of one member of it), for a caller that commits
   * them together with its own writes (a member list, an erasure). Call `forgetCached` after.
   */
  async deletionWrites(group: GroupId, name?: string): Promise<WriteOperation[]> {
    assertGroupId(group);
    if (name !== undefined) assertAddress({ name, deviceId: 1 });
    const prefix =
      name === undefined ? this.records.groupPrefix(group) : this.records.memberPrefix(group, name);
    return (await this.records.keysUnder(prefix)).map((key) => this.records.delete(key));
  }

  private async deleteUnder(prefix: string): Promise<void> {
    const keys = await this.records.keysUnder(prefix);
    for (const key of keys) {
      this.localCache.delete(key);
      this.remoteCache.delete(key);
    }
    if (keys.length > 0) await this.records.store.commit(keys.map((key) => this.records.delete(key)));
  }

  // ── Helpers ────────────────────────────────────────────────────────────────────────

  private distributionOf(key: LocalSenderKey): GroupDistribution {
    return {
      body: encodeSenderKeyDistributionMessage({
        format: key.format,
        distributionId: key.distributionId,
        chainId: key.chainId,
        iteration: key.chainKey.index,
        chainKey: key.chainKey.key,
        signingKey: key.signingKey.publicKey,
      }),
      createdAt: key.createdAt,
      ...chainOf(key, key.chainKey.index),
    };
  }

  private async checkMembership(
    group: GroupId,
    sender: ProtocolAddress,
    purpose: 'distribution' | 'message',
  ): Promise<void> {
    const member = await this.membership.isMember({ group, sender, purpose });
    if (member !== true) {
      throw new ParleyError('ERR_NOT_GROUP_MEMBER', 'the sender is not a member of this group', {
        deviceId: sender.deviceId,
        purpose,
        policy: this.membership.name,
      });
    }
  }

  private async loadLocal(key: string): Promise<LoadedLocal> {
    const cached = this.localCache.get(key);
    if (cached) return cached;
    const read = await this.records.read(key);
    const loaded = {
      key: read.bytes ? decodeLocalSenderKey(this.ctx, read.bytes) : undefined,
      version: read.version,
    };
    if (loaded.key && loaded.key.format !== this.format) throw formatMismatch(loaded.key.format, this.format);
    return loaded;
  }

  private async loadRemote(key: string): Promise<LoadedRemote> {
    const cached = this.remoteCache.get(key);
    if (cached) return cached;
    const read: VersionedRecord = await this.records.read(key);
    const record = read.bytes ? decodeRemoteSenderKeyRecord(read.bytes) : undefined;
    if (record && record.format !== this.format) throw formatMismatch(record.format, this.format);
    return { record, version: read.version };
  }

  private async commitLocal(
    key: string,
    value: LocalSenderKey,
    version: number,
    extra: readonly WriteOperation[],
  ): Promise<void> {
    const result = await this.records.store.commit(
      [this.records.put(key, encodeLocalSenderKey(value)), ...extra],
      {
        expectVersions: [{ namespace: 'sessions', key, version }],
      },
    );
    remember(
      this.localCache,
      key,
      { key: value, version: writtenVersion(result.versions, key) },
      this.cacheSize,
    );
  }

  private async commitRemote(
    key: string,
    record: RemoteSenderKeyRecord,
    version: number,
    extra: readonly WriteOperation[],
  ): Promise<void> {
    const result = await this.records.store.commit(
      [this.records.put(key, encodeRemoteSenderKeyRecord(record)), ...extra],
      { expectVersions: [{ namespace: 'sessions', key, version }] },
    );
    remember(
      this.remoteCache,
      key,
      { record, version: writtenVersion(result.versions, key) },
      this.cacheSize,
    );
  }

  /** The caller's writes alone, on condition that the record they depend on is unchanged. */
  private async commitExtra(key: string, version: number, extra: readonly WriteOperation[]): Promise<void> {
    await this.records.store.commit(extra, {
      expectVersions: [{ namespace: 'sessions', key, version }],
    });
  }

  /**
   * Re-runs an operation from fresh reads when another writer committed first; a failure
   * computed from a cached record is retried once from the store before it counts (the store
   * may have moved on without this instance).
   */
  private async withRetries<T>(key: string, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const cached = this.localCache.has(key) || this.remoteCache.has(key);
      try {
        return await operation();
      } catch (error) {
        this.localCache.delete(key);
        this.remoteCache.delete(key);
        const retry = isParleyError(error, 'ERR_STORE_CONFLICT') || cached;
        if (!retry || attempt >= MAX_COMMIT_ATTEMPTS) throw error;
      }
    }
  }

  /** Runs operations on one record one after another (per instance, not process-global). */
  private serialized<T>(key: string, operation: () => Promise<T>): Promise<T> {
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

function chainOf(key: LocalSenderKey, iteration: number): SenderKeyChain {
  return {
    format: key.format,
    distributionId: key.distributionId && distributionIdToString(key.distributionId),
    chainId: key.chainId,
    iteration,
  };
}

function writtenVersion(
  versions: readonly { readonly namespace: string; readonly key: string; readonly version: number }[],
  key: string,
): number {
  for (const written of versions)
    if (written.namespace === 'sessions' && written.key === key) return written.version;
  throw new ParleyError('ERR_STORE_FAILURE', 'the store did not report the version of a record it wrote');
}

function sameStates(a: RemoteSenderKeyRecord, b: RemoteSenderKeyRecord | undefined): boolean {
  if (!b || a.states.length !== b.states.length) return false;
  return a.states.every((state, i) => bytesEqual(state, b.states[i]!));
}

function formatMismatch(stored: SenderKeyFormat, expected: SenderKeyFormat): ParleyError {
  return new ParleyError(
    'ERR_INVALID_RECORD',
    `sender-key record of the ${stored} format read by GroupSessions of the ${expected} format`,
    { record: 'sender key', format: stored, expected },
  );
}
