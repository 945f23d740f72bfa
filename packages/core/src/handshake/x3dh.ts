import { bytesEqual, concatBytes, wipe } from '../bytes.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { agree, generateKeyPair, type KeyPair } from '../keys/curve.js';
import { ratchetRootKey } from '../ratchet/root-key.js';
import type { PendingPreKey, SessionState } from '../ratchet/session-state.js';
import { SkippedKeys } from '../ratchet/skipped-keys.js';
import { initialPqRatchetState, type PqRatchetState, type SpqrMode } from '../spqr/pq-ratchet.js';

/** X3DH spec 2.2: 32 0xFF bytes ahead of the DH outputs (the curve's "F"). */
const DISCONTINUITY = new Uint8Array(32).fill(0xff);
const INFO_V3 = new TextEncoder().encode('WhisperText');
const INFO_V4 = new TextEncoder().encode('WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024');

export interface HandshakeContext {
  readonly crypto: CryptoProvider;
  readonly random: RandomSource;
}

export interface InitiatorParameters {
  readonly version: 3 | 4;
  readonly localIdentity: KeyPair;
  readonly localRegistrationId: number;
  readonly localBaseKey: KeyPair;
  readonly remoteIdentityKey: Uint8Array;
  readonly remoteRegistrationId: number;
  readonly remoteSignedPreKey: Uint8Array;
  readonly remoteSignedPreKeyId: number;
  readonly remoteOneTimePreKey?: Uint8Array | undefined;
  readonly remoteOneTimePreKeyId?: number | undefined;
  /** v4 only: the Kyber encapsulation done by the caller against the bundle's Kyber prekey. */
  readonly kyber?: {
    readonly preKeyId: number;
    readonly ciphertext: Uint8Array;
    readonly sharedSecret: Uint8Array;
  };
  readonly now: number;
  /** SPQR for a v4 session (ignored for v3). Default 'off'. */
  readonly spqr?: SpqrMode;
}

export interface ResponderParameters {
  readonly version: 3 | 4;
  readonly localIdentity: KeyPair;
  readonly localRegistrationId: number;
  readonly localSignedPreKey: KeyPair;
  readonly localOneTimePreKey?: KeyPair | undefined;
  readonly remoteIdentityKey: Uint8Array;
  readonly remoteRegistrationId: number;
  readonly remoteBaseKey: Uint8Array;
  /** v4 only: the decapsulated Kyber shared secret. */
  readonly kyberSharedSecret?: Uint8Array | undefined;
  /** SPQR for a v4 session (ignored for v3). Default 'off'. */
  readonly spqr?: SpqrMode;
}

/**
 * Root key and first chain key from the X3DH/PQXDH master secret; for v4 also the SPQR
 * authentication key, bytes 64–96 of the same derivation (libsignal ≥ 0.74 always derives
 * 96 bytes; the first 64 are what a 64-byte derivation gives).
 */
export function deriveInitialSecrets(
  crypto: CryptoProvider,
  version: 3 | 4,
  master: Uint8Array,
): { rootKey: Uint8Array; chainKey: Uint8Array; spqrAuthKey?: Uint8Array } {
  if (version === 3) {
    const okm = crypto.hkdfSha256(master, undefined, INFO_V3, 64);
    return { rootKey: okm.slice(0, 32), chainKey: okm.slice(32, 64) };
  }
  const okm = crypto.hkdfSha256(master, undefined, INFO_V4, 96);
  return { rootKey: okm.slice(0, 32), chainKey: okm.slice(32, 64), spqrAuthKey: okm.slice(64, 96) };
}

/** The SPQR state a new session starts with, or none (v3, or SPQR off). */
function initialSpqr(
  ctx: HandshakeContext,
  mode: SpqrMode | undefined,
  authKey: Uint8Array | undefined,
  initiator: boolean,
  selfSession: boolean,
): PqRatchetState | undefined {
  if (!authKey || mode === undefined || mode === 'off') return undefined;
  return initialPqRatchetState(ctx, { mode, authKey, initiator, selfSession });
}

/**
 * Alice's side (X3DH spec 3.3, libsignal `initialize_alice_session`). The responder's
 * signed prekey doubles as its first ratchet key, so Alice immediately takes one DH
 * ratchet step to open her sending chain.
 */
export function initiateSession(ctx: HandshakeContext, params: InitiatorParameters): SessionState {
  const { crypto } = ctx;
  const agreements = [
    agree(crypto, params.localIdentity.privateKey, params.remoteSignedPreKey),
    agree(crypto, params.localBaseKey.privateKey, params.remoteIdentityKey),
    agree(crypto, params.localBaseKey.privateKey, params.remoteSignedPreKey),
  ];
  if (params.remoteOneTimePreKey)
    agreements.push(agree(crypto, params.localBaseKey.privateKey, params.remoteOneTimePreKey));
  const kem = params.version === 4 && params.kyber ? [params.kyber.sharedSecret] : [];
  const master = concatBytes(DISCONTINUITY, ...agreements, ...kem);
  const derived = deriveInitialSecrets(crypto, params.version, master);
  // Our own intermediate secrets only: the KEM secret is the caller's.
  wipe(master, ...agreements);

  const sendingRatchet = generateKeyPair(ctx);
  const sending = ratchetRootKey(
    crypto,
    derived.rootKey,
    agree(crypto, sendingRatchet.privateKey, params.remoteSignedPreKey),
  );
  const pendingPreKey: PendingPreKey = {
    preKeyId: params.remoteOneTimePreKey ? params.remoteOneTimePreKeyId : undefined,
    signedPreKeyId: params.remoteSignedPreKeyId,
    baseKey: params.localBaseKey.publicKey,
    kyberPreKeyId: params.version === 4 ? params.kyber?.preKeyId : undefined,
    kyberCiphertext: params.version === 4 ? params.kyber?.ciphertext : undefined,
    createdAt: params.now,
  };
  return {
    version: params.version,
    baseKey: params.localBaseKey.publicKey,
    localIdentityKey: params.localIdentity.publicKey,
    remoteIdentityKey: params.remoteIdentityKey,
    localRegistrationId: params.localRegistrationId,
    remoteRegistrationId: params.remoteRegistrationId,
    rootKey: sending.rootKey,
    previousCounter: 0,
    sender: { ratchetKeyPair: sendingRatchet, chainKey: sending.chainKey },
    receivers: [
      {
        ratchetKey: params.remoteSignedPreKey,
        chainKey: { key: derived.chainKey, index: 0 },
        skipped: SkippedKeys.empty(),
      },
    ],
    pendingPreKey,
    spqr: initialSpqr(
      ctx,
      params.spqr,
      derived.spqrAuthKey,
      true,
      bytesEqual(params.localIdentity.publicKey, params.remoteIdentityKey),
    ),
  };
}

/** Bob's side (libsignal `initialize_bob_session`): his signed prekey is his first ratchet key. */
export function respondSession(ctx: HandshakeContext, params: ResponderParameters): SessionState {
  const { crypto } = ctx;
  const agreements = [
    agree(crypto, params.localSignedPreKey.privateKey, params.remoteIdentityKey),
    agree(crypto, params.localIdentity.privateKey, params.remoteBaseKey),
    agree(crypto, params.localSignedPreKey.privateKey, params.remoteBaseKey),
  ];
  if (params.localOneTimePreKey)
    agreements.push(agree(crypto, params.localOneTimePreKey.privateKey, params.remoteBaseKey));
  const kem = params.version === 4 && params.kyberSharedSecret ? [params.kyberSharedSecret] : [];
  const master = concatBytes(DISCONTINUITY, ...agreements, ...kem);
  const derived = deriveInitialSecrets(crypto, params.version, master);
  // Our own intermediate secrets only: the KEM secret is the caller's.
  wipe(master, ...agreements);
  return {
    version: params.version,
    baseKey: params.remoteBaseKey,
    localIdentityKey: params.localIdentity.publicKey,
    remoteIdentityKey: params.remoteIdentityKey,
    localRegistrationId: params.localRegistrationId,
    remoteRegistrationId: params.remoteRegistrationId,
    rootKey: derived.rootKey,
    previousCounter: 0,
    sender: {
      ratchetKeyPair: {
        publicKey: params.localSignedPreKey.publicKey.slice(),
        privateKey: params.localSignedPreKey.privateKey.slice(),
      },
      chainKey: { key: derived.chainKey, index: 0 },
    },
    receivers: [],
    spqr: initialSpqr(
      ctx,
      params.spqr,
      derived.spqrAuthKey,
      false,
      bytesEqual(params.localIdentity.publicKey, params.remoteIdentityKey),
    ),
  };
}
