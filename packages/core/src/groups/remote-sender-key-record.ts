import { ByteReader, ByteWriter } from '../binary.js';
import { bytesEqual } from '../bytes.js';
import { ParleyError } from '../errors.js';
import type { SenderKeyFormat } from '../wire/sender-key-format.js';
import { MAX_SENDER_KEY_STATES } from './limits.js';
import { peekRemoteSenderKey } from './remote-sender-key.js';
import { decodeWireFormat, encodeWireFormat } from './wire-format-byte.js';

/**
 * Everything we keep about one member device's sending chains in one group: at most
 * MAX_SENDER_KEY_STATES encoded states, most recent first. Immutable: changes build a new
 * record, so a cached one is never half-changed by an operation that failed.
 */
export interface RemoteSenderKeyRecord {
  readonly format: SenderKeyFormat;
  readonly states: readonly Uint8Array[];
}

/**
 * Record format 1 (Parley's own, in the `sessions` namespace):
 *
 *   u8 recordFormat(1) ‖ u8 wireFormat ‖ u8 count ‖ (u32 length ‖ state)*
 *
 * States are validated when they are decoded for use; their leading ids when the record is read.
 */
export const REMOTE_SENDER_KEY_RECORD_FORMAT = 1;
const WHAT = 'remote sender key';

export function encodeRemoteSenderKeyRecord(record: RemoteSenderKeyRecord): Uint8Array {
  let size = 3;
  for (const state of record.states) size += 4 + state.length;
  const w = new ByteWriter(size)
    .u8(REMOTE_SENDER_KEY_RECORD_FORMAT)
    .u8(encodeWireFormat(record.format))
    .u8(record.states.length);
  for (const state of record.states) w.bytes(state);
  return w.finish();
}

export function decodeRemoteSenderKeyRecord(bytes: Uint8Array): RemoteSenderKeyRecord {
  const r = new ByteReader(bytes, WHAT);
  const recordFormat = r.u8();
  if (recordFormat !== REMOTE_SENDER_KEY_RECORD_FORMAT) {
    throw new ParleyError(
      'ERR_INVALID_RECORD',
      `remote sender key record format ${recordFormat} is not supported by this version of Parley (expected ${REMOTE_SENDER_KEY_RECORD_FORMAT})`,
      { record: WHAT, format: recordFormat },
    );
  }
  const format = decodeWireFormat(r, r.u8());
  const count = r.u8();
  if (count > MAX_SENDER_KEY_STATES) r.fail('too many states');
  const states: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const state = r.bytes();
    peekRemoteSenderKey(state);
    states.push(state);
  }
  r.end();
  return { format, states };
}

/** Index of the state a message of (distribution id, chain id) belongs to, or -1. */
export function findStateIndex(
  record: RemoteSenderKeyRecord,
  distributionId: Uint8Array,
  chainId: number,
): number {
  return record.states.findIndex((state) => {
    const peeked = peekRemoteSenderKey(state);
    return peeked.chainId === chainId && bytesEqual(peeked.distributionId, distributionId);
  });
}

/**
 * Adds the state a distribution message describes, as libsignal's `add_sender_key_state`:
 * - a state with the same distribution id, chain id and signing key is kept as it is (moved to
 *   the front): a repeated or replayed distribution message must not rewind a chain, or every
 *   message already received on it could be replayed;
 * - states with that chain id but another signing key are dropped (a chain id is one chain);
 * - otherwise the new state goes in front, and the oldest beyond MAX_SENDER_KEY_STATES go.
 */
export function addState(
  record: RemoteSenderKeyRecord,
  encodedState: Uint8Array,
): { record: RemoteSenderKeyRecord; newChain: boolean } {
  const added = peekRemoteSenderKey(encodedState);
  let existing: Uint8Array | undefined;
  const others: Uint8Array[] = [];
  for (const state of record.states) {
    const peeked = peekRemoteSenderKey(state);
    const sameChain =
      peeked.chainId === added.chainId && bytesEqual(peeked.distributionId, added.distributionId);
    if (!sameChain) others.push(state);
    else if (existing === undefined && bytesEqual(peeked.signingKey, added.signingKey)) existing = state;
  }
  const states = [existing ?? encodedState, ...others].slice(0, MAX_SENDER_KEY_STATES);
  return { record: { format: record.format, states }, newChain: existing === undefined };
}

/** The record with state `index` replaced (its position is kept, as libsignal does). */
export function replaceState(
  record: RemoteSenderKeyRecord,
  index: number,
  encodedState: Uint8Array,
): RemoteSenderKeyRecord {
  const states = record.states.slice();
  states[index] = encodedState;
  return { format: record.format, states };
}
