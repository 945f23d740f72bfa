import { bytesEqual } from '../bytes.js';
import { ParleyError } from '../errors.js';
import { archiveCurrentState, encodeSessionRecord } from '../ratchet/session-record.js';
import type { SessionState } from '../ratchet/session-state.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import { assertWirePublicKey } from '../wire/limits.js';
import { assertAddress, type ProtocolAddress } from './address.js';
import type { SessionContext } from './session-context.js';

/**
 * Recovering a session the remote device can no longer read, as libsignal's clients do when a
 * decryption-error message arrives (`SessionRecord::current_ratchet_key_matches`, then
 * `archive_current_state`): the session is archived — so the next message starts a fresh one
 * from a new bundle — only when the error names the ratchet key this side is sending on now.
 * A message about an older ratchet key, a made-up one, or one for another device's session
 * matches nothing and changes nothing.
 */
export interface ArchiveSessionOptions {
  /**
   * Archive only when the current session's sending ratchet key is this one (33 bytes): the
   * ratchet key a decryption-error message names. Without it the current session is archived
   * unconditionally.
   */
  readonly ifRatchetKey?: Uint8Array | undefined;
  /** More writes committed atomically with the archive (nothing is written when nothing is archived). */
  readonly alsoWrite?: readonly WriteOperation[] | undefined;
  /** Versions those writes expect; a conflict re-runs the operation from fresh reads. */
  readonly alsoExpect?: readonly ExpectedVersion[] | undefined;
}

/** Whether the current session with `address` sends on `ratchetKey`. */
export async function currentRatchetKeyMatches(
  ctx: SessionContext,
  address: ProtocolAddress,
  ratchetKey: Uint8Array,
): Promise<boolean> {
  assertAddress(address);
  assertRatchetKey(ratchetKey);
  return ctx.serialized(address, async () => {
    const { session } = await ctx.load(address);
    return sendsOn(session.record?.current, ratchetKey);
  });
}

/** Archives the current session with `address` (when it sends on `ifRatchetKey`); true when it did. */
export function archiveSession(
  ctx: SessionContext,
  address: ProtocolAddress,
  options: ArchiveSessionOptions,
): Promise<boolean> {
  assertAddress(address);
  if (typeof options !== 'object' || options === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"options" expected { ifRatchetKey?, alsoWrite? }', {
      field: 'options',
    });
  }
  if (options.ifRatchetKey !== undefined) assertRatchetKey(options.ifRatchetKey);
  for (const field of ['alsoWrite', 'alsoExpect'] as const) {
    if (options[field] !== undefined && !Array.isArray(options[field])) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', `"${field}" expected an array`, { field });
    }
  }
  return ctx.run(address, () => archiveOnce(ctx, address, options));
}

/** One attempt of `archiveSession`, on fresh reads. */
async function archiveOnce(
  ctx: SessionContext,
  address: ProtocolAddress,
  options: ArchiveSessionOptions,
): Promise<boolean> {
  const { sessionKey, identityKeyName, session, identity } = await ctx.load(address);
  const record = session.record;
  const current = record?.current;
  if (!record || !current) return false;
  const named = options.ifRatchetKey;
  if (named !== undefined) {
    if (!sendsOn(current, named)) return false;
    refuseIfPeerRequiresSpqr(ctx, current, address);
  }
  ctx.touch(address);
  archiveCurrentState(record);
  await ctx.commit(
    [ctx.records.put('sessions', sessionKey, encodeSessionRecord(record)), ...(options.alsoWrite ?? [])],
    { sessionKey, record, sessionVersion: session.version, identityKeyName, identity },
    options.alsoExpect,
  );
  return true;
}

/**
 * With SPQR off, a decryption error naming a v4 session that never got an answer and runs
 * without SPQR is what a peer that requires SPQR (libsignal 0.92 and later) sends back for
 * every message of it: its "minimum version" check fails before anything else. Starting over
 * would build the same session again, so nothing is archived: the caller learns what it has to
 * change. (A peer whose prekeys vanished sends the same message; with SPQR off the two cannot
 * be told apart, and the refusal names the one that no fresh session can fix.)
 */
function refuseIfPeerRequiresSpqr(ctx: SessionContext, state: SessionState, address: ProtocolAddress): void {
  if (ctx.spqr !== 'off' || state.version !== 4 || state.spqr || !state.pendingPreKey) return;
  throw new ParleyError(
    'ERR_PEER_REQUIRES_SPQR',
    'the peer could not decrypt a new session without the sparse post-quantum ratchet (SPQR), which this session manager has off',
    { deviceId: address.deviceId },
  );
}

function sendsOn(state: SessionState | undefined, ratchetKey: Uint8Array): boolean {
  return state !== undefined && bytesEqual(state.sender.ratchetKeyPair.publicKey, ratchetKey);
}

function assertRatchetKey(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"ratchetKey" expected a Uint8Array', {
      field: 'ratchetKey',
    });
  }
  assertWirePublicKey(value, 'ratchetKey');
}
