import { ByteReader, ByteWriter } from '../binary.js';
import { bytesEqual, toHex } from '../bytes.js';
import { defaultCrypto } from '../crypto/default.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { isParleyError, ParleyError } from '../errors.js';
import { initiateSession, respondSession } from '../handshake/x3dh.js';
import { generateKeyPair, type KeyPair } from '../keys/curve.js';
import { generateRegistrationId } from '../keys/identity.js';
import {
  decodeKyberPreKeyRecord,
  encodeKyberPreKeyRecord,
  generateKyberPreKey,
} from '../keys/kyber-prekeys.js';
import {
  generatePreKeys,
  generateSignedPreKey,
  type PreKeyBundle,
  verifyPreKeyBundle,
} from '../keys/prekeys.js';
import {
  decodeOneTimePreKeyRecord as decodeOneTimePreKey,
  decodeSignedPreKeyRecord as decodeSignedPreKey,
  encodeOneTimePreKeyRecord as encodeOneTimePreKey,
  encodeSignedPreKeyRecord as encodeSignedPreKey,
} from '../keys/records.js';
import { kyberDecapsulate, kyberEncapsulate } from '../kyber/kyber1024.js';
import { ratchetDecrypt, ratchetEncrypt } from '../ratchet/double-ratchet.js';
import { MAX_UNACKNOWLEDGED_SESSION_AGE_MS } from '../ratchet/limits.js';
import {
  decodeSessionRecord,
  decodeSessionState,
  emptyRecord,
  encodeSessionRecord,
  promoteState,
  type SessionRecord,
  stateMatchesBaseKey,
} from '../ratchet/session-record.js';
import type { SessionState } from '../ratchet/session-state.js';
import { inspectCustom } from '../redaction.js';
import {
  type Clock,
  type ExpectedVersion,
  type Store,
  systemClock,
  type WriteOperation,
} from '../storage/contract.js';
import { decodePreKeySignalMessage, encodePreKeySignalMessage } from '../wire/prekey-signal-message.js';
import { decodeSignalMessage } from '../wire/signal-message.js';
import { assertAddress, type ProtocolAddress } from './address.js';
import { checkSessionManagerOptions } from './options-check.js';
import { ProtocolStore, type VersionedBytes } from './protocol-store.js';
import type { RecordSealer } from './record-sealer.js';
import { strictTrustOnFirstUse, type TrustDirection, type TrustPolicy } from './trust.js';

/** libsignal's message type numbers (the JS libraries use 1 for whisper). */
export const MessageType = { Whisper: 2, PreKey: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface CiphertextMessage {
  readonly type: MessageType;
  readonly body: Uint8Array;
}

export interface LocalIdentity {
  readonly identityKeyPair: KeyPair;
  readonly registrationId: number;
}

/** Reported when a trust policy accepted an identity other than the stored one. */
export interface IdentityChange {
  readonly address: ProtocolAddress;
  readonly previousIdentityKey: Uint8Array;
  readonly identityKey: Uint8Array;
}

export interface DecryptResult {
  readonly plaintext: Uint8Array;
  readonly messageType: MessageType;
  readonly sessionVersion: number;
  /** True when this message created a new session (a first prekey message). */
  readonly newSession: boolean;
  readonly identityChange?: IdentityChange | undefined;
}

export interface ProcessBundleResult {
  readonly sessionVersion: number;
  readonly identityChange?: IdentityChange | undefined;
}

export interface DecryptOptions {
  /**
   * More writes committed atomically with the session update (e.g. the gateway's inbound
   * queue entry), computed from the plaintext once it is known.
   */
  readonly alsoWrite?: (result: DecryptResult) => readonly WriteOperation[];
}

export interface SessionManagerOptions {
  readonly store: Store;
  /** Default: node:crypto on Node, the portable (noble) provider elsewhere. */
  readonly crypto?: CryptoProvider;
  readonly random?: RandomSource;
  readonly clock?: Clock;
  /** Separates the records of several local identities in one store. Default "default". */
  readonly scope?: string;
  readonly trust?: TrustPolicy;
  readonly sealer?: RecordSealer;
  /**
   * Lowest protocol version this manager starts sessions with. 3 (default): PQXDH (v4)
   * when the bundle carries a signed Kyber prekey, X3DH (v3) otherwise. 4: a bundle without
   * a Kyber prekey is refused with `ERR_PROTOCOL_VERSION_REFUSED`. As responder both are
   * always accepted.
   */
  readonly minimumVersion?: 3 | 4;
  /**
   * How many addresses' decoded session records (and remote identities) this instance keeps
   * between operations, saving a read and a decode each time. Entries are checked by version
   * on every commit, so a stale one only costs a retry. 0 disables the cache. Default 1 024.
   */
  readonly cacheSize?: number;
}

const DEFAULT_CACHE_SIZE = 1_024;

/** A session record as decoded for one operation, with the version to expect on commit. */
interface LoadedSession {
  readonly record: SessionRecord | undefined;
  readonly version: number;
}

/** Inserts at the young end of an insertion-ordered Map, evicting the oldest beyond `limit`. */
function remember<V>(cache: Map<string, V>, key: string, value: V, limit: number): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > limit) cache.delete(cache.keys().next().value!);
}

/** Optimistic commits retry this often when another writer changed the same records. */
const MAX_COMMIT_ATTEMPTS = 8;

const LOCAL_IDENTITY_FORMAT = 1;

/**
 * Sessions of one local identity with many remote devices, in the spirit of libsignal's
 * SessionBuilder and SessionCipher. Every operation reads what it needs, works on decoded
 * copies, and writes everything it changed in one atomic commit that expects the versions
 * it read; operations on one address are serialized in this instance.
 */
export class SessionManager {
  readonly records: ProtocolStore;
  private readonly crypto: CryptoProvider;
  private readonly random: RandomSource;
  private readonly ctx: { readonly crypto: CryptoProvider; readonly random: RandomSource };
  private readonly clock: Clock;
  private readonly trust: TrustPolicy;
  private readonly minimumVersion: 3 | 4;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly cacheSize: number;
  private readonly sessionCache = new Map<string, LoadedSession>();
  private readonly identityCache = new Map<string, VersionedBytes>();
  private localIdentityCache: LocalIdentity | undefined;

  constructor(options: SessionManagerOptions) {
    checkSessionManagerOptions(options);
    this.crypto = options.crypto ?? defaultCrypto();
    this.random = options.random ?? defaultRandom;
    this.clock = options.clock ?? systemClock;
    this.trust = options.trust ?? strictTrustOnFirstUse;
    this.minimumVersion = options.minimumVersion ?? 3;
    this.cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.ctx = { crypto: this.crypto, random: this.random };
    this.records = new ProtocolStore(options.store, options.scope ?? 'default', options.sealer);
  }

  /** A summary without keys, records or addresses (see redaction.ts). */
  toJSON(): Record<string, string | number | boolean> {
    return { type: 'SessionManager', trust: this.trust.name, cachedAddresses: this.sessionCache.size };
  }

  [inspectCustom](): string {
    return `SessionManager ${JSON.stringify(this.toJSON())}`;
  }

  // ── Local keys ────────────────────────────────────────────────────────────────────

  /** Creates the local identity (or imports the given one) unless one exists; returns it. */
  async initializeIdentity(given?: Partial<LocalIdentity>): Promise<LocalIdentity> {
    const existing = await this.findLocalIdentity();
    if (existing) return existing;
    const identity: LocalIdentity = {
      identityKeyPair: given?.identityKeyPair ?? generateKeyPair(this.ctx),
      registrationId: given?.registrationId ?? generateRegistrationId(this.random),
    };
    const key = this.records.localIdentityKey();
    const bytes = new ByteWriter(80)
      .u8(LOCAL_IDENTITY_FORMAT)
      .fixed(identity.identityKeyPair.publicKey)
      .fixed(identity.identityKeyPair.privateKey)
      .u32(identity.registrationId)
      .finish();
    try {
      await this.records.store.commit([this.records.put('identities', key, bytes)], {
        expectVersions: [{ namespace: 'identities', key, version: 0 }],
      });
    } catch (error) {
      // Another instance created it first: theirs wins.
      if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
      return this.localIdentity();
    }
    this.localIdentityCache = identity;
    return identity;
  }

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

  private async findLocalIdentity(): Promise<LocalIdentity | undefined> {
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

  /** Generates and stores `count` one-time prekeys with ids `startId…`; returns their public halves. */
  async generateOneTimePreKeys(
    startId: number,
    count: number,
  ): Promise<{ id: number; publicKey: Uint8Array }[]> {
    const preKeys = generatePreKeys(this.ctx, startId, count);
    await this.records.store.commit(
      preKeys.map((preKey) =>
        this.records.put(
          'prekeys',
          this.records.preKeyKey('one-time', preKey.id),
          encodeOneTimePreKey(preKey),
        ),
      ),
    );
    return preKeys.map((preKey) => ({ id: preKey.id, publicKey: preKey.keyPair.publicKey }));
  }

  /** Generates, signs with the identity key and stores a signed prekey. */
  async generateSignedPreKey(
    id: number,
  ): Promise<{ id: number; publicKey: Uint8Array; signature: Uint8Array }> {
    const identity = await this.localIdentity();
    const signed = generateSignedPreKey(this.ctx, identity.identityKeyPair, id, this.clock.now());
    await this.records.store.commit([
      this.records.put('prekeys', this.records.preKeyKey('signed', id), encodeSignedPreKey(signed)),
    ]);
    return { id, publicKey: signed.keyPair.publicKey, signature: signed.signature };
  }

  /**
   * Generates, signs and stores a Kyber prekey. A last-resort key serves many sessions (each
   * base key once); a one-time key is consumed by the session that uses it.
   */
  async generateKyberPreKey(
    id: number,
    options: { lastResort?: boolean } = {},
  ): Promise<{ id: number; publicKey: Uint8Array; signature: Uint8Array; lastResort: boolean }> {
    const identity = await this.localIdentity();
    const preKey = generateKyberPreKey(this.ctx, identity.identityKeyPair, id, this.clock.now(), options);
    await this.records.store.commit([
      this.records.put('prekeys', this.records.preKeyKey('kyber', id), encodeKyberPreKeyRecord(preKey)),
    ]);
    return { id, publicKey: preKey.publicKey, signature: preKey.signature, lastResort: preKey.lastResort };
  }

  /** Removes a prekey; for a Kyber prekey also the base keys it has already served. */
  async removePreKey(kind: 'one-time' | 'signed' | 'kyber', id: number): Promise<void> {
    const writes =
      kind === 'kyber'
        ? await this.kyberPreKeyRemovals(id)
        : [this.records.delete('prekeys', this.records.preKeyKey(kind, id))];
    await this.records.store.commit(writes);
  }

  /** The writes that remove a Kyber prekey and the base-key markers of the sessions it served. */
  async kyberPreKeyRemovals(id: number): Promise<WriteOperation[]> {
    const writes = [this.records.delete('prekeys', this.records.preKeyKey('kyber', id))];
    const used = await this.records.store.list('meta', { prefix: this.kyberUsePrefix(id) });
    for (const marker of used) writes.push(this.records.delete('meta', marker.key));
    return writes;
  }

  private kyberUsePrefix(kyberPreKeyId: number): string {
    return `${this.records.scope}/kyber-used/${kyberPreKeyId}/`;
  }

  /** A bundle for others to start sessions with; one-time and Kyber prekeys are optional. */
  async createBundle(options: {
    deviceId: number;
    signedPreKeyId: number;
    preKeyId?: number;
    kyberPreKeyId?: number;
  }): Promise<PreKeyBundle> {
    const identity = await this.localIdentity();
    const signed = await this.records.read(
      'prekeys',
      this.records.preKeyKey('signed', options.signedPreKeyId),
    );
    if (!signed.bytes) throw preKeyNotFound('signed', options.signedPreKeyId);
    const signedPreKey = decodeSignedPreKey(signed.bytes);
    let preKey: Uint8Array | undefined;
    if (options.preKeyId !== undefined) {
      const oneTime = await this.records.read(
        'prekeys',
        this.records.preKeyKey('one-time', options.preKeyId),
      );
      if (!oneTime.bytes) throw preKeyNotFound('one-time', options.preKeyId);
      preKey = decodeOneTimePreKey(oneTime.bytes).keyPair.publicKey;
    }
    let kyber: { id: number; publicKey: Uint8Array; signature: Uint8Array } | undefined;
    if (options.kyberPreKeyId !== undefined) {
      const read = await this.records.read('prekeys', this.records.preKeyKey('kyber', options.kyberPreKeyId));
      if (!read.bytes) throw preKeyNotFound('kyber', options.kyberPreKeyId);
      kyber = decodeKyberPreKeyRecord(read.bytes);
    }
    return {
      registrationId: identity.registrationId,
      deviceId: options.deviceId,
      identityKey: identity.identityKeyPair.publicKey,
      signedPreKeyId: signedPreKey.id,
      signedPreKey: signedPreKey.keyPair.publicKey,
      signedPreKeySignature: signedPreKey.signature,
      preKeyId: preKey ? options.preKeyId : undefined,
      preKey,
      kyberPreKeyId: kyber?.id,
      kyberPreKey: kyber?.publicKey,
      kyberPreKeySignature: kyber?.signature,
    };
  }

  // ── Sessions ──────────────────────────────────────────────────────────────────────

  async hasSession(address: ProtocolAddress): Promise<boolean> {
    assertAddress(address);
    const { bytes } = await this.records.read('sessions', this.records.sessionKey(address));
    return bytes !== undefined && decodeSessionRecord(bytes).current !== undefined;
  }

  /**
   * Drops what this instance keeps in memory about a name (decoded sessions of all its
   * devices, its identity key) — for callers that delete those records in the store
   * themselves, such as an erasure. Stored records are untouched.
   */
  forgetName(name: string): void {
    const prefix = this.records.sessionPrefix(name);
    for (const key of [...this.sessionCache.keys()])
      if (key.startsWith(prefix)) this.sessionCache.delete(key);
    this.identityCache.delete(this.records.remoteIdentityKey(name));
  }

  /** Deletes the session record (current and archived states) of one device. */
  async deleteSession(address: ProtocolAddress): Promise<void> {
    assertAddress(address);
    await this.serialized(address, async () => {
      this.forget(address);
      await this.records.store.commit([this.records.delete('sessions', this.records.sessionKey(address))]);
    });
  }

  /** Starts a session from a prekey bundle (X3DH as initiator); the old one is archived. */
  processBundle(address: ProtocolAddress, bundle: PreKeyBundle): Promise<ProcessBundleResult> {
    assertAddress(address);
    return this.serialized(address, () =>
      this.withRetries(address, () => this.processBundleOnce(address, bundle)),
    );
  }

  /** Encrypts for one device: a PreKeySignalMessage until the first reply, then SignalMessages. */
  encrypt(address: ProtocolAddress, plaintext: Uint8Array): Promise<CiphertextMessage> {
    assertAddress(address);
    if (!(plaintext instanceof Uint8Array)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"plaintext" expected a Uint8Array');
    }
    return this.serialized(address, () =>
      this.withRetries(address, () => this.encryptOnce(address, plaintext)),
    );
  }

  /** Decrypts a message of either type from one device. */
  decrypt(
    address: ProtocolAddress,
    message: CiphertextMessage,
    options: DecryptOptions = {},
  ): Promise<DecryptResult> {
    assertAddress(address);
    if (!(message?.body instanceof Uint8Array)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"message.body" expected a Uint8Array');
    }
    if (message.type !== MessageType.PreKey && message.type !== MessageType.Whisper) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"message.type" expected 2 (whisper) or 3 (prekey)', {
        type: String(message.type),
      });
    }
    return this.serialized(address, () =>
      this.withRetries(address, () =>
        message.type === MessageType.PreKey
          ? this.decryptPreKeyOnce(address, message.body, options)
          : this.decryptWhisperOnce(address, message.body, options),
      ),
    );
  }

  // ── Operation bodies (each runs once per attempt, on fresh reads) ─────────────────

  private async processBundleOnce(
    address: ProtocolAddress,
    bundle: PreKeyBundle,
  ): Promise<ProcessBundleResult> {
    const identity = await this.localIdentity();
    const sessionKey = this.records.sessionKey(address);
    const identityKeyName = this.records.remoteIdentityKey(address.name);
    const { session: sessionRead, identity: remoteIdentity } = await this.load(sessionKey, identityKeyName);
    await this.checkTrust(address, bundle.identityKey, remoteIdentity.bytes, 'sending');
    // Checks both signatures (signed prekey, and Kyber prekey when present) before any
    // state is derived or written.
    verifyPreKeyBundle(this.crypto, bundle);
    const version = bundle.kyberPreKey !== undefined ? 4 : 3;
    if (version < this.minimumVersion) {
      throw new ParleyError(
        'ERR_PROTOCOL_VERSION_REFUSED',
        'the bundle has no Kyber prekey and this manager requires PQXDH (v4)',
        {
          minimumVersion: this.minimumVersion,
        },
      );
    }
    const kyber =
      version === 4
        ? { preKeyId: bundle.kyberPreKeyId!, ...kyberEncapsulate(bundle.kyberPreKey!, this.random) }
        : undefined;
    const record = sessionRead.record ?? emptyRecord();
    const state = initiateSession(this.ctx, {
      version,
      kyber,
      localIdentity: identity.identityKeyPair,
      localRegistrationId: identity.registrationId,
      localBaseKey: generateKeyPair(this.ctx),
      remoteIdentityKey: bundle.identityKey,
      remoteRegistrationId: bundle.registrationId,
      remoteSignedPreKey: bundle.signedPreKey,
      remoteSignedPreKeyId: bundle.signedPreKeyId,
      remoteOneTimePreKey: bundle.preKey,
      remoteOneTimePreKeyId: bundle.preKeyId,
      now: this.clock.now(),
    });
    promoteState(record, state);
    const writes = [this.records.put('sessions', sessionKey, encodeSessionRecord(record))];
    const identityChange = this.identityWrite(address, bundle.identityKey, remoteIdentity, writes);
    await this.commit(writes, {
      sessionKey,
      record,
      sessionVersion: sessionRead.version,
      identityKeyName,
      identity: remoteIdentity,
    });
    return { sessionVersion: state.version, identityChange };
  }

  private async encryptOnce(address: ProtocolAddress, plaintext: Uint8Array): Promise<CiphertextMessage> {
    const sessionKey = this.records.sessionKey(address);
    const identityKeyName = this.records.remoteIdentityKey(address.name);
    const { session: sessionRead, identity: remoteIdentity } = await this.load(sessionKey, identityKeyName);
    const record = sessionRead.record;
    const state = record?.current;
    if (!record || !state) throw sessionNotFound(address);
    const pending = state.pendingPreKey;
    if (pending && this.clock.now() - pending.createdAt > MAX_UNACKNOWLEDGED_SESSION_AGE_MS) {
      throw new ParleyError(
        'ERR_SESSION_EXPIRED',
        'the session was never acknowledged by the remote device and is too old to use; fetch a new bundle',
        { deviceId: address.deviceId, ageLimitMs: MAX_UNACKNOWLEDGED_SESSION_AGE_MS },
      );
    }
    await this.checkTrust(address, state.remoteIdentityKey, remoteIdentity.bytes, 'sending');
    const signalMessage = ratchetEncrypt(this.ctx, state, plaintext);
    let message: CiphertextMessage;
    if (pending) {
      message = {
        type: MessageType.PreKey,
        body: encodePreKeySignalMessage({
          version: state.version,
          registrationId: state.localRegistrationId,
          preKeyId: pending.preKeyId,
          signedPreKeyId: pending.signedPreKeyId,
          baseKey: pending.baseKey,
          identityKey: state.localIdentityKey,
          message: signalMessage,
          kyberPreKeyId: pending.kyberPreKeyId,
          kyberCiphertext: pending.kyberCiphertext,
        }),
      };
    } else {
      message = { type: MessageType.Whisper, body: signalMessage };
    }
    await this.commit([this.records.put('sessions', sessionKey, encodeSessionRecord(record))], {
      sessionKey,
      record,
      sessionVersion: sessionRead.version,
      identityKeyName,
      identity: remoteIdentity,
    });
    return message;
  }

  private async decryptPreKeyOnce(
    address: ProtocolAddress,
    body: Uint8Array,
    options: DecryptOptions,
  ): Promise<DecryptResult> {
    const preKeyMessage = decodePreKeySignalMessage(body);
    const inner = decodeSignalMessage(preKeyMessage.message);
    const sessionKey = this.records.sessionKey(address);
    const identityKeyName = this.records.remoteIdentityKey(address.name);
    const { session: sessionRead, identity: remoteIdentity } = await this.load(sessionKey, identityKeyName);
    await this.checkTrust(address, preKeyMessage.identityKey, remoteIdentity.bytes, 'receiving');
    const record = sessionRead.record ?? emptyRecord();
    const expect: ExpectedVersion[] = [];
    const writes: WriteOperation[] = [];

    // A repeated prekey message (the initiator sends them until it hears back) belongs
    // to a session we already have: find it by base key, no prekey lookup.
    const existing = findStateByBaseKey(record, preKeyMessage.version, preKeyMessage.baseKey);
    let plaintext: Uint8Array;
    let newSession = false;
    let state: SessionState;
    if (existing) {
      state = existing.state;
      if (!bytesEqual(state.remoteIdentityKey, preKeyMessage.identityKey)) {
        throw new ParleyError('ERR_INVALID_MESSAGE', 'prekey message identity does not match its session', {
          deviceId: address.deviceId,
        });
      }
      plaintext = ratchetDecrypt(this.ctx, state, inner);
      if (existing.archivedIndex === undefined) record.current = state;
      else {
        record.archived.splice(existing.archivedIndex, 1);
        promoteState(record, state);
      }
    } else {
      const identity = await this.localIdentity();
      const kyberSharedSecret =
        preKeyMessage.version === 4 ? await this.takeKyberSecret(preKeyMessage, writes, expect) : undefined;
      const signedKey = this.records.preKeyKey('signed', preKeyMessage.signedPreKeyId);
      const signed = await this.records.read('prekeys', signedKey);
      if (!signed.bytes) throw preKeyNotFound('signed', preKeyMessage.signedPreKeyId);
      let oneTimeKeyPair: KeyPair | undefined;
      // privacyresearch's library writes pre_key_id = 0 when its bundle had no one-time
      // prekey. Parley never issues id 0, so 0 can only mean "none".
      const preKeyId = preKeyMessage.preKeyId === 0 ? undefined : preKeyMessage.preKeyId;
      if (preKeyId !== undefined) {
        const oneTimeKey = this.records.preKeyKey('one-time', preKeyId);
        const oneTime = await this.records.read('prekeys', oneTimeKey);
        if (!oneTime.bytes) throw preKeyNotFound('one-time', preKeyId);
        oneTimeKeyPair = decodeOneTimePreKey(oneTime.bytes).keyPair;
        // Consumed in the same commit as the session: a concurrent second use conflicts.
        writes.push(this.records.delete('prekeys', oneTimeKey));
        expect.push({ namespace: 'prekeys', key: oneTimeKey, version: oneTime.version });
      }
      state = respondSession(this.ctx, {
        version: preKeyMessage.version,
        kyberSharedSecret,
        localIdentity: identity.identityKeyPair,
        localRegistrationId: identity.registrationId,
        localSignedPreKey: decodeSignedPreKey(signed.bytes).keyPair,
        localOneTimePreKey: oneTimeKeyPair,
        remoteIdentityKey: preKeyMessage.identityKey,
        remoteRegistrationId: preKeyMessage.registrationId,
        remoteBaseKey: preKeyMessage.baseKey,
      });
      plaintext = ratchetDecrypt(this.ctx, state, inner);
      promoteState(record, state);
      newSession = true;
    }

    writes.push(this.records.put('sessions', sessionKey, encodeSessionRecord(record)));
    const identityChange = this.identityWrite(address, preKeyMessage.identityKey, remoteIdentity, writes);
    const result: DecryptResult = {
      plaintext,
      messageType: MessageType.PreKey,
      sessionVersion: state.version,
      newSession,
      identityChange,
    };
    if (options.alsoWrite) writes.push(...options.alsoWrite(result));
    await this.commit(
      writes,
      { sessionKey, record, sessionVersion: sessionRead.version, identityKeyName, identity: remoteIdentity },
      expect,
    );
    return result;
  }

  private async decryptWhisperOnce(
    address: ProtocolAddress,
    body: Uint8Array,
    options: DecryptOptions,
  ): Promise<DecryptResult> {
    const message = decodeSignalMessage(body);
    const sessionKey = this.records.sessionKey(address);
    const identityKeyName = this.records.remoteIdentityKey(address.name);
    const { session: sessionRead, identity: remoteIdentity } = await this.load(sessionKey, identityKeyName);
    const record = sessionRead.record;
    if (!record || (!record.current && record.archived.length === 0)) throw sessionNotFound(address);

    // Current state first, then archived ones (most recent first), each decoded only when
    // it is tried. A failed attempt changes nothing.
    let firstError: unknown;
    let decrypted: { state: SessionState; plaintext: Uint8Array; archivedIndex?: number } | undefined;
    if (record.current) {
      try {
        decrypted = { state: record.current, plaintext: ratchetDecrypt(this.ctx, record.current, message) };
      } catch (error) {
        if (isParleyError(error, 'ERR_DUPLICATE_MESSAGE') || !isRecoverable(error)) throw error;
        // ratchetDecrypt changes nothing when it fails: the current state is intact.
        firstError = error;
      }
    }
    for (let i = 0; !decrypted && i < record.archived.length; i++) {
      const state = decodeSessionState(record.archived[i]!);
      try {
        decrypted = { state, plaintext: ratchetDecrypt(this.ctx, state, message), archivedIndex: i };
      } catch (error) {
        if (isParleyError(error, 'ERR_DUPLICATE_MESSAGE') || !isRecoverable(error)) throw error;
        firstError ??= error;
      }
    }
    if (!decrypted) {
      throw firstError ?? sessionNotFound(address);
    }
    if (decrypted.archivedIndex !== undefined) {
      record.archived.splice(decrypted.archivedIndex, 1);
      promoteState(record, decrypted.state);
    }
    await this.checkTrust(address, decrypted.state.remoteIdentityKey, remoteIdentity.bytes, 'receiving');
    const writes = [this.records.put('sessions', sessionKey, encodeSessionRecord(record))];
    const identityChange = this.identityWrite(
      address,
      decrypted.state.remoteIdentityKey,
      remoteIdentity,
      writes,
    );
    const result: DecryptResult = {
      plaintext: decrypted.plaintext,
      messageType: MessageType.Whisper,
      sessionVersion: decrypted.state.version,
      newSession: false,
      identityChange,
    };
    if (options.alsoWrite) writes.push(...options.alsoWrite(result));
    await this.commit(writes, {
      sessionKey,
      record,
      sessionVersion: sessionRead.version,
      identityKeyName,
      identity: remoteIdentity,
    });
    return result;
  }

  // ── Helpers ───────────────────────────────────────────────────────────────────────

  /**
   * PQXDH responder: decapsulates with the Kyber prekey the message names and adds its
   * consumption to the commit — a one-time key is deleted; a last-resort key records the
   * base key so the same base key can never use it twice (libsignal's store contract).
   */
  private async takeKyberSecret(
    message: {
      kyberPreKeyId: number | undefined;
      kyberCiphertext: Uint8Array | undefined;
      baseKey: Uint8Array;
    },
    writes: WriteOperation[],
    expect: ExpectedVersion[],
  ): Promise<Uint8Array> {
    const id = message.kyberPreKeyId;
    const ciphertext = message.kyberCiphertext;
    if (id === undefined || ciphertext === undefined) {
      throw new ParleyError(
        'ERR_INVALID_MESSAGE',
        'a v4 prekey message must carry a Kyber prekey id and ciphertext',
      );
    }
    const key = this.records.preKeyKey('kyber', id);
    const read = await this.records.read('prekeys', key);
    if (!read.bytes) throw preKeyNotFound('kyber', id);
    const preKey = decodeKyberPreKeyRecord(read.bytes);
    if (preKey.lastResort) {
      const marker = `${this.kyberUsePrefix(id)}${toHex(message.baseKey)}`;
      if (await this.records.store.get('meta', marker)) {
        throw new ParleyError(
          'ERR_KYBER_PREKEY_REUSED',
          'this base key already used this last-resort Kyber prekey',
          {
            kyberPreKeyId: id,
          },
        );
      }
      writes.push(this.records.put('meta', marker, new Uint8Array(0)));
      expect.push({ namespace: 'meta', key: marker, version: 0 });
      expect.push({ namespace: 'prekeys', key, version: read.version });
    } else {
      writes.push(this.records.delete('prekeys', key));
      expect.push({ namespace: 'prekeys', key, version: read.version });
    }
    return kyberDecapsulate(preKey.secretKey, ciphertext);
  }

  private async checkTrust(
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
  private identityWrite(
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

  /**
   * Reads the session record and the remote identity of one address — from the cache of what
   * this instance last committed, when it has it. A cached entry may be stale (another
   * instance wrote since): the commit then expects the old version, conflicts, and the retry
   * reads fresh. Nothing is ever committed on top of a record this instance did not see.
   */
  private async load(
    sessionKey: string,
    identityKeyName: string,
  ): Promise<{ session: LoadedSession; identity: VersionedBytes }> {
    const cachedSession = this.sessionCache.get(sessionKey);
    const cachedIdentity = this.identityCache.get(identityKeyName);
    if (cachedSession && cachedIdentity) return { session: cachedSession, identity: cachedIdentity };
    const [session, identity] = await Promise.all([
      cachedSession ?? this.readSession(sessionKey),
      cachedIdentity ?? this.records.read('identities', identityKeyName),
    ]);
    return { session, identity };
  }

  private async readSession(sessionKey: string): Promise<LoadedSession> {
    const read = await this.records.read('sessions', sessionKey);
    return { record: read.bytes ? decodeSessionRecord(read.bytes) : undefined, version: read.version };
  }

  /**
   * Commits an operation's writes, expecting the session and identity versions it read (plus
   * any `extra` expectations), and remembers the committed record for the next operation.
   */
  private async commit(
    writes: readonly WriteOperation[],
    read: {
      readonly sessionKey: string;
      readonly record: SessionRecord;
      readonly sessionVersion: number;
      readonly identityKeyName: string;
      readonly identity: VersionedBytes;
    },
    extra: readonly ExpectedVersion[] = [],
  ): Promise<void> {
    const result = await this.records.store.commit(writes, {
      expectVersions: [
        { namespace: 'sessions', key: read.sessionKey, version: read.sessionVersion },
        { namespace: 'identities', key: read.identityKeyName, version: read.identity.version },
        ...extra,
      ],
    });
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

  /** Forgets what this instance cached for one address (after a failure or a deletion). */
  private forget(address: ProtocolAddress): void {
    this.sessionCache.delete(this.records.sessionKey(address));
    this.identityCache.delete(this.records.remoteIdentityKey(address.name));
  }

  /** Re-runs an operation from fresh reads when another writer committed first. */
  private async withRetries<T>(address: ProtocolAddress, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const cached = this.sessionCache.has(this.records.sessionKey(address));
      try {
        return await operation();
      } catch (error) {
        // The operation may have changed the cached record before failing: drop it. And a
        // failure computed from a cached record may be the cache's fault (the store moved
        // on without us), so such a failure is retried once from the store before it counts.
        this.forget(address);
        const retry = isParleyError(error, 'ERR_STORE_CONFLICT') || cached;
        if (!retry || attempt >= MAX_COMMIT_ATTEMPTS) throw error;
      }
    }
  }

  /** Runs operations on one address one after another (per instance, not process-global). */
  private serialized<T>(address: ProtocolAddress, operation: () => Promise<T>): Promise<T> {
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

function findStateByBaseKey(
  record: SessionRecord,
  version: number,
  baseKey: Uint8Array,
): { state: SessionState; archivedIndex?: number } | undefined {
  const current = record.current;
  if (current && current.version === version && bytesEqual(current.baseKey, baseKey))
    return { state: current };
  for (let i = 0; i < record.archived.length; i++) {
    const encoded = record.archived[i]!;
    if (stateMatchesBaseKey(encoded, version, baseKey))
      return { state: decodeSessionState(encoded), archivedIndex: i };
  }
  return undefined;
}

/** Errors after which another session state may still open the message. */
function isRecoverable(error: unknown): boolean {
  return (
    isParleyError(error, 'ERR_INVALID_MAC') ||
    isParleyError(error, 'ERR_VERSION_MISMATCH') ||
    isParleyError(error, 'ERR_MESSAGE_GAP_TOO_LARGE') ||
    isParleyError(error, 'ERR_DECRYPTION_FAILED') ||
    isParleyError(error, 'ERR_INVALID_KEY')
  );
}

function sessionNotFound(address: ProtocolAddress): ParleyError {
  return new ParleyError(
    'ERR_SESSION_NOT_FOUND',
    'no session with this device; process a prekey bundle first',
    {
      deviceId: address.deviceId,
    },
  );
}

function preKeyNotFound(kind: 'signed' | 'one-time' | 'kyber', id: number): ParleyError {
  return new ParleyError(
    'ERR_PREKEY_NOT_FOUND',
    `${kind} prekey ${id} is not available (used, removed or never issued)`,
    {
      kind,
      preKeyId: id,
    },
  );
}
