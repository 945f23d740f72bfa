import { ByteReader, ByteWriter } from '../binary.js';
import { bytesEqual } from '../bytes.js';
import { ParleyError } from '../errors.js';
import { decodePqRatchetState, withEncodedPqRatchetState } from '../spqr/state-codec.js';
import { ARCHIVED_STATES_MAX_LENGTH, MAX_MESSAGE_KEYS, MAX_RECEIVER_CHAINS } from './limits.js';
import type { ReceiverChain, SessionState } from './session-state.js';
import { SKIPPED_ENTRY_SIZE, SkippedKeys } from './skipped-keys.js';

/**
 * Parley's session record format. Version 2 (version 1 is read as well):
 *
 *   record  = u8 format(2) ‖ u8 hasCurrent ‖ [state] ‖ u8 archivedCount ‖ state*   (states length-prefixed)
 *   state   = u8 version ‖ 33 baseKey ‖ 33 localIdentity ‖ 33 remoteIdentity ‖ u32 localRegId ‖ u32 remoteRegId
 *             ‖ 32 rootKey ‖ u32 previousCounter ‖ 33 senderPublic ‖ 32 senderPrivate ‖ 32 senderChainKey
 *             ‖ u32 senderIndex ‖ u8 receiverCount ‖ receiver* ‖ u8 flags ‖ [pending] ‖ [bytes spqr]
 *   receiver= 33 ratchetKey ‖ 32 chainKey ‖ u32 index ‖ u32 skippedCount ‖ (u32 index ‖ 32 seed)*
 *   pending = u32 signedPreKeyId ‖ u64 createdAt ‖ [u32 preKeyId] ‖ [u32 kyberPreKeyId ‖ bytes kyberCiphertext]
 *   spqr    = the SPQR state (`spqr/state-codec.ts`), present when flag 8 is set
 *
 * Version 2 only adds the SPQR flag and section; a version 1 record (no state has the flag)
 * decodes unchanged, and is written back as version 2. Version and base key lead each state so
 * that archived states can be matched without decoding them. Archived states stay as their
 * encoded bytes until one is needed.
 */
export const SESSION_RECORD_FORMAT = 2;
/** Formats this version of Parley reads. */
const READABLE_FORMATS: readonly number[] = [1, 2];

const PUBLIC_KEY_LENGTH = 33;
const SECRET_LENGTH = 32;
const FLAG_PENDING = 1;
const FLAG_PENDING_PREKEY_ID = 2;
const FLAG_PENDING_KYBER = 4;
const FLAG_SPQR = 8;
const MAX_KYBER_CIPHERTEXT = 1569;

export interface SessionRecord {
  current?: SessionState | undefined;
  /** Encoded previous states, most recent first; at most ARCHIVED_STATES_MAX_LENGTH. */
  archived: Uint8Array[];
}

export function emptyRecord(): SessionRecord {
  return { archived: [] };
}

/**
 * Exact encoded size of a state, so records are written into one buffer with no copies. The
 * SPQR section is encoded here once and handed to `writeSessionState`.
 */
function sessionStateSize(state: SessionState, spqr: Uint8Array | undefined): number {
  let size = 247; // fixed fields, receiver count and flags byte
  if (spqr) size += 4 + spqr.length;
  for (const chain of state.receivers) size += 73 + chain.skipped.size * SKIPPED_ENTRY_SIZE;
  const pending = state.pendingPreKey;
  if (pending) {
    size += 12;
    if (pending.preKeyId !== undefined) size += 4;
    if (pending.kyberCiphertext !== undefined) size += 8 + pending.kyberCiphertext.length;
  }
  return size;
}

function writeSessionState(w: ByteWriter, state: SessionState, spqr: Uint8Array | undefined): void {
  w.u8(state.version)
    .fixed(state.baseKey)
    .fixed(state.localIdentityKey)
    .fixed(state.remoteIdentityKey)
    .u32(state.localRegistrationId)
    .u32(state.remoteRegistrationId)
    .fixed(state.rootKey)
    .u32(state.previousCounter)
    .fixed(state.sender.ratchetKeyPair.publicKey)
    .fixed(state.sender.ratchetKeyPair.privateKey)
    .fixed(state.sender.chainKey.key)
    .u32(state.sender.chainKey.index)
    .u8(state.receivers.length);
  for (const chain of state.receivers) {
    w.fixed(chain.ratchetKey).fixed(chain.chainKey.key).u32(chain.chainKey.index).u32(chain.skipped.size);
    w.fixed(chain.skipped.encoded());
  }
  const pending = state.pendingPreKey;
  let flags = spqr ? FLAG_SPQR : 0;
  if (pending) {
    flags |= FLAG_PENDING;
    if (pending.preKeyId !== undefined) flags |= FLAG_PENDING_PREKEY_ID;
    if (pending.kyberCiphertext !== undefined) flags |= FLAG_PENDING_KYBER;
  }
  w.u8(flags);
  if (pending) {
    w.u32(pending.signedPreKeyId).u64(pending.createdAt);
    if (pending.preKeyId !== undefined) w.u32(pending.preKeyId);
    if (pending.kyberCiphertext !== undefined)
      w.u32(pending.kyberPreKeyId ?? 0).bytes(pending.kyberCiphertext);
  }
  if (spqr) w.bytes(spqr);
}

/** `use` with the state's SPQR part encoded (a view, zeroed afterwards), or undefined. */
function withSpqrBytes<T>(state: SessionState | undefined, use: (spqr: Uint8Array | undefined) => T): T {
  return state?.spqr ? withEncodedPqRatchetState(state.spqr, use) : use(undefined);
}

export function encodeSessionState(state: SessionState): Uint8Array {
  return withSpqrBytes(state, (spqr) => {
    const w = new ByteWriter(sessionStateSize(state, spqr));
    writeSessionState(w, state, spqr);
    return w.finish();
  });
}

export function decodeSessionState(bytes: Uint8Array): SessionState {
  const r = new ByteReader(bytes, 'session');
  const version = r.u8();
  if (version !== 3 && version !== 4) r.fail('unknown session version');
  const sessionVersion = version as 3 | 4;
  const baseKey = r.fixed(PUBLIC_KEY_LENGTH);
  const localIdentityKey = r.fixed(PUBLIC_KEY_LENGTH);
  const remoteIdentityKey = r.fixed(PUBLIC_KEY_LENGTH);
  const localRegistrationId = r.u32();
  const remoteRegistrationId = r.u32();
  const rootKey = r.fixed(SECRET_LENGTH);
  const previousCounter = r.u32();
  const senderPublic = r.fixed(PUBLIC_KEY_LENGTH);
  const senderPrivate = r.fixed(SECRET_LENGTH);
  const senderChainKey = r.fixed(SECRET_LENGTH);
  const senderIndex = r.u32();
  const receiverCount = r.u8();
  if (receiverCount > MAX_RECEIVER_CHAINS) r.fail('too many receiver chains');
  const receivers: ReceiverChain[] = [];
  for (let i = 0; i < receiverCount; i++) {
    const ratchetKey = r.fixed(PUBLIC_KEY_LENGTH);
    const key = r.fixed(SECRET_LENGTH);
    const index = r.u32();
    const skippedCount = r.u32();
    if (skippedCount > MAX_MESSAGE_KEYS) r.fail('too many skipped keys');
    const skipped = SkippedKeys.decode(r.fixed(skippedCount * SKIPPED_ENTRY_SIZE), skippedCount);
    if (typeof skipped === 'string') return r.fail(skipped);
    receivers.push({ ratchetKey, chainKey: { key, index }, skipped });
  }
  const flags = r.u8();
  if (flags & ~(FLAG_PENDING | FLAG_PENDING_PREKEY_ID | FLAG_PENDING_KYBER | FLAG_SPQR))
    r.fail('unknown flags');
  let pendingPreKey: SessionState['pendingPreKey'];
  if (flags & FLAG_PENDING) {
    const signedPreKeyId = r.u32();
    const createdAt = r.u64();
    const preKeyId = flags & FLAG_PENDING_PREKEY_ID ? r.u32() : undefined;
    let kyberPreKeyId: number | undefined;
    let kyberCiphertext: Uint8Array | undefined;
    if (flags & FLAG_PENDING_KYBER) {
      kyberPreKeyId = r.u32();
      kyberCiphertext = r.bytes(MAX_KYBER_CIPHERTEXT);
    }
    pendingPreKey = { signedPreKeyId, createdAt, preKeyId, baseKey, kyberPreKeyId, kyberCiphertext };
  } else if (flags & (FLAG_PENDING_PREKEY_ID | FLAG_PENDING_KYBER)) {
    r.fail('unknown flags');
  }
  let spqr: SessionState['spqr'];
  if (flags & FLAG_SPQR) {
    if (sessionVersion !== 4) r.fail('SPQR in a v3 session');
    spqr = decodePqRatchetState(r.bytesView());
  }
  r.end();
  return {
    version: sessionVersion,
    baseKey,
    localIdentityKey,
    remoteIdentityKey,
    localRegistrationId,
    remoteRegistrationId,
    rootKey,
    previousCounter,
    sender: {
      ratchetKeyPair: { publicKey: senderPublic, privateKey: senderPrivate },
      chainKey: { key: senderChainKey, index: senderIndex },
    },
    receivers,
    pendingPreKey,
    spqr,
  };
}

/** Version and base key of an encoded state, read without decoding the rest. */
export function peekStateIdentity(encoded: Uint8Array): { version: number; baseKey: Uint8Array } {
  if (encoded.length < 1 + PUBLIC_KEY_LENGTH) {
    throw new ParleyError('ERR_INVALID_RECORD', 'session record is truncated or corrupt', {
      record: 'session',
    });
  }
  return { version: encoded[0]!, baseKey: encoded.subarray(1, 1 + PUBLIC_KEY_LENGTH) };
}

export function stateMatchesBaseKey(encoded: Uint8Array, version: number, baseKey: Uint8Array): boolean {
  const peeked = peekStateIdentity(encoded);
  return peeked.version === version && bytesEqual(peeked.baseKey, baseKey);
}

export function encodeSessionRecord(record: SessionRecord): Uint8Array {
  return withSpqrBytes(record.current, (spqr) => {
    const currentSize = record.current ? sessionStateSize(record.current, spqr) : 0;
    let size = 3 + (record.current ? 4 + currentSize : 0);
    for (const state of record.archived) size += 4 + state.length;
    const w = new ByteWriter(size);
    w.u8(SESSION_RECORD_FORMAT);
    if (record.current) {
      w.u8(1).u32(currentSize);
      writeSessionState(w, record.current, spqr);
    } else {
      w.u8(0);
    }
    w.u8(record.archived.length);
    for (const state of record.archived) w.bytes(state);
    return w.finish();
  });
}

/** Decodes the current state; archived states are validated lazily when they are used. */
export function decodeSessionRecord(bytes: Uint8Array): SessionRecord {
  const r = new ByteReader(bytes, 'session');
  const format = r.u8();
  if (!READABLE_FORMATS.includes(format)) {
    throw new ParleyError(
      'ERR_INVALID_RECORD',
      `session record format ${format} is not supported by this version of Parley (expected ${SESSION_RECORD_FORMAT}); upgrade Parley to read it`,
      { record: 'session', format },
    );
  }
  const hasCurrent = r.u8();
  if (hasCurrent > 1) r.fail('bad current flag');
  const current = hasCurrent ? decodeSessionState(r.bytesView()) : undefined;
  const archivedCount = r.u8();
  if (archivedCount > ARCHIVED_STATES_MAX_LENGTH) r.fail('too many archived states');
  const archived: Uint8Array[] = [];
  for (let i = 0; i < archivedCount; i++) {
    const state = r.bytes();
    peekStateIdentity(state);
    archived.push(state);
  }
  r.end();
  return { current, archived };
}

/** Moves the current state to the front of the archive, dropping the oldest beyond the limit. */
export function archiveCurrentState(record: SessionRecord): void {
  if (!record.current) return;
  record.archived.unshift(encodeSessionState(record.current));
  if (record.archived.length > ARCHIVED_STATES_MAX_LENGTH)
    record.archived.length = ARCHIVED_STATES_MAX_LENGTH;
  record.current = undefined;
}

export function promoteState(record: SessionRecord, state: SessionState): void {
  archiveCurrentState(record);
  record.current = state;
}
