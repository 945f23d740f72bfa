import { utf8 } from '../bytes.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { ChainPosition, ChainWalks } from '../ratchet/chain-walks.js';
import { SkippedKeys } from '../ratchet/skipped-keys.js';
import { SPQR_CHAIN_STEP_COST, unmetered, type WorkMeter } from '../ratchet/work-meter.js';
import { pqRatchetError } from './refusal.js';

/**
 * SPQR's symmetric ratchet (`chain.rs`): one pair of KDF chains (sending, receiving) per epoch,
 * each new epoch keyed by the braid's epoch secret through a root chain. Message keys come out
 * of the chain of the epoch a message names; out-of-order keys of an epoch are kept, at most
 * `maxOooKeys` back. All functions are pure: they return new values and never change their
 * inputs, so a decrypt can compute on the stored state and keep it only when the MAC checks.
 */
export type Direction = 'A2B' | 'B2A';

export interface ChainParams {
  /** A key more than this far ahead of its chain is refused. */
  readonly maxJump: number;
  /** Keys are kept at least this far back for out-of-order messages. */
  readonly maxOooKeys: number;
}

/** libsignal's values (`MAX_FORWARD_JUMPS`, `MAX_MESSAGE_KEYS`). */
export const DEFAULT_CHAIN_PARAMS: ChainParams = { maxJump: 25_000, maxOooKeys: 2_000 };
/** A session with oneself has no jump limit in libsignal. */
export const SELF_SESSION_MAX_JUMP = 0xffff_ffff;

/** One direction of one epoch: the counter of the last key produced, the next chain key, and kept keys. */
export interface EpochDirection {
  readonly counter: number;
  /** Undefined once the epoch can no longer send (older send epochs are cleared). */
  readonly next: Uint8Array | undefined;
  /** Keys produced but not yet used, by index (ascending insertion). */
  readonly kept: SkippedKeys;
}

export interface ChainLink {
  readonly send: EpochDirection;
  readonly receive: EpochDirection;
}

export interface SpqrChain {
  readonly direction: Direction;
  readonly currentEpoch: number;
  readonly sendEpoch: number;
  /** Links of epochs currentEpoch − links.length + 1 … currentEpoch. */
  readonly links: readonly ChainLink[];
  readonly nextRoot: Uint8Array;
  readonly params: ChainParams;
}

const START_INFO = utf8('Signal PQ Ratchet V1 Chain  Start');
const ADD_EPOCH_INFO = utf8('Signal PQ Ratchet V1 Chain Add Epoch');
const NEXT_INFO = utf8('Signal PQ Ratchet V1 Chain Next');
/** Epochs kept before the current send epoch (late messages of the previous epoch still open). */
const EPOCHS_KEPT_BEFORE_SEND_EPOCH = 1;
const WALK_DOMAIN = 'spqr';

function linkFor(okm: Uint8Array, direction: Direction): ChainLink {
  const a2b = okm.slice(32, 64);
  const b2a = okm.slice(64, 96);
  const fresh = (next: Uint8Array): EpochDirection => ({ counter: 0, next, kept: SkippedKeys.empty() });
  return direction === 'A2B'
    ? { send: fresh(a2b), receive: fresh(b2a) }
    : { send: fresh(b2a), receive: fresh(a2b) };
}

export function newChain(
  crypto: CryptoProvider,
  initialKey: Uint8Array,
  direction: Direction,
  params: ChainParams,
): SpqrChain {
  const okm = crypto.hkdfSha256(initialKey, undefined, START_INFO, 96);
  return {
    direction,
    currentEpoch: 0,
    sendEpoch: 0,
    links: [linkFor(okm, direction)],
    nextRoot: okm.slice(0, 32),
    params,
  };
}

/** Mixes in the braid's secret of epoch `epoch` (which must be the next one). */
export function addEpoch(
  crypto: CryptoProvider,
  chain: SpqrChain,
  epoch: number,
  secret: Uint8Array,
): SpqrChain {
  if (epoch !== chain.currentEpoch + 1) {
    throw pqRatchetError('state', 'epoch secrets must arrive in order', {
      epoch,
      currentEpoch: chain.currentEpoch,
    });
  }
  const okm = crypto.hkdfSha256(secret, chain.nextRoot, ADD_EPOCH_INFO, 96);
  return {
    ...chain,
    currentEpoch: epoch,
    nextRoot: okm.slice(0, 32),
    links: [...chain.links, linkFor(okm, chain.direction)],
  };
}

function linkIndex(chain: SpqrChain, epoch: number): number {
  const back = chain.currentEpoch - epoch;
  if (epoch > chain.currentEpoch || back >= chain.links.length) {
    throw pqRatchetError('epoch', 'no keys for this epoch', { epoch, currentEpoch: chain.currentEpoch });
  }
  return chain.links.length - 1 - back;
}

/** One chain step: counter + 1, HKDF(0³², next, counter ‖ label) → next ‖ key. */
function step(crypto: CryptoProvider, position: ChainPosition): { position: ChainPosition; key: Uint8Array } {
  const counter = position.index + 1;
  const info = new Uint8Array(4 + NEXT_INFO.length);
  new DataView(info.buffer).setUint32(0, counter);
  info.set(NEXT_INFO, 4);
  const okm = crypto.hkdfSha256(position.key, undefined, info, 64);
  return { position: { index: counter, key: okm.slice(0, 32) }, key: okm.slice(32, 64) };
}

function replaceLink(chain: SpqrChain, index: number, link: ChainLink): readonly ChainLink[] {
  const links = chain.links.slice();
  links[index] = link;
  return links;
}

/** The key for our next message, sent in epoch `epoch`; older epochs stop sending. */
export function sendKey(
  crypto: CryptoProvider,
  chain: SpqrChain,
  epoch: number,
): { chain: SpqrChain; index: number; key: Uint8Array } {
  if (epoch < chain.sendEpoch) {
    throw pqRatchetError('state', 'the sending epoch cannot go back', { epoch, sendEpoch: chain.sendEpoch });
  }
  let at = linkIndex(chain, epoch);
  let links = chain.links;
  if (chain.sendEpoch !== epoch) {
    links = links.slice(Math.max(0, at - EPOCHS_KEPT_BEFORE_SEND_EPOCH));
    at = Math.min(at, EPOCHS_KEPT_BEFORE_SEND_EPOCH);
    links = links.map((link, i) => (i < at ? { ...link, send: { ...link.send, next: undefined } } : link));
  }
  const direction = links[at]!.send;
  if (!direction.next) throw pqRatchetError('state', 'this epoch can no longer send', { epoch });
  const { position, key } = step(crypto, { index: direction.counter, key: direction.next });
  const updated = links.slice();
  updated[at] = { ...links[at]!, send: { ...direction, counter: position.index, next: position.key } };
  return { chain: { ...chain, sendEpoch: epoch, links: updated }, index: position.index, key };
}

function checkReceive(chain: SpqrChain, direction: EpochDirection, index: number): void {
  if (index > direction.counter) {
    if (index - direction.counter > chain.params.maxJump) {
      throw pqRatchetError('jump', 'message index too far ahead of its chain', {
        index,
        counter: direction.counter,
        limit: chain.params.maxJump,
      });
    }
    if (!direction.next) throw pqRatchetError('state', 'this epoch has no receiving chain', { index });
    return;
  }
  if (index === direction.counter)
    throw pqRatchetError('key-used', 'this message key was already used', { index });
  if (index + chain.params.maxOooKeys < direction.counter) {
    throw pqRatchetError('key-trimmed', 'this message key is too old and was dropped', { index });
  }
  if (!direction.kept.has(index))
    throw pqRatchetError('key-used', 'this message key was already used', { index });
}

/** The pre-MAC part of receiving one key: what it will cost, and the walk itself. */
export interface ReceiveKeyPlan {
  /** Work units (`SPQR_CHAIN_STEP_COST` per step) the walk will take. */
  readonly units: number;
  /** Walks (remembering the walk in `walks`) and returns the key. */
  run(): Uint8Array;
}

/**
 * The key of message `index` of epoch `epoch`, computed without changing anything — the part of
 * receiving that must happen before the message MAC can be checked. Planned first, so that the
 * caller can charge the walk to the sender's budget before doing it; remembered in `walks`, so
 * the same forged index never costs twice.
 */
export function planReceiveKey(
  crypto: CryptoProvider,
  chain: SpqrChain,
  epoch: number,
  index: number,
  walks?: ChainWalks,
): ReceiveKeyPlan {
  const direction = chain.links[linkIndex(chain, epoch)]!.receive;
  checkReceive(chain, direction, index);
  if (index < direction.counter) {
    const key = direction.kept.get(index)!;
    return { units: 0, run: () => key };
  }
  const start: ChainPosition = { index: direction.counter, key: direction.next! };
  const from = walks?.nearest(WALK_DOMAIN, start, index - 1) ?? start;
  return {
    units: (index - from.index) * SPQR_CHAIN_STEP_COST,
    run() {
      let position = from;
      while (position.index < index - 1) {
        position = step(crypto, position).position;
        walks?.record(WALK_DOMAIN, start, position);
      }
      // The key of `index` is the output of the step from index − 1: keep that position, so a
      // repeat costs one step.
      if (position !== start) walks?.record(WALK_DOMAIN, start, position, true);
      return step(crypto, position).key;
    },
  };
}

/** `planReceiveKey`, charged to `meter` and run. */
export function peekReceiveKey(
  crypto: CryptoProvider,
  chain: SpqrChain,
  epoch: number,
  index: number,
  walks?: ChainWalks,
  meter: WorkMeter = unmetered,
): Uint8Array {
  const plan = planReceiveKey(crypto, chain, epoch, index, walks);
  meter.charge(plan.units);
  return plan.run();
}

/**
 * Receives message `index` of epoch `epoch`: its key, and the chain with that key used, the
 * keys skipped on the way kept (the newest `maxOooKeys`), and the kept keys trimmed when there
 * are more than 10 % too many — exactly as SPQR's `KeyHistory` does.
 */
export function receiveKey(
  crypto: CryptoProvider,
  chain: SpqrChain,
  epoch: number,
  index: number,
  walks?: ChainWalks,
): { chain: SpqrChain; key: Uint8Array } {
  const at = linkIndex(chain, epoch);
  const link = chain.links[at]!;
  const direction = link.receive;
  checkReceive(chain, direction, index);
  const { maxOooKeys } = chain.params;
  if (index < direction.counter) {
    // Chains are immutable values here: a copy (one memcpy of the stored form) is changed.
    const kept = direction.kept.clone();
    const key = kept.get(index)!;
    kept.delete(index);
    const updated = { ...link, receive: { ...direction, kept } };
    return { chain: { ...chain, links: replaceLink(chain, at, updated) }, key };
  }
  const kept = index > direction.counter + maxOooKeys ? SkippedKeys.empty() : direction.kept.clone();
  const walked: [number, Uint8Array][] = [];
  const start: ChainPosition = { index: direction.counter, key: direction.next! };
  // Keys before index − maxOooKeys would be dropped at once: start the walk past them.
  const firstKept = index - maxOooKeys;
  let position = start;
  if (firstKept - 1 > start.index) position = walks?.nearest(WALK_DOMAIN, start, firstKept - 1) ?? start;
  while (position.index < index - 1) {
    const next = step(crypto, position);
    position = next.position;
    if (position.index >= firstKept) walked.push([position.index, next.key]);
  }
  // The walk starts at the counter, past every key kept: appending keeps them ascending.
  kept.append(walked);
  const last = step(crypto, position);
  // SPQR collects garbage only when the history has grown 10 % past its size.
  if (kept.size >= Math.floor((maxOooKeys * 11) / 10) + 1) {
    const horizon = position.index - maxOooKeys;
    kept.dropBelow(horizon);
  }
  const updated = {
    ...link,
    receive: { counter: last.position.index, next: last.position.key, kept },
  };
  return { chain: { ...chain, links: replaceLink(chain, at, updated) }, key: last.key };
}
