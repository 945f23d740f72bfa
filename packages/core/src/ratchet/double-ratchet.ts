import { constantTimeEqual } from '../crypto/constant-time.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { agree, generateKeyPair, type KeyPair } from '../keys/curve.js';
import { type PqReceivePlan, planPqRatchetReceive, pqRatchetSend } from '../spqr/pq-ratchet.js';
import { appendMac, type DecodedSignalMessage, encodeSignalMessageBody } from '../wire/signal-message.js';
import { type ChainKey, messageKeySeed, nextChainKey } from './chain-key.js';
import type { ChainWalks, RememberedStep } from './chain-walks.js';
import { MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS, MAX_RECEIVER_CHAINS } from './limits.js';
import { deriveMessageKeys } from './message-keys.js';
import { ratchetRootKey } from './root-key.js';
import type { ReceiverChain, SessionState } from './session-state.js';
import { SkippedKeys } from './skipped-keys.js';
import {
  CHAIN_STEP_COST,
  DH_STEP_COST,
  unmetered,
  unverifiedWorkCeiling,
  type WorkMeter,
} from './work-meter.js';

/** The wire MAC is the first 8 bytes of HMAC-SHA256 (libsignal MAC_LENGTH). */
const MAC_LENGTH = 8;

export interface RatchetContext {
  readonly crypto: CryptoProvider;
  readonly random: RandomSource;
  /** Where walks done for unverified messages are remembered (see chain-walks.ts); optional. */
  readonly walks?: ChainWalks | undefined;
}

/** Walks of receiver chains are remembered under this name in `ChainWalks`. */
const WALK_DOMAIN = 'receiver';

function messageMac(
  crypto: CryptoProvider,
  macKey: Uint8Array,
  senderIdentity: Uint8Array,
  receiverIdentity: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  const input = new Uint8Array(senderIdentity.length + receiverIdentity.length + body.length);
  input.set(senderIdentity, 0);
  input.set(receiverIdentity, senderIdentity.length);
  input.set(body, senderIdentity.length + receiverIdentity.length);
  return crypto.hmacSha256(macKey, input).subarray(0, MAC_LENGTH);
}

/**
 * Encrypts one message on the sending chain and advances it. Mutates `state`; the caller
 * commits it (or drops it when the commit fails). Returns the complete SignalMessage bytes
 * (version ‖ protobuf ‖ MAC).
 */
export function ratchetEncrypt(ctx: RatchetContext, state: SessionState, plaintext: Uint8Array): Uint8Array {
  const { crypto } = ctx;
  const chain = state.sender.chainKey;
  // SPQR first (libsignal's order): its message key salts the message-key derivation.
  const pq = state.spqr ? pqRatchetSend(ctx, state.spqr) : undefined;
  const keys = deriveMessageKeys(crypto, messageKeySeed(crypto, chain), chain.index, pq?.key);
  const ciphertext = crypto.aes256CbcEncrypt(keys.cipherKey, keys.iv, plaintext);
  const body = encodeSignalMessageBody({
    version: state.version,
    ratchetKey: state.sender.ratchetKeyPair.publicKey,
    counter: chain.index,
    previousCounter: state.previousCounter,
    ciphertext,
    pqRatchet: pq?.field,
  });
  const mac = messageMac(crypto, keys.macKey, state.localIdentityKey, state.remoteIdentityKey, body);
  state.sender.chainKey = nextChainKey(crypto, chain);
  if (pq) state.spqr = pq.state;
  return appendMac(body, mac);
}

/** A DH ratchet step computed but not yet applied to the state. */
interface PendingStep {
  readonly chain: ReceiverChain;
  readonly rootKey: Uint8Array;
  readonly sender: { ratchetKeyPair: KeyPair; chainKey: ChainKey };
}

/** Where the message key came from, so the state can be advanced once the MAC checks. */
type KeySource =
  | { readonly kind: 'skipped' }
  | {
      readonly kind: 'chain';
      /** The chain key at the message's counter. */
      readonly at: ChainKey;
      /** Seeds of the skipped messages still to keep; absent when the walk started at a cached position. */
      readonly newSkipped: readonly [number, Uint8Array][] | undefined;
    };

/**
 * Decrypts one SignalMessage with `state`. Everything is computed aside first — a new
 * receiving chain, the message key, the skipped keys on the way — and written into the
 * state only after the MAC has checked (constant time) and AES has succeeded, so a message
 * that fails leaves `state` exactly as it was (the Double Ratchet's "try, then commit").
 */
export function ratchetDecrypt(
  ctx: RatchetContext,
  state: SessionState,
  message: DecodedSignalMessage,
  meter: WorkMeter = unmetered,
): Uint8Array {
  const { crypto } = ctx;
  if (message.version !== state.version) {
    throw new ParleyError('ERR_VERSION_MISMATCH', 'message version differs from the session version', {
      messageVersion: message.version,
      sessionVersion: state.version,
    });
  }
  // Everything done before the MAC can be checked is planned, charged to the sender's budget
  // and only then done: a budget that cannot pay does none of it. The DH step of a new ratchet
  // key, the walk of the receiving chain to the claimed counter, and the walk of the SPQR
  // chain to the claimed index (the pq_ratchet field is read only as far as its key, which
  // salts the message keys; its braid step runs after the MAC, in `commit`).
  const ceiling = unverifiedWorkCeiling(MAX_FORWARD_JUMPS, state.spqr !== undefined);
  const existing = findReceiverChain(state, message.ratchetKey);
  // The Double Ratchet's refusals (a duplicate, a gap too large) come first, as in libsignal.
  const planPq = () => planPqRatchetReceive(ctx, state.spqr, message.pqRatchet);
  let pq: PqReceivePlan;
  let step: PendingStep | undefined;
  let walk: MessageKeyPlan;
  if (existing) {
    walk = planMessageKeys(ctx, existing, message.counter);
    pq = planPq();
    meter.charge(walk.units + pq.units, ceiling);
  } else {
    const remembered = ctx.walks?.rememberedStep(
      state.rootKey,
      state.sender.ratchetKeyPair.publicKey,
      message.ratchetKey,
    );
    if (remembered) {
      step = stepFromRemembered(message.ratchetKey, remembered);
      walk = planMessageKeys(ctx, step.chain, message.counter);
      pq = planPq();
      meter.charge(walk.units + pq.units, ceiling);
    } else {
      // A chain never derived before: no walk of it can be remembered either.
      checkGap(message.counter, 0);
      pq = planPq();
      meter.charge(DH_STEP_COST + message.counter * CHAIN_STEP_COST + pq.units, ceiling);
      step = computeRatchetStep(ctx, state, message.ratchetKey);
      walk = planMessageKeys(ctx, step.chain, message.counter);
    }
  }
  const chain = existing ?? step!.chain;
  const { seed, source } = walk.run();
  const keys = deriveMessageKeys(crypto, seed, message.counter, pq.key());
  const expected = messageMac(
    crypto,
    keys.macKey,
    state.remoteIdentityKey,
    state.localIdentityKey,
    message.body,
  );
  if (!constantTimeEqual(expected, message.mac)) {
    throw new ParleyError('ERR_INVALID_MAC', 'message authentication failed', { counter: message.counter });
  }
  const plaintext = crypto.aes256CbcDecrypt(keys.cipherKey, keys.iv, message.ciphertext);
  // May still refuse (an SPQR authenticator or chunk check): before anything is applied.
  const spqr = pq.commit();

  // Success: apply what was computed.
  state.spqr = spqr;
  if (step) {
    state.receivers.push(step.chain);
    if (state.receivers.length > MAX_RECEIVER_CHAINS) state.receivers.shift();
    state.rootKey = step.rootKey;
    state.previousCounter = Math.max(state.sender.chainKey.index - 1, 0);
    state.sender = step.sender;
  }
  if (source.kind === 'skipped') {
    chain.skipped.delete(message.counter);
  } else {
    // Walks only go forward, past every key held: appending keeps them ascending.
    chain.skipped.append(source.newSkipped ?? skippedSeeds(ctx, chain.chainKey, message.counter));
    chain.skipped.trimTo(MAX_MESSAGE_KEYS);
    chain.chainKey = nextChainKey(crypto, source.at);
  }
  // A reply from the responder proves our prekey message arrived.
  state.pendingPreKey = undefined;
  return plaintext;
}

/**
 * DH ratchet step (Double Ratchet spec 3.5): their new ratchet key opens a receiving chain,
 * and a fresh key pair of ours opens the next sending chain.
 */
function computeRatchetStep(
  ctx: RatchetContext,
  state: SessionState,
  theirRatchetKey: Uint8Array,
): PendingStep {
  const { crypto } = ctx;
  const receiving = ratchetRootKey(
    crypto,
    state.rootKey,
    agree(crypto, state.sender.ratchetKeyPair.privateKey, theirRatchetKey),
  );
  const ourNewRatchet = generateKeyPair(ctx);
  const sending = ratchetRootKey(
    crypto,
    receiving.rootKey,
    agree(crypto, ourNewRatchet.privateKey, theirRatchetKey),
  );
  ctx.walks?.rememberStep(state.rootKey, state.sender.ratchetKeyPair.publicKey, theirRatchetKey, {
    rootKey: sending.rootKey,
    receivingChainKey: receiving.chainKey.key,
    senderPublicKey: ourNewRatchet.publicKey,
    senderPrivateKey: ourNewRatchet.privateKey,
    sendingChainKey: sending.chainKey.key,
  });
  return {
    chain: { ratchetKey: theirRatchetKey, chainKey: receiving.chainKey, skipped: SkippedKeys.empty() },
    rootKey: sending.rootKey,
    sender: { ratchetKeyPair: ourNewRatchet, chainKey: sending.chainKey },
  };
}

/** A remembered DH step as fresh state objects (the state may change them once it is applied). */
function stepFromRemembered(theirRatchetKey: Uint8Array, step: RememberedStep): PendingStep {
  return {
    chain: {
      ratchetKey: theirRatchetKey,
      chainKey: { key: step.receivingChainKey, index: 0 },
      skipped: SkippedKeys.empty(),
    },
    rootKey: step.rootKey,
    sender: {
      ratchetKeyPair: { publicKey: step.senderPublicKey, privateKey: step.senderPrivateKey },
      chainKey: { key: step.sendingChainKey, index: 0 },
    },
  };
}

function findReceiverChain(state: SessionState, ratchetKey: Uint8Array): ReceiverChain | undefined {
  for (const chain of state.receivers) {
    if (publicKeysEqual(chain.ratchetKey, ratchetKey)) return chain;
  }
  return undefined;
}

function publicKeysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

function checkGap(counter: number, chainIndex: number): void {
  if (counter - chainIndex > MAX_FORWARD_JUMPS) {
    throw new ParleyError('ERR_MESSAGE_GAP_TOO_LARGE', 'message counter is too far ahead of its chain', {
      counter,
      chainIndex,
      limit: MAX_FORWARD_JUMPS,
    });
  }
}

/** Where a message key will come from, what reaching it costs, and the walk itself. */
interface MessageKeyPlan {
  readonly units: number;
  run(): { seed: Uint8Array; source: KeySource };
}

function planMessageKeys(ctx: RatchetContext, chain: ReceiverChain, counter: number): MessageKeyPlan {
  const { crypto, walks } = ctx;
  const current = chain.chainKey.index;
  if (counter < current) {
    const seed = chain.skipped.get(counter);
    if (seed === undefined) {
      throw new ParleyError(
        'ERR_DUPLICATE_MESSAGE',
        'message was already received (or its key was evicted)',
        {
          counter,
          chainIndex: current,
        },
      );
    }
    return { units: 0, run: () => ({ seed, source: { kind: 'skipped' } }) };
  }
  checkGap(counter, current);
  // The walk to the claimed counter happens before the MAC can be checked: it is charged to
  // the sender's budget and remembered, so a forged frame never costs the same walk twice.
  const start = chain.chainKey;
  const from = walks?.nearest(WALK_DOMAIN, start, counter) ?? start;
  return {
    units: (counter - from.index) * CHAIN_STEP_COST,
    run() {
      // Walking from the committed key, the seeds of the messages skipped on the way are
      // collected as we go — only the newest MAX_MESSAGE_KEYS can survive, so older ones are
      // never computed. From a cached position they are computed after the MAC has checked
      // (skippedSeeds).
      let key = from;
      const collect = key === start;
      const keepFrom = counter - MAX_MESSAGE_KEYS;
      const newSkipped: [number, Uint8Array][] = [];
      while (key.index < counter) {
        if (collect && key.index >= keepFrom) newSkipped.push([key.index, messageKeySeed(crypto, key)]);
        key = nextChainKey(crypto, key);
        walks?.record(WALK_DOMAIN, start, key);
      }
      if (key !== start) walks?.record(WALK_DOMAIN, start, key, true);
      return {
        seed: messageKeySeed(crypto, key),
        source: { kind: 'chain', at: key, newSkipped: collect ? newSkipped : undefined },
      };
    },
  };
}

/**
 * Seeds of the messages between `start` and `counter` that are kept as skipped keys, for a
 * message whose key came from a cached position. Runs only after the MAC checked.
 */
function skippedSeeds(ctx: RatchetContext, start: ChainKey, counter: number): [number, Uint8Array][] {
  const { crypto, walks } = ctx;
  const keepFrom = Math.max(start.index, counter - MAX_MESSAGE_KEYS);
  let key = walks?.nearest(WALK_DOMAIN, start, keepFrom) ?? start;
  const seeds: [number, Uint8Array][] = [];
  while (key.index < counter) {
    if (key.index >= keepFrom) seeds.push([key.index, messageKeySeed(crypto, key)]);
    key = nextChainKey(crypto, key);
  }
  return seeds;
}
