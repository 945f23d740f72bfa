import { isParleyError, ParleyError } from '../errors.js';
import { ratchetDecrypt, ratchetEncrypt } from '../ratchet/double-ratchet.js';
import { MAX_UNACKNOWLEDGED_SESSION_AGE_MS } from '../ratchet/limits.js';
import {
  decodeSessionRecord,
  decodeSessionState,
  emptyRecord,
  encodeSessionRecord,
  promoteState,
} from '../ratchet/session-record.js';
import type { SessionState } from '../ratchet/session-state.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import { decodePreKeySignalMessage, encodePreKeySignalMessage } from '../wire/prekey-signal-message.js';
import { type DecodedSignalMessage, decodeSignalMessage } from '../wire/signal-message.js';
import { assertAddress, type ProtocolAddress } from './address.js';
import { placePreKeyMessageState, stateForPreKeyMessage } from './session-builder.js';
import { type SessionContext, sessionContextOf, sessionNotFound } from './session-context.js';
import {
  type CiphertextMessage,
  type DecryptOptions,
  type DecryptResult,
  type EncryptOptions,
  MessageType,
} from './types.js';
import type { UnverifiedWorkMeter } from './unverified-work.js';

export { SessionBuilder } from './session-builder.js';

/**
 * Running an existing session, as libsignal's `session_cipher.rs`: encrypt for one device,
 * decrypt from it. A prekey message first asks the builder for its state (an existing one, or
 * a new one from the prekeys it names); then both message types decrypt the same way — on
 * decoded copies, committed in one mutation only after the MAC checked.
 */
export class SessionCipher {
  private readonly ctx: SessionContext;

  /** `sessions` is the `SessionManager` whose records and caches this view shares. */
  constructor(
    sessions: object,
    readonly remoteAddress: ProtocolAddress,
  ) {
    this.ctx = sessionContextOf(sessions);
  }

  /** A PreKeySignalMessage until the first reply, then SignalMessages. */
  encrypt(plaintext: Uint8Array, options: EncryptOptions = {}): Promise<CiphertextMessage> {
    const address = this.remoteAddress;
    assertAddress(address);
    if (!(plaintext instanceof Uint8Array)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"plaintext" expected a Uint8Array');
    }
    if (typeof options !== 'object' || options === null) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"options" expected an object', { field: 'options' });
    }
    return this.ctx.run(address, () => encryptOnce(this.ctx, address, plaintext, options));
  }

  /** Decrypts a message of either type. */
  decrypt(message: CiphertextMessage, options: DecryptOptions = {}): Promise<DecryptResult> {
    const address = this.remoteAddress;
    assertAddress(address);
    if (!(message?.body instanceof Uint8Array)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"message.body" expected a Uint8Array');
    }
    if (message.type !== MessageType.PreKey && message.type !== MessageType.Whisper) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"message.type" expected 2 (whisper) or 3 (prekey)', {
        type: String(message.type),
      });
    }
    // One meter for every attempt: work done for a message that never verifies stays charged
    // to its sender device; a message that verifies gets its work back.
    const meter = this.ctx.unverifiedWork.meter(this.ctx.records.sessionKey(address));
    return this.ctx.run(address, () =>
      message.type === MessageType.PreKey
        ? decryptPreKeyOnce(this.ctx, address, message.body, options, meter)
        : decryptWhisperOnce(this.ctx, address, message.body, options, meter),
    );
  }

  decryptPreKeySignalMessage(body: Uint8Array, options?: DecryptOptions): Promise<DecryptResult> {
    return this.decrypt({ type: MessageType.PreKey, body }, options);
  }

  decryptSignalMessage(body: Uint8Array, options?: DecryptOptions): Promise<DecryptResult> {
    return this.decrypt({ type: MessageType.Whisper, body }, options);
  }

  async hasOpenSession(): Promise<boolean> {
    return hasSession(this.ctx, this.remoteAddress);
  }
}

export async function hasSession(ctx: SessionContext, address: ProtocolAddress): Promise<boolean> {
  assertAddress(address);
  const { bytes } = await ctx.records.read('sessions', ctx.records.sessionKey(address));
  return bytes !== undefined && decodeSessionRecord(bytes).current !== undefined;
}

/** One attempt of `encrypt`, on fresh reads. */
async function encryptOnce(
  ctx: SessionContext,
  address: ProtocolAddress,
  plaintext: Uint8Array,
  options: EncryptOptions,
): Promise<CiphertextMessage> {
  const { sessionKey, identityKeyName, session, identity: remoteIdentity } = await ctx.load(address);
  const record = session.record;
  const state = record?.current;
  if (!record || !state) throw sessionNotFound(address);
  const pending = state.pendingPreKey;
  if (pending && ctx.clock.now() - pending.createdAt > MAX_UNACKNOWLEDGED_SESSION_AGE_MS) {
    throw new ParleyError(
      'ERR_SESSION_EXPIRED',
      'the session was never acknowledged by the remote device and is too old to use; fetch a new bundle',
      { deviceId: address.deviceId, ageLimitMs: MAX_UNACKNOWLEDGED_SESSION_AGE_MS },
    );
  }
  await ctx.checkTrust(address, state.remoteIdentityKey, remoteIdentity.bytes, 'sending');
  ctx.touch(address);
  const signalMessage = ratchetEncrypt(ctx.ratchet, state, plaintext);
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
  const writes = [ctx.records.put('sessions', sessionKey, encodeSessionRecord(record))];
  if (options.alsoWrite) writes.push(...options.alsoWrite(message));
  await ctx.commit(
    writes,
    { sessionKey, record, sessionVersion: session.version, identityKeyName, identity: remoteIdentity },
    options.alsoExpect,
  );
  return message;
}

/** One attempt of decrypting a PreKeySignalMessage, on fresh reads. */
async function decryptPreKeyOnce(
  ctx: SessionContext,
  address: ProtocolAddress,
  body: Uint8Array,
  options: DecryptOptions,
  meter: UnverifiedWorkMeter,
): Promise<DecryptResult> {
  const preKeyMessage = decodePreKeySignalMessage(body);
  const inner = decodeSignalMessage(preKeyMessage.message);
  const { sessionKey, identityKeyName, session, identity: remoteIdentity } = await ctx.load(address);
  await ctx.checkTrust(address, preKeyMessage.identityKey, remoteIdentity.bytes, 'receiving');
  const record = session.record ?? emptyRecord();
  const expect: ExpectedVersion[] = [];
  const writes: WriteOperation[] = [];

  const found = await stateForPreKeyMessage(ctx, address, preKeyMessage, record, writes, expect, meter);
  let plaintext: Uint8Array;
  try {
    plaintext = ratchetDecrypt(ctx.ratchet, found.state, inner, meter);
  } catch (error) {
    if (
      found.kind === 'created' &&
      found.withSpqr &&
      inner.pqRatchet &&
      isParleyError(error, 'ERR_INVALID_MAC')
    ) {
      refuseIfPeerRequiresSpqr(ctx, found.withSpqr(), inner, meter);
    }
    throw error;
  }
  meter.settle(true);
  ctx.touch(address);
  placePreKeyMessageState(record, found);

  writes.push(ctx.records.put('sessions', sessionKey, encodeSessionRecord(record)));
  const identityChange = ctx.identityWrite(address, preKeyMessage.identityKey, remoteIdentity, writes);
  const result: DecryptResult = {
    plaintext,
    messageType: MessageType.PreKey,
    sessionVersion: found.state.version,
    newSession: found.kind === 'created',
    identityChange,
  };
  if (options.alsoWrite) writes.push(...options.alsoWrite(result));
  await ctx.commit(
    writes,
    { sessionKey, record, sessionVersion: session.version, identityKeyName, identity: remoteIdentity },
    expect,
  );
  return result;
}

/** One attempt of decrypting a SignalMessage, on fresh reads. */
async function decryptWhisperOnce(
  ctx: SessionContext,
  address: ProtocolAddress,
  body: Uint8Array,
  options: DecryptOptions,
  meter: UnverifiedWorkMeter,
): Promise<DecryptResult> {
  const message = decodeSignalMessage(body);
  const { sessionKey, identityKeyName, session, identity: remoteIdentity } = await ctx.load(address);
  const record = session.record;
  if (!record || (!record.current && record.archived.length === 0)) throw sessionNotFound(address);

  // Current state first, then archived ones (most recent first), each decoded only when
  // it is tried. A failed attempt changes nothing.
  let firstError: unknown;
  let decrypted: { state: SessionState; plaintext: Uint8Array; archivedIndex?: number } | undefined;
  if (record.current) {
    try {
      decrypted = {
        state: record.current,
        plaintext: ratchetDecrypt(ctx.ratchet, record.current, message, meter),
      };
    } catch (error) {
      if (isParleyError(error, 'ERR_DUPLICATE_MESSAGE') || !isRecoverable(error)) throw error;
      // ratchetDecrypt changes nothing when it fails: the current state is intact.
      firstError = error;
    }
  }
  for (let i = 0; !decrypted && i < record.archived.length; i++) {
    const state = decodeSessionState(record.archived[i]!);
    try {
      decrypted = { state, plaintext: ratchetDecrypt(ctx.ratchet, state, message, meter), archivedIndex: i };
    } catch (error) {
      if (isParleyError(error, 'ERR_DUPLICATE_MESSAGE') || !isRecoverable(error)) throw error;
      firstError ??= error;
    }
  }
  if (!decrypted) {
    throw firstError ?? sessionNotFound(address);
  }
  // ratchetDecrypt changed the state it decrypted with; the record changes below.
  ctx.touch(address);
  meter.settle(true);
  if (decrypted.archivedIndex !== undefined) {
    record.archived.splice(decrypted.archivedIndex, 1);
    promoteState(record, decrypted.state);
  }
  await ctx.checkTrust(address, decrypted.state.remoteIdentityKey, remoteIdentity.bytes, 'receiving');
  const writes = [ctx.records.put('sessions', sessionKey, encodeSessionRecord(record))];
  const identityChange = ctx.identityWrite(
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
  await ctx.commit(writes, {
    sessionKey,
    record,
    sessionVersion: session.version,
    identityKeyName,
    identity: remoteIdentity,
  });
  return result;
}

/**
 * With SPQR off, a first message whose MAC fails may come from a peer that requires SPQR
 * (libsignal 0.92 and later): its message keys are salted with SPQR keys we did not derive.
 * If the same message verifies with the SPQR state such a peer expects, say so — a distinct
 * code rather than the `ERR_INVALID_MAC` a tampered message gets. Nothing is kept either way.
 */
function refuseIfPeerRequiresSpqr(
  ctx: SessionContext,
  withSpqr: SessionState,
  inner: DecodedSignalMessage,
  meter: UnverifiedWorkMeter,
): void {
  try {
    ratchetDecrypt(ctx.ratchet, withSpqr, inner, meter);
  } catch {
    return;
  }
  throw new ParleyError(
    'ERR_PEER_REQUIRES_SPQR',
    'the peer requires the sparse post-quantum ratchet (SPQR), which this session manager has off',
  );
}

/** Errors after which another session state may still open the message. */
function isRecoverable(error: unknown): boolean {
  return (
    isParleyError(error, 'ERR_PQ_RATCHET') ||
    isParleyError(error, 'ERR_PEER_LACKS_SPQR') ||
    isParleyError(error, 'ERR_INVALID_MAC') ||
    isParleyError(error, 'ERR_VERSION_MISMATCH') ||
    isParleyError(error, 'ERR_MESSAGE_GAP_TOO_LARGE') ||
    isParleyError(error, 'ERR_DECRYPTION_FAILED') ||
    isParleyError(error, 'ERR_INVALID_KEY')
  );
}
