import { ByteReader, ByteWriter } from '../binary.js';
import { SKIPPED_ENTRY_SIZE, SkippedKeys } from '../ratchet/skipped-keys.js';
import {
  type BraidState,
  type BraidStateKind,
  CIPHERTEXT1_MESSAGE_LENGTH,
  CIPHERTEXT2_MESSAGE_LENGTH,
  HEADER_MESSAGE_LENGTH,
  KEY_MESSAGE_LENGTH,
} from './braid.js';
import type { ChainLink, ChainParams, Direction, EpochDirection, SpqrChain } from './chain.js';
import { ChunkDecoder, ChunkEncoder, type LanePoint } from './erasure-code.js';
import {
  CIPHERTEXT1_LENGTH,
  DECAPSULATION_KEY_LENGTH,
  ENCAPSULATION_KEY_LENGTH,
  ENCAPSULATION_STATE_LENGTH,
  HEADER_LENGTH,
} from './incremental-ml-kem.js';
import type { Negotiation, PqRatchetState } from './pq-ratchet.js';

/**
 * SPQR state inside Parley's session record (not libsignal's protobuf: records never leave
 * Parley). Format 1:
 *
 *   state       = u8 format(1) ‖ u8 flags(1 negotiation, 2 chain) ‖ [negotiation] ‖ [chain] ‖ braid
 *   negotiation = 32 authKey ‖ u8 direction ‖ u8 minVersion ‖ params
 *   params      = u32 maxJump ‖ u32 maxOooKeys
 *   chain       = u8 direction ‖ u64 currentEpoch ‖ u64 sendEpoch ‖ 32 nextRoot ‖ params ‖ u8 links ‖ link*
 *   link        = half(send) ‖ half(receive)
 *   half        = u32 counter ‖ u8 hasNext ‖ [32 next] ‖ u32 kept ‖ (u32 index ‖ 32 key)*
 *   braid       = u8 kind ‖ u64 epoch ‖ 32 authRoot ‖ 32 authMac ‖ fields of the kind (below)
 *   encoder     = u32 next index ‖ the message (its length is fixed by the field)
 *   decoder     = 16 × (u8 points ‖ (u16 x ‖ u16 y)*)    (the message length is fixed by the field)
 *
 * Every length is fixed by the field or bounded, and checked on reading: a corrupted record is
 * `ERR_INVALID_RECORD`, never a half-read state.
 */
const FORMAT = 1;
const FLAG_NEGOTIATION = 1;
const FLAG_CHAIN = 2;
const RECORD = 'session';
const KINDS: readonly BraidStateKind[] = [
  'keys-unsampled',
  'keys-sampled',
  'header-sent',
  'ct1-received',
  'key-sent-ct1-received',
  'no-header-received',
  'header-received',
  'ct1-sampled',
  'key-received-ct1-sampled',
  'ct1-acknowledged',
  'ct2-sampled',
];
/** Links are trimmed to the send epoch and one before it; receiving alone cannot add many. */
const MAX_LINKS = 255;
/** SPQR trims kept keys at 110 % of 2 000 (+1); anything above is not a record we wrote. */
const MAX_KEPT = 2_201;
/** A decoder keeps at most the points it needs plus as many more (see ChunkDecoder). */
const MAX_LANE_POINTS = 2 * 36 + 1;

function writeParams(w: ByteWriter, params: ChainParams): void {
  w.u32(params.maxJump).u32(params.maxOooKeys);
}

function writeHalf(w: ByteWriter, half: EpochDirection): void {
  w.u32(half.counter);
  if (half.next) w.u8(1).fixed(half.next);
  else w.u8(0);
  w.u32(half.kept.size).fixed(half.kept.encoded());
}

function writeEncoder(w: ByteWriter, encoder: ChunkEncoder, length: number): void {
  if (encoder.message.length !== length) throw new RangeError('SPQR encoder message of unexpected length');
  w.u32(encoder.nextIndex).fixed(encoder.message);
}

function writeDecoder(w: ByteWriter, decoder: ChunkDecoder): void {
  for (const lane of decoder.lanes) {
    w.u8(lane.length);
    for (const point of lane) {
      w.u8(point.x >> 8)
        .u8(point.x & 0xff)
        .u8(point.y >> 8)
        .u8(point.y & 0xff);
    }
  }
}

function writeBraid(w: ByteWriter, braid: BraidState): void {
  w.u8(KINDS.indexOf(braid.kind)).u64(braid.epoch).fixed(braid.auth.rootKey).fixed(braid.auth.macKey);
  switch (braid.kind) {
    case 'keys-unsampled':
      return;
    case 'keys-sampled':
      w.fixed(braid.encapsulationKey).fixed(braid.decapsulationKey);
      writeEncoder(w, braid.sendingHeader, HEADER_MESSAGE_LENGTH);
      return;
    case 'header-sent':
      w.fixed(braid.decapsulationKey);
      writeEncoder(w, braid.sendingKey, KEY_MESSAGE_LENGTH);
      writeDecoder(w, braid.receivingCiphertext1);
      return;
    case 'ct1-received':
      w.fixed(braid.decapsulationKey).fixed(braid.ciphertext1);
      writeEncoder(w, braid.sendingKey, KEY_MESSAGE_LENGTH);
      return;
    case 'key-sent-ct1-received':
      w.fixed(braid.decapsulationKey).fixed(braid.ciphertext1);
      writeDecoder(w, braid.receivingCiphertext2);
      return;
    case 'no-header-received':
      writeDecoder(w, braid.receivingHeader);
      return;
    case 'header-received':
      w.fixed(braid.header);
      writeDecoder(w, braid.receivingKey);
      return;
    case 'ct1-sampled':
      w.fixed(braid.header).fixed(braid.encapsulation).fixed(braid.ciphertext1);
      writeEncoder(w, braid.sendingCiphertext1, CIPHERTEXT1_MESSAGE_LENGTH);
      writeDecoder(w, braid.receivingKey);
      return;
    case 'key-received-ct1-sampled':
      w.fixed(braid.encapsulation).fixed(braid.encapsulationKey).fixed(braid.ciphertext1);
      writeEncoder(w, braid.sendingCiphertext1, CIPHERTEXT1_MESSAGE_LENGTH);
      return;
    case 'ct1-acknowledged':
      w.fixed(braid.header).fixed(braid.encapsulation).fixed(braid.ciphertext1);
      writeDecoder(w, braid.receivingKey);
      return;
    case 'ct2-sampled':
      writeEncoder(w, braid.sendingCiphertext2, CIPHERTEXT2_MESSAGE_LENGTH);
      return;
  }
}

/**
 * Reused by every encode (synchronous, so never shared by two at once): SPQR states are a few
 * KiB and are written with every message of an SPQR session.
 */
const scratch = new ByteWriter(4_096);

export function encodePqRatchetState(state: PqRatchetState): Uint8Array {
  return withEncodedPqRatchetState(state, (bytes) => bytes.slice());
}

/**
 * Encodes the state into the reused writer and hands `use` a view of the bytes, which are
 * zeroed when it returns: the session record copies them straight into its own writer.
 */
export function withEncodedPqRatchetState<T>(state: PqRatchetState, use: (bytes: Uint8Array) => T): T {
  const w = scratch;
  w.reset();
  let flags = 0;
  if (state.negotiation) flags |= FLAG_NEGOTIATION;
  if (state.chain) flags |= FLAG_CHAIN;
  w.u8(FORMAT).u8(flags);
  const n = state.negotiation;
  if (n) {
    w.fixed(n.authKey)
      .u8(n.direction === 'A2B' ? 0 : 1)
      .u8(n.minVersion);
    writeParams(w, n.chainParams);
  }
  const chain = state.chain;
  if (chain) {
    w.u8(chain.direction === 'A2B' ? 0 : 1)
      .u64(chain.currentEpoch)
      .u64(chain.sendEpoch)
      .fixed(chain.nextRoot);
    writeParams(w, chain.params);
    w.u8(chain.links.length);
    for (const link of chain.links) {
      writeHalf(w, link.send);
      writeHalf(w, link.receive);
    }
  }
  writeBraid(w, state.braid);
  try {
    return use(w.written());
  } finally {
    w.reset();
  }
}

function readDirection(r: ByteReader): Direction {
  const value = r.u8();
  if (value > 1) r.fail('unknown SPQR direction');
  return value === 0 ? 'A2B' : 'B2A';
}

function readParams(r: ByteReader): ChainParams {
  const maxJump = r.u32();
  const maxOooKeys = r.u32();
  if (maxOooKeys === 0 || maxOooKeys > MAX_KEPT || maxJump === 0)
    r.fail('SPQR chain parameters out of range');
  return { maxJump, maxOooKeys };
}

function readHalf(r: ByteReader): EpochDirection {
  const counter = r.u32();
  const hasNext = r.u8();
  if (hasNext > 1) r.fail('bad SPQR chain flag');
  const next = hasNext ? r.fixed(32) : undefined;
  const count = r.u32();
  if (count > MAX_KEPT) r.fail('too many SPQR keys kept');
  const kept = SkippedKeys.decode(r.fixed(count * SKIPPED_ENTRY_SIZE), count);
  if (typeof kept === 'string') return r.fail(`SPQR ${kept}`);
  // Ascending: the last is the largest.
  let last = -1;
  for (const index of kept.keys()) last = index;
  if (last >= counter) r.fail('SPQR key kept ahead of its chain');
  return { counter, next, kept };
}

function readEncoder(r: ByteReader, length: number): ChunkEncoder {
  const nextIndex = r.u32();
  return ChunkEncoder.of(r.fixed(length), nextIndex);
}

function readDecoder(r: ByteReader, length: number): ChunkDecoder {
  const lanes: LanePoint[][] = [];
  for (let lane = 0; lane < 16; lane++) {
    const count = r.u8();
    if (count > MAX_LANE_POINTS) r.fail('too many SPQR chunk points');
    const points: LanePoint[] = [];
    for (let i = 0; i < count; i++) {
      const x = (r.u8() << 8) | r.u8();
      const y = (r.u8() << 8) | r.u8();
      if (points.length > 0 && points[points.length - 1]!.x >= x) r.fail('SPQR chunk points out of order');
      points.push({ x, y });
    }
    lanes.push(points);
  }
  return ChunkDecoder.restore(length, lanes);
}

function readBraid(r: ByteReader): BraidState {
  const kind = KINDS[r.u8()];
  if (!kind) r.fail('unknown SPQR braid state');
  const epoch = r.u64();
  if (epoch === 0) r.fail('SPQR epoch 0');
  const auth = { rootKey: r.fixed(32), macKey: r.fixed(32) };
  const base = { epoch, auth };
  switch (kind) {
    case 'keys-unsampled':
      return { kind, ...base };
    case 'keys-sampled':
      return {
        kind,
        ...base,
        encapsulationKey: r.fixed(ENCAPSULATION_KEY_LENGTH),
        decapsulationKey: r.fixed(DECAPSULATION_KEY_LENGTH),
        sendingHeader: readEncoder(r, HEADER_MESSAGE_LENGTH),
      };
    case 'header-sent':
      return {
        kind,
        ...base,
        decapsulationKey: r.fixed(DECAPSULATION_KEY_LENGTH),
        sendingKey: readEncoder(r, KEY_MESSAGE_LENGTH),
        receivingCiphertext1: readDecoder(r, CIPHERTEXT1_MESSAGE_LENGTH),
      };
    case 'ct1-received':
      return {
        kind,
        ...base,
        decapsulationKey: r.fixed(DECAPSULATION_KEY_LENGTH),
        ciphertext1: r.fixed(CIPHERTEXT1_LENGTH),
        sendingKey: readEncoder(r, KEY_MESSAGE_LENGTH),
      };
    case 'key-sent-ct1-received':
      return {
        kind,
        ...base,
        decapsulationKey: r.fixed(DECAPSULATION_KEY_LENGTH),
        ciphertext1: r.fixed(CIPHERTEXT1_LENGTH),
        receivingCiphertext2: readDecoder(r, CIPHERTEXT2_MESSAGE_LENGTH),
      };
    case 'no-header-received':
      return { kind, ...base, receivingHeader: readDecoder(r, HEADER_MESSAGE_LENGTH) };
    case 'header-received':
      return {
        kind,
        ...base,
        header: r.fixed(HEADER_LENGTH),
        receivingKey: readDecoder(r, KEY_MESSAGE_LENGTH),
      };
    case 'ct1-sampled':
      return {
        kind,
        ...base,
        header: r.fixed(HEADER_LENGTH),
        encapsulation: r.fixed(ENCAPSULATION_STATE_LENGTH),
        ciphertext1: r.fixed(CIPHERTEXT1_LENGTH),
        sendingCiphertext1: readEncoder(r, CIPHERTEXT1_MESSAGE_LENGTH),
        receivingKey: readDecoder(r, KEY_MESSAGE_LENGTH),
      };
    case 'key-received-ct1-sampled':
      return {
        kind,
        ...base,
        encapsulation: r.fixed(ENCAPSULATION_STATE_LENGTH),
        encapsulationKey: r.fixed(ENCAPSULATION_KEY_LENGTH),
        ciphertext1: r.fixed(CIPHERTEXT1_LENGTH),
        sendingCiphertext1: readEncoder(r, CIPHERTEXT1_MESSAGE_LENGTH),
      };
    case 'ct1-acknowledged':
      return {
        kind,
        ...base,
        header: r.fixed(HEADER_LENGTH),
        encapsulation: r.fixed(ENCAPSULATION_STATE_LENGTH),
        ciphertext1: r.fixed(CIPHERTEXT1_LENGTH),
        receivingKey: readDecoder(r, KEY_MESSAGE_LENGTH),
      };
    case 'ct2-sampled':
      return { kind, ...base, sendingCiphertext2: readEncoder(r, CIPHERTEXT2_MESSAGE_LENGTH) };
  }
}

export function decodePqRatchetState(bytes: Uint8Array): PqRatchetState {
  const r = new ByteReader(bytes, RECORD);
  if (r.u8() !== FORMAT) r.fail('unknown SPQR state format');
  const flags = r.u8();
  if (flags & ~(FLAG_NEGOTIATION | FLAG_CHAIN)) r.fail('unknown SPQR state flags');
  let negotiation: Negotiation | undefined;
  if (flags & FLAG_NEGOTIATION) {
    const authKey = r.fixed(32);
    const direction = readDirection(r);
    const minVersion = r.u8();
    if (minVersion > 1) r.fail('unknown SPQR minimum version');
    negotiation = { authKey, direction, minVersion: minVersion as 0 | 1, chainParams: readParams(r) };
  }
  let chain: SpqrChain | undefined;
  if (flags & FLAG_CHAIN) {
    const direction = readDirection(r);
    const currentEpoch = r.u64();
    const sendEpoch = r.u64();
    const nextRoot = r.fixed(32);
    const params = readParams(r);
    const count = r.u8();
    if (count === 0 || count > MAX_LINKS || count > currentEpoch + 1 || sendEpoch > currentEpoch) {
      r.fail('SPQR chain epochs out of range');
    }
    const links: ChainLink[] = [];
    for (let i = 0; i < count; i++) links.push({ send: readHalf(r), receive: readHalf(r) });
    chain = { direction, currentEpoch, sendEpoch, links, nextRoot, params };
  }
  if (!negotiation && !chain) r.fail('SPQR state with neither chain nor negotiation');
  const braid = readBraid(r);
  r.end();
  return { negotiation, chain, braid };
}
