import { ParleyError } from '../errors.js';
import type { ChainWalks } from '../ratchet/chain-walks.js';
import { unmetered, type WorkMeter } from '../ratchet/work-meter.js';
import { type BraidContext, type BraidState, braidReceive, braidSend, initialBraidState } from './braid.js';
import {
  addEpoch,
  type ChainParams,
  DEFAULT_CHAIN_PARAMS,
  type Direction,
  newChain,
  planReceiveKey,
  receiveKey,
  SELF_SESSION_MAX_JUMP,
  type SpqrChain,
  sendKey,
} from './chain.js';
import { type BraidMessage, decodeBraidMessage, encodeBraidMessage, SPQR_VERSION_1 } from './message.js';
import { pqRatchetError } from './refusal.js';

/**
 * The sparse post-quantum ratchet as a session carries it (SPQR `lib.rs`): version
 * negotiation, the braid (the public-key part) and the symmetric chain (message keys).
 *
 * A session without SPQR has no `PqRatchetState` at all (SPQR's "version 0": its empty state).
 * A state starts with a `negotiation` that says what the peer may answer with: `offer` accepts
 * a peer without SPQR (the session falls back to version 0 on its first message without a
 * pq_ratchet field), `require` refuses it. The first message received settles it; sending never
 * does. Until then an `offer` side has no chain and sends no message keys (the peer may not be
 * able to use them); a `require` side has a chain from the start.
 */
export type SpqrMode = 'off' | 'offer' | 'require';

export interface Negotiation {
  /** The SPQR key of the PQXDH derivation (bytes 64–96). Secret. */
  readonly authKey: Uint8Array;
  readonly direction: Direction;
  /** 0: a peer without SPQR is accepted; 1: it is refused. */
  readonly minVersion: 0 | 1;
  readonly chainParams: ChainParams;
}

export interface PqRatchetState {
  readonly negotiation?: Negotiation | undefined;
  readonly chain?: SpqrChain | undefined;
  readonly braid: BraidState;
}

export interface PqRatchetContext extends BraidContext {
  readonly walks?: ChainWalks | undefined;
}

export interface InitialPqRatchetOptions {
  readonly mode: 'offer' | 'require';
  readonly authKey: Uint8Array;
  /** The session's initiator sends the first ML-KEM key (SPQR direction A→B). */
  readonly initiator: boolean;
  /** A session with oneself (same identity key): no jump limit, as in libsignal. */
  readonly selfSession?: boolean;
}

export function initialPqRatchetState(ctx: BraidContext, options: InitialPqRatchetOptions): PqRatchetState {
  return {
    negotiation: {
      authKey: options.authKey.slice(),
      direction: options.initiator ? 'A2B' : 'B2A',
      minVersion: options.mode === 'require' ? 1 : 0,
      chainParams: options.selfSession
        ? { ...DEFAULT_CHAIN_PARAMS, maxJump: SELF_SESSION_MAX_JUMP }
        : DEFAULT_CHAIN_PARAMS,
    },
    braid: initialBraidState(ctx.crypto, options.authKey, options.initiator),
  };
}

function chainFromNegotiation(ctx: BraidContext, negotiation: Negotiation): SpqrChain {
  return newChain(ctx.crypto, negotiation.authKey, negotiation.direction, negotiation.chainParams);
}

/** The SPQR epoch of a state: how many epoch secrets its chain has mixed in (0 before any). */
export function spqrEpoch(state: PqRatchetState): number {
  return state.chain?.currentEpoch ?? 0;
}

export interface PqSend {
  readonly state: PqRatchetState;
  /** The pq_ratchet field of the message. */
  readonly field: Uint8Array;
  /** The salt of the message-key derivation; undefined before this side has a chain. */
  readonly key: Uint8Array | undefined;
}

export function pqRatchetSend(ctx: BraidContext, state: PqRatchetState): PqSend {
  const sent = braidSend(ctx, state.braid);
  let chain = state.chain;
  if (!chain) {
    if (!state.negotiation) throw pqRatchetError('state', 'no chain and no negotiation');
    if (state.negotiation.minVersion > 0) chain = chainFromNegotiation(ctx, state.negotiation);
  }
  let index = 0;
  let key: Uint8Array | undefined;
  if (chain) {
    if (sent.secret) chain = addEpoch(ctx.crypto, chain, sent.secret.epoch, sent.secret.secret);
    const next = sendKey(ctx.crypto, chain, sent.message.epoch - 1);
    chain = next.chain;
    index = next.index;
    key = next.key;
  }
  return {
    state: { negotiation: state.negotiation, chain, braid: sent.state },
    field: encodeBraidMessage(sent.message, index),
    key,
  };
}

/**
 * Receiving, in three steps around the message MAC. Planning decides the version and finds the
 * chain position of the message key, and says what walking there costs (`units`), so the
 * caller can charge it to the sender's budget first; `key()` walks and returns the key (the
 * salt of the message keys); `commit()`, called only after the MAC has checked, runs the braid
 * (chunk decoding, ML-KEM, authenticator) and returns the next state. A forged message never
 * reaches `commit`, so it cannot make us decapsulate or interpolate. The outcome equals SPQR's
 * single `recv`: its message key does not depend on the braid step of the same message (a
 * secret made by a message of epoch n is for epoch n, while the message's own key is of
 * epoch n − 1).
 */
export interface PqReceivePlan {
  readonly units: number;
  key(): Uint8Array | undefined;
  /** The state after the message; undefined when the session now runs without SPQR. */
  commit(): PqRatchetState | undefined;
}

/** The outcome of receiving with the key computed: `pqRatchetReceive` for callers without a budget. */
export interface PqReceive {
  readonly key: Uint8Array | undefined;
  commit(): PqRatchetState | undefined;
}

export function pqRatchetReceive(
  ctx: PqRatchetContext,
  state: PqRatchetState | undefined,
  field: Uint8Array | undefined,
  meter: WorkMeter = unmetered,
): PqReceive {
  const plan = planPqRatchetReceive(ctx, state, field);
  meter.charge(plan.units);
  return { key: plan.key(), commit: () => plan.commit() };
}

const NOTHING = { units: 0, key: () => undefined };

export function planPqRatchetReceive(
  ctx: PqRatchetContext,
  state: PqRatchetState | undefined,
  field: Uint8Array | undefined,
): PqReceivePlan {
  // Version 0 (no SPQR): the field, if any, is ignored, as an SPQR v0 state does.
  if (!state) return { ...NOTHING, commit: () => undefined };
  const message = field ?? new Uint8Array(0);
  const version = message.length === 0 ? 0 : message[0]!;
  // A version above ours: ignored (room for a later SPQR), the state stays as it is.
  if (version > SPQR_VERSION_1) return { ...NOTHING, commit: () => state };
  if (version < SPQR_VERSION_1) {
    const negotiation = state.negotiation;
    if (!negotiation) {
      throw pqRatchetError('version-mismatch', 'the peer stopped using the post-quantum ratchet');
    }
    if (version < negotiation.minVersion) {
      throw new ParleyError(
        'ERR_PEER_LACKS_SPQR',
        'the peer does not use the sparse post-quantum ratchet, which this session requires',
      );
    }
    // Negotiated down: the session continues without SPQR.
    return { ...NOTHING, commit: () => undefined };
  }
  const { message: braidMessage, index } = decodeBraidMessage(message);
  let chain = state.chain;
  if (!chain) {
    if (!state.negotiation) throw pqRatchetError('state', 'no chain and no negotiation');
    chain = chainFromNegotiation(ctx, state.negotiation);
  }
  const keyEpoch = braidMessage.epoch - 1;
  // Index 0 of epoch 0 is a message sent before its sender had a chain: no key.
  const keyed = !(keyEpoch === 0 && index === 0);
  const walk = keyed ? planReceiveKey(ctx.crypto, chain, keyEpoch, index, ctx.walks) : undefined;
  const startChain = chain;
  let key: Uint8Array | undefined;
  return {
    units: walk?.units ?? 0,
    key: () => {
      key ??= walk?.run();
      return key;
    },
    commit: () => commitReceive(ctx, state.braid, startChain, braidMessage, index, keyed),
  };
}

function commitReceive(
  ctx: PqRatchetContext,
  braid: BraidState,
  chain: SpqrChain,
  message: BraidMessage,
  index: number,
  keyed: boolean,
): PqRatchetState {
  const received = braidReceive(ctx.crypto, braid, message);
  let next = chain;
  if (received.secret) next = addEpoch(ctx.crypto, next, received.secret.epoch, received.secret.secret);
  if (keyed) next = receiveKey(ctx.crypto, next, message.epoch - 1, index, ctx.walks).chain;
  // Receiving ends the negotiation.
  return { negotiation: undefined, chain: next, braid: received.state };
}
