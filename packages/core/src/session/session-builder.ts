import { bytesEqual, toHex } from '../bytes.js';
import { ParleyError } from '../errors.js';
import { initiateSession, respondSession } from '../handshake/x3dh.js';
import { generateKeyPair, type KeyPair } from '../keys/curve.js';
import { decodeKyberPreKeyRecord } from '../keys/kyber-prekeys.js';
import { type PreKeyBundle, verifyPreKeyBundle } from '../keys/prekeys.js';
import {
  decodeOneTimePreKeyRecord as decodeOneTimePreKey,
  decodeSignedPreKeyRecord as decodeSignedPreKey,
} from '../keys/records.js';
import { kyberDecapsulate, kyberEncapsulate } from '../kyber/kyber1024.js';
import {
  decodeSessionState,
  emptyRecord,
  encodeSessionRecord,
  promoteState,
  type SessionRecord,
  stateMatchesBaseKey,
} from '../ratchet/session-record.js';
import type { SessionState } from '../ratchet/session-state.js';
import { HANDSHAKE_COST, type WorkMeter } from '../ratchet/work-meter.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import type { DecodedPreKeySignalMessage } from '../wire/prekey-signal-message.js';
import { assertAddress, type ProtocolAddress } from './address.js';
import { kyberUsePrefix } from './local-keys.js';
import { preKeyNotFound, type SessionContext, sessionContextOf } from './session-context.js';
import type { ProcessBundleOptions, ProcessBundleResult } from './types.js';

/**
 * Building sessions, as libsignal's `session.rs`: as initiator from a prekey bundle (X3DH, or
 * PQXDH when the bundle carries a signed Kyber prekey), and as responder from an incoming
 * prekey message — finding the state a repeated prekey message belongs to, or consuming the
 * prekeys it names to create a new one. Running a session once built is `SessionCipher`'s.
 */
export class SessionBuilder {
  private readonly ctx: SessionContext;

  /** `sessions` is the `SessionManager` whose records and caches this view shares. */
  constructor(
    sessions: object,
    readonly remoteAddress: ProtocolAddress,
  ) {
    this.ctx = sessionContextOf(sessions);
  }

  /** X3DH (or PQXDH when the bundle carries a signed Kyber prekey) as initiator; the old session is archived. */
  async processPreKeyBundle(
    bundle: PreKeyBundle,
    options: ProcessBundleOptions = {},
  ): Promise<ProcessBundleResult> {
    assertAddress(this.remoteAddress);
    // The trust question comes before the signature checks (as libsignal asks it), so the
    // bundle's shape is checked here, first.
    if (typeof bundle !== 'object' || bundle === null) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"bundle" expected a prekey bundle object', {
        field: 'bundle',
      });
    }
    if (
      typeof options !== 'object' ||
      options === null ||
      (options.alsoWrite !== undefined && !Array.isArray(options.alsoWrite))
    ) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"options" expected { ifNoSession?, alsoWrite? }', {
        field: 'options',
      });
    }
    return this.ctx.run(this.remoteAddress, () =>
      processBundleOnce(this.ctx, this.remoteAddress, bundle, options),
    );
  }
}

/** One attempt of `processPreKeyBundle`, on fresh reads. */
export async function processBundleOnce(
  ctx: SessionContext,
  address: ProtocolAddress,
  bundle: PreKeyBundle,
  options: ProcessBundleOptions = {},
): Promise<ProcessBundleResult> {
  const identity = await ctx.localIdentity();
  const { sessionKey, identityKeyName, session, identity: remoteIdentity } = await ctx.load(address);
  const current = session.record?.current;
  if (options.ifNoSession && current) return { sessionVersion: current.version, established: false };
  await ctx.checkTrust(address, bundle.identityKey, remoteIdentity.bytes, 'sending');
  // Checks both signatures (signed prekey, and Kyber prekey when present) before any
  // state is derived or written.
  verifyPreKeyBundle(ctx.crypto, bundle);
  const version = bundle.kyberPreKey !== undefined ? 4 : 3;
  if (version < ctx.minimumVersion) {
    throw new ParleyError(
      'ERR_PROTOCOL_VERSION_REFUSED',
      'the bundle has no Kyber prekey and this manager requires PQXDH (v4)',
      {
        minimumVersion: ctx.minimumVersion,
      },
    );
  }
  const kyber =
    version === 4
      ? { preKeyId: bundle.kyberPreKeyId!, ...kyberEncapsulate(bundle.kyberPreKey!, ctx.random) }
      : undefined;
  const record = session.record ?? emptyRecord();
  ctx.touch(address);
  const state = initiateSession(ctx.ratchet, {
    version,
    kyber,
    localIdentity: identity.identityKeyPair,
    localRegistrationId: identity.registrationId,
    localBaseKey: generateKeyPair(ctx.ratchet),
    remoteIdentityKey: bundle.identityKey,
    remoteRegistrationId: bundle.registrationId,
    remoteSignedPreKey: bundle.signedPreKey,
    remoteSignedPreKeyId: bundle.signedPreKeyId,
    remoteOneTimePreKey: bundle.preKey,
    remoteOneTimePreKeyId: bundle.preKeyId,
    now: ctx.clock.now(),
    spqr: ctx.spqr,
  });
  promoteState(record, state);
  const writes = [
    ctx.records.put('sessions', sessionKey, encodeSessionRecord(record)),
    ...(options.alsoWrite ?? []),
  ];
  const identityChange = ctx.identityWrite(address, bundle.identityKey, remoteIdentity, writes);
  await ctx.commit(writes, {
    sessionKey,
    record,
    sessionVersion: session.version,
    identityKeyName,
    identity: remoteIdentity,
  });
  return { sessionVersion: state.version, identityChange, established: true };
}

/** The state an incoming prekey message is to be decrypted with, and where it came from. */
export type PreKeyMessageState =
  /** A state we already have (a repeated prekey message); `archivedIndex` when archived. */
  | { readonly kind: 'existing'; readonly state: SessionState; readonly archivedIndex?: number }
  /**
   * A new responder state; its prekey consumption is already in `writes`/`expect`. With SPQR
   * off, `withSpqr` derives the same state as a peer requiring SPQR would expect it, so a
   * message that fails only for lack of SPQR can be told apart.
   */
  | { readonly kind: 'created'; readonly state: SessionState; readonly withSpqr?: () => SessionState };

/**
 * Responder side of a prekey message (libsignal `process_prekey`). A repeated prekey message
 * (the initiator sends them until it hears back) belongs to a session we already have: found
 * by base key, no prekey lookup. Otherwise the prekeys it names are read, their consumption is
 * added to the caller's commit, and a new state is derived. Nothing is written here.
 */
export async function stateForPreKeyMessage(
  ctx: SessionContext,
  address: ProtocolAddress,
  message: DecodedPreKeySignalMessage,
  record: SessionRecord,
  writes: WriteOperation[],
  expect: ExpectedVersion[],
  meter: WorkMeter,
): Promise<PreKeyMessageState> {
  const existing = findStateByBaseKey(record, message.version, message.baseKey);
  if (existing) {
    if (!bytesEqual(existing.state.remoteIdentityKey, message.identityKey)) {
      throw new ParleyError('ERR_INVALID_MESSAGE', 'prekey message identity does not match its session', {
        deviceId: address.deviceId,
      });
    }
    return { kind: 'existing', ...existing };
  }
  const identity = await ctx.localIdentity();
  // The handshake is work done before the inner message's MAC can be checked.
  meter.charge(HANDSHAKE_COST);
  const kyberSharedSecret =
    message.version === 4 ? await takeKyberSecret(ctx, message, writes, expect) : undefined;
  const signedKey = ctx.records.preKeyKey('signed', message.signedPreKeyId);
  const signed = await ctx.records.read('prekeys', signedKey);
  if (!signed.bytes) throw preKeyNotFound('signed', message.signedPreKeyId);
  let oneTimeKeyPair: KeyPair | undefined;
  // privacyresearch's library writes pre_key_id = 0 when its bundle had no one-time
  // prekey. Parley never issues id 0, so 0 can only mean "none".
  const preKeyId = message.preKeyId === 0 ? undefined : message.preKeyId;
  if (preKeyId !== undefined) {
    const oneTimeKey = ctx.records.preKeyKey('one-time', preKeyId);
    const oneTime = await ctx.records.read('prekeys', oneTimeKey);
    if (!oneTime.bytes) throw preKeyNotFound('one-time', preKeyId);
    oneTimeKeyPair = decodeOneTimePreKey(oneTime.bytes).keyPair;
    // Consumed in the same commit as the session: a concurrent second use conflicts.
    writes.push(ctx.records.delete('prekeys', oneTimeKey));
    expect.push({ namespace: 'prekeys', key: oneTimeKey, version: oneTime.version });
  }
  const parameters = {
    version: message.version,
    kyberSharedSecret,
    localIdentity: identity.identityKeyPair,
    localRegistrationId: identity.registrationId,
    localSignedPreKey: decodeSignedPreKey(signed.bytes).keyPair,
    localOneTimePreKey: oneTimeKeyPair,
    remoteIdentityKey: message.identityKey,
    remoteRegistrationId: message.registrationId,
    remoteBaseKey: message.baseKey,
  };
  const state = respondSession(ctx.ratchet, { ...parameters, spqr: ctx.spqr });
  if (ctx.spqr === 'off' && message.version === 4) {
    return {
      kind: 'created',
      state,
      withSpqr: () => respondSession(ctx.ratchet, { ...parameters, spqr: 'require' }),
    };
  }
  return { kind: 'created', state };
}

/** Puts the state a prekey message was decrypted with where it belongs in the record. */
export function placePreKeyMessageState(record: SessionRecord, found: PreKeyMessageState): void {
  if (found.kind === 'created') {
    promoteState(record, found.state);
  } else if (found.archivedIndex === undefined) {
    record.current = found.state;
  } else {
    record.archived.splice(found.archivedIndex, 1);
    promoteState(record, found.state);
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

/**
 * PQXDH responder: decapsulates with the Kyber prekey the message names and adds its
 * consumption to the commit — a one-time key is deleted; a last-resort key records the
 * base key so the same base key can never use it twice (libsignal's store contract).
 */
async function takeKyberSecret(
  ctx: SessionContext,
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
  const key = ctx.records.preKeyKey('kyber', id);
  const read = await ctx.records.read('prekeys', key);
  if (!read.bytes) throw preKeyNotFound('kyber', id);
  const preKey = decodeKyberPreKeyRecord(read.bytes);
  if (preKey.lastResort) {
    const marker = `${kyberUsePrefix(ctx, id)}${toHex(message.baseKey)}`;
    if (await ctx.records.store.get('meta', marker)) {
      throw new ParleyError(
        'ERR_KYBER_PREKEY_REUSED',
        'this base key already used this last-resort Kyber prekey',
        {
          kyberPreKeyId: id,
        },
      );
    }
    writes.push(ctx.records.put('meta', marker, new Uint8Array(0)));
    expect.push({ namespace: 'meta', key: marker, version: 0 });
    expect.push({ namespace: 'prekeys', key, version: read.version });
  } else {
    writes.push(ctx.records.delete('prekeys', key));
    expect.push({ namespace: 'prekeys', key, version: read.version });
  }
  return kyberDecapsulate(preKey.secretKey, ciphertext);
}
