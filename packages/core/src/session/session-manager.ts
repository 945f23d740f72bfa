import { defaultCrypto } from '../crypto/default.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import { pooledRandom } from '../crypto/random-pool.js';
import { ParleyError } from '../errors.js';
import type { PreKeyBundle } from '../keys/prekeys.js';
import { inspectCustom } from '../redaction.js';
import type { SpqrMode } from '../spqr/pq-ratchet.js';
import { type Clock, type Store, systemClock, type WriteOperation } from '../storage/contract.js';
import { assertAddress, type ProtocolAddress } from './address.js';
import { CommitRetry, type CommitRetryOptions } from './commit-retry.js';
import {
  createBundle,
  generateKyberPreKeyFor,
  generateOneTimePreKeys,
  generateSignedPreKeyFor,
  initializeIdentity,
  kyberPreKeyRemovals,
  removePreKey,
} from './local-keys.js';
import { checkSessionManagerOptions } from './options-check.js';
import { ProtocolStore } from './protocol-store.js';
import type { RecordSealer } from './record-sealer.js';
import { SessionBuilder } from './session-builder.js';
import { hasSession, SessionCipher } from './session-cipher.js';
import { attachSessionContext, SessionContext } from './session-context.js';
import { type ArchiveSessionOptions, archiveSession, currentRatchetKeyMatches } from './session-recovery.js';
import { strictTrustOnFirstUse, type TrustPolicy } from './trust.js';
import type {
  CiphertextMessage,
  DecryptOptions,
  DecryptResult,
  EncryptOptions,
  LocalIdentity,
  ProcessBundleOptions,
  ProcessBundleResult,
} from './types.js';
import { UnverifiedWorkBudget, type UnverifiedWorkLimits } from './unverified-work.js';

export type { ArchiveSessionOptions } from './session-recovery.js';
export {
  type CiphertextMessage,
  type DecryptOptions,
  type DecryptResult,
  type EncryptOptions,
  type IdentityChange,
  type LocalIdentity,
  MessageType,
  type ProcessBundleOptions,
  type ProcessBundleResult,
} from './types.js';

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
  /**
   * How operations re-run after losing an optimistic commit to another writer (another
   * instance over the same store): jittered exponential waits from `random`, for at most
   * `budgetMs` by `clock`. See `CommitRetryOptions`.
   */
  readonly retry?: CommitRetryOptions;
  /**
   * Limits on the key derivation that messages failing verification may cause (a forged
   * message claiming a 25 000-message gap costs 25 000 chain steps before its MAC fails).
   * Pass one `UnverifiedWorkBudget` to several managers to bound the total across them.
   */
  readonly unverifiedWork?: UnverifiedWorkBudget | UnverifiedWorkLimits;
  /**
   * The sparse post-quantum ratchet (SPQR, the "triple ratchet") in new PQXDH (v4) sessions,
   * negotiated as libsignal does:
   * - `offer` (default): sessions start with SPQR and fall back to none when the peer answers
   *   without it — talks to libsignal-client 0.75 to 0.90 with or without SPQR, and to 0.92 and
   *   later (which require it).
   * - `require`: a peer without SPQR is refused (`ERR_PEER_LACKS_SPQR`).
   * - `off`: no SPQR. As responder, a first message from a peer that requires SPQR is refused
   *   with `ERR_PEER_REQUIRES_SPQR` and nothing is stored. As initiator nothing in a bundle says
   *   the peer requires SPQR: libsignal 0.92 and later drop every message silently ("post-quantum
   *   ratchet error: Minimum version"), and all this side sees is that no reply ever comes (the
   *   session stays unacknowledged until `ERR_SESSION_EXPIRED`). A client that answers with a
   *   decryption-error message about such a session gets `ERR_PEER_REQUIRES_SPQR` from
   *   `archiveSession({ ifRatchetKey })`, and the session is left as it is.
   * v3 (X3DH) sessions never use SPQR. Existing sessions keep what they negotiated.
   */
  readonly spqr?: SpqrMode;
}

const DEFAULT_CACHE_SIZE = 1_024;

function checkSpqrMode(mode: unknown): SpqrMode {
  if (mode !== 'off' && mode !== 'offer' && mode !== 'require') {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"spqr" expected "off", "offer" or "require"');
  }
  return mode;
}

/**
 * Sessions of one local identity with many remote devices. The local keys live in
 * `local-keys.ts`, building sessions (bundles, incoming prekey messages) in `SessionBuilder`,
 * running them (encrypt, decrypt) in `SessionCipher` — the split of libsignal's `session.rs`
 * and `session_cipher.rs`. This class is the address-taking front of all three. Every
 * operation reads what it needs, works on decoded copies, and writes everything it changed
 * in one atomic commit that expects the versions it read; operations on one address are
 * serialized in this instance.
 */
export class SessionManager {
  readonly records: ProtocolStore;
  private readonly ctx: SessionContext;

  constructor(options: SessionManagerOptions) {
    checkSessionManagerOptions(options);
    this.records = new ProtocolStore(options.store, options.scope ?? 'default', options.sealer);
    // Drawn from a pool filled in 4 KiB blocks: the same stream, far fewer CSPRNG calls.
    const random = pooledRandom(options.random ?? defaultRandom);
    const clock = options.clock ?? systemClock;
    this.ctx = new SessionContext({
      crypto: options.crypto ?? defaultCrypto(),
      random,
      clock,
      retry: new CommitRetry(clock, random, options.retry),
      unverifiedWork:
        options.unverifiedWork instanceof UnverifiedWorkBudget
          ? options.unverifiedWork
          : new UnverifiedWorkBudget(clock, options.unverifiedWork),
      trust: options.trust ?? strictTrustOnFirstUse,
      records: this.records,
      minimumVersion: options.minimumVersion ?? 3,
      cacheSize: options.cacheSize ?? DEFAULT_CACHE_SIZE,
      spqr: checkSpqrMode(options.spqr ?? 'offer'),
    });
    attachSessionContext(this, this.ctx);
  }

  /** A summary without keys, records or addresses (see redaction.ts). */
  toJSON(): Record<string, string | number | boolean> {
    return {
      type: 'SessionManager',
      trust: this.ctx.trust.name,
      spqr: this.ctx.spqr,
      cachedAddresses: this.ctx.cachedAddresses,
    };
  }

  [inspectCustom](): string {
    return `SessionManager ${JSON.stringify(this.toJSON())}`;
  }

  // ── Local keys ────────────────────────────────────────────────────────────────────

  /** Creates the local identity (or imports the given one) unless one exists; returns it. */
  initializeIdentity(given?: Partial<LocalIdentity>): Promise<LocalIdentity> {
    return initializeIdentity(this.ctx, given);
  }

  localIdentity(): Promise<LocalIdentity> {
    return this.ctx.localIdentity();
  }

  /** Generates and stores `count` one-time prekeys with ids `startId…`; returns their public halves. */
  generateOneTimePreKeys(startId: number, count: number): Promise<{ id: number; publicKey: Uint8Array }[]> {
    return generateOneTimePreKeys(this.ctx, startId, count);
  }

  /** Generates, signs with the identity key and stores a signed prekey. */
  generateSignedPreKey(id: number): Promise<{ id: number; publicKey: Uint8Array; signature: Uint8Array }> {
    return generateSignedPreKeyFor(this.ctx, id);
  }

  /**
   * Generates, signs and stores a Kyber prekey. A last-resort key serves many sessions (each
   * base key once); a one-time key is consumed by the session that uses it.
   */
  generateKyberPreKey(
    id: number,
    options: { lastResort?: boolean } = {},
  ): Promise<{ id: number; publicKey: Uint8Array; signature: Uint8Array; lastResort: boolean }> {
    return generateKyberPreKeyFor(this.ctx, id, options);
  }

  /** Removes a prekey; for a Kyber prekey also the base keys it has already served. */
  removePreKey(kind: 'one-time' | 'signed' | 'kyber', id: number): Promise<void> {
    return removePreKey(this.ctx, kind, id);
  }

  /** The writes that remove a Kyber prekey and the base-key markers of the sessions it served. */
  kyberPreKeyRemovals(id: number): Promise<WriteOperation[]> {
    return kyberPreKeyRemovals(this.ctx, id);
  }

  /** A bundle for others to start sessions with; one-time and Kyber prekeys are optional. */
  createBundle(options: {
    deviceId: number;
    signedPreKeyId: number;
    preKeyId?: number;
    kyberPreKeyId?: number;
  }): Promise<PreKeyBundle> {
    return createBundle(this.ctx, options);
  }

  // ── Sessions ──────────────────────────────────────────────────────────────────────

  hasSession(address: ProtocolAddress): Promise<boolean> {
    return hasSession(this.ctx, address);
  }

  /**
   * Drops what this instance keeps in memory about a name (decoded sessions of all its
   * devices, its identity key) — for callers that delete those records in the store
   * themselves, such as an erasure. Stored records are untouched.
   */
  forgetName(name: string): void {
    this.ctx.forgetName(name);
  }

  /** Deletes the session record (current and archived states) of one device. */
  async deleteSession(address: ProtocolAddress): Promise<void> {
    assertAddress(address);
    await this.ctx.serialized(address, async () => {
      this.ctx.forget(address);
      await this.records.store.commit([this.records.delete('sessions', this.records.sessionKey(address))]);
    });
  }

  /**
   * Whether the current session with a device sends on this ratchet key (libsignal's
   * `currentRatchetKeyMatches`): the check a decryption-error message from that device calls for.
   */
  currentRatchetKeyMatches(address: ProtocolAddress, ratchetKey: Uint8Array): Promise<boolean> {
    return currentRatchetKeyMatches(this.ctx, address, ratchetKey);
  }

  /**
   * Archives the current session with a device, so that the next message to it starts a fresh
   * one from a new bundle; archived states still decrypt late messages. With `ifRatchetKey`
   * (the ratchet key a decryption-error message names) only when the current session sends on
   * that key: an error about an older or made-up key changes nothing. With SPQR off, an error
   * naming an unanswered v4 session without SPQR is `ERR_PEER_REQUIRES_SPQR` (nothing archived).
   * `alsoWrite` is committed in the same mutation. True when a session was archived.
   */
  archiveSession(address: ProtocolAddress, options: ArchiveSessionOptions = {}): Promise<boolean> {
    return archiveSession(this.ctx, address, options);
  }

  /**
   * Starts a session from a prekey bundle (X3DH as initiator); the old one is archived. With
   * `ifNoSession`, only when the address has none (decided in the commit); `alsoWrite` commits
   * with the new session.
   */
  processBundle(
    address: ProtocolAddress,
    bundle: PreKeyBundle,
    options?: ProcessBundleOptions,
  ): Promise<ProcessBundleResult> {
    assertAddress(address);
    return new SessionBuilder(this, address).processPreKeyBundle(bundle, options);
  }

  /**
   * Encrypts for one device: a PreKeySignalMessage until the first reply, then SignalMessages.
   * `options.alsoWrite` adds writes computed from the message to the same atomic commit.
   */
  encrypt(
    address: ProtocolAddress,
    plaintext: Uint8Array,
    options?: EncryptOptions,
  ): Promise<CiphertextMessage> {
    assertAddress(address);
    return new SessionCipher(this, address).encrypt(plaintext, options);
  }

  /** Decrypts a message of either type from one device. */
  decrypt(
    address: ProtocolAddress,
    message: CiphertextMessage,
    options: DecryptOptions = {},
  ): Promise<DecryptResult> {
    assertAddress(address);
    return new SessionCipher(this, address).decrypt(message, options);
  }
}
