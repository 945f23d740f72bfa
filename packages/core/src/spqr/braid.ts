import { concatBytes, utf8 } from '../bytes.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import {
  AUTHENTICATOR_MAC_LENGTH,
  type Authenticator,
  epochBytes,
  macCiphertext,
  macHeader,
  newAuthenticator,
  updateAuthenticator,
  verifyCiphertext,
  verifyHeader,
} from './authenticator.js';
import { ChunkDecoder, ChunkEncoder } from './erasure-code.js';
import {
  CIPHERTEXT1_LENGTH,
  CIPHERTEXT2_LENGTH,
  decapsulate,
  ENCAPSULATION_KEY_LENGTH,
  ENCAPSULATION_RANDOM_LENGTH,
  encapsulate1,
  encapsulate2,
  encapsulationKeyMatchesHeader,
  generateKeys,
  HEADER_LENGTH,
  KEY_GENERATION_SEED_LENGTH,
} from './incremental-ml-kem.js';
import type { BraidMessage, Payload } from './message.js';
import { pqRatchetError } from './refusal.js';

/**
 * The ML-KEM braid (SPQR v1, `v1/chunked`): the post-quantum counterpart of the DH ratchet.
 * In each epoch one side sends a fresh ML-KEM-768 key (header, then key part) and the other
 * encapsulates to it (ct1, then ct2), everything cut into erasure-coded chunks that ride one
 * per SignalMessage; the agreed secret of epoch n keys the symmetric chain of epoch n, and the
 * roles swap for epoch n + 1. Both halves can overlap: the encapsulating side starts on ct1 as
 * soon as it has the 64-byte header, the key side sends its key part as soon as ct1 starts.
 *
 * Eleven states, five on the key-sending side and six on the encapsulating side, as in SPQR.
 * Pure functions over immutable values: `send` and `receive` return new states.
 */
export type BraidState =
  // ── sending the key (send_ek) ──
  | { readonly kind: 'keys-unsampled'; readonly epoch: number; readonly auth: Authenticator }
  | {
      readonly kind: 'keys-sampled';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly encapsulationKey: Uint8Array;
      readonly decapsulationKey: Uint8Array;
      readonly sendingHeader: ChunkEncoder;
    }
  | {
      readonly kind: 'header-sent';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly decapsulationKey: Uint8Array;
      readonly sendingKey: ChunkEncoder;
      readonly receivingCiphertext1: ChunkDecoder;
    }
  | {
      readonly kind: 'ct1-received';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly decapsulationKey: Uint8Array;
      readonly ciphertext1: Uint8Array;
      readonly sendingKey: ChunkEncoder;
    }
  | {
      readonly kind: 'key-sent-ct1-received';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly decapsulationKey: Uint8Array;
      readonly ciphertext1: Uint8Array;
      readonly receivingCiphertext2: ChunkDecoder;
    }
  // ── encapsulating (send_ct) ──
  | {
      readonly kind: 'no-header-received';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly receivingHeader: ChunkDecoder;
    }
  | {
      readonly kind: 'header-received';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly header: Uint8Array;
      readonly receivingKey: ChunkDecoder;
    }
  | {
      readonly kind: 'ct1-sampled';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly header: Uint8Array;
      readonly encapsulation: Uint8Array;
      readonly ciphertext1: Uint8Array;
      readonly sendingCiphertext1: ChunkEncoder;
      readonly receivingKey: ChunkDecoder;
    }
  | {
      readonly kind: 'key-received-ct1-sampled';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly encapsulation: Uint8Array;
      readonly encapsulationKey: Uint8Array;
      readonly ciphertext1: Uint8Array;
      readonly sendingCiphertext1: ChunkEncoder;
    }
  | {
      readonly kind: 'ct1-acknowledged';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly header: Uint8Array;
      readonly encapsulation: Uint8Array;
      readonly ciphertext1: Uint8Array;
      readonly receivingKey: ChunkDecoder;
    }
  | {
      readonly kind: 'ct2-sampled';
      readonly epoch: number;
      readonly auth: Authenticator;
      readonly sendingCiphertext2: ChunkEncoder;
    };

export type BraidStateKind = BraidState['kind'];

/** What each side waits to receive, by length: header ‖ MAC, key part, ct1, ct2 ‖ MAC. */
export const HEADER_MESSAGE_LENGTH = HEADER_LENGTH + AUTHENTICATOR_MAC_LENGTH; // 96
export const KEY_MESSAGE_LENGTH = ENCAPSULATION_KEY_LENGTH; // 1 152
export const CIPHERTEXT1_MESSAGE_LENGTH = CIPHERTEXT1_LENGTH; // 960
export const CIPHERTEXT2_MESSAGE_LENGTH = CIPHERTEXT2_LENGTH + AUTHENTICATOR_MAC_LENGTH; // 160

/** An epoch's agreed secret, to be mixed into the symmetric chain. */
export interface EpochSecret {
  readonly epoch: number;
  readonly secret: Uint8Array;
}

export interface BraidContext {
  readonly crypto: CryptoProvider;
  readonly random: RandomSource;
}

const SCKA_KEY_INFO = utf8('Signal_PQCKA_V1_MLKEM768:SCKA Key');

/** The side that starts (the session's initiator) sends the first key. */
export function initialBraidState(
  crypto: CryptoProvider,
  authKey: Uint8Array,
  initiator: boolean,
): BraidState {
  const auth = newAuthenticator(crypto, authKey, 1);
  return initiator
    ? { kind: 'keys-unsampled', epoch: 1, auth }
    : {
        kind: 'no-header-received',
        epoch: 1,
        auth,
        receivingHeader: ChunkDecoder.forLength(HEADER_MESSAGE_LENGTH),
      };
}

function epochSecret(crypto: CryptoProvider, sharedSecret: Uint8Array, epoch: number): Uint8Array {
  return crypto.hkdfSha256(sharedSecret, undefined, concatBytes(SCKA_KEY_INFO, epochBytes(epoch)), 32);
}

/** The payload of our next message, and the state after it (with an epoch secret when one is made). */
export function braidSend(
  ctx: BraidContext,
  state: BraidState,
): { state: BraidState; message: BraidMessage; secret?: EpochSecret } {
  const { epoch } = state;
  const sent = (next: BraidState, payload: Payload, secret?: EpochSecret) =>
    secret
      ? { state: next, message: { epoch, payload }, secret }
      : { state: next, message: { epoch, payload } };
  switch (state.kind) {
    case 'keys-unsampled': {
      const seed = ctx.random(KEY_GENERATION_SEED_LENGTH);
      const keys = generateKeys(seed);
      seed.fill(0);
      const mac = macHeader(ctx.crypto, state.auth, epoch, keys.header);
      const [chunk, sendingHeader] = ChunkEncoder.of(concatBytes(keys.header, mac)).next();
      return sent(
        {
          kind: 'keys-sampled',
          epoch,
          auth: state.auth,
          encapsulationKey: keys.encapsulationKey,
          decapsulationKey: keys.decapsulationKey,
          sendingHeader,
        },
        { type: 'header', chunk },
      );
    }
    case 'keys-sampled': {
      const [chunk, sendingHeader] = state.sendingHeader.next();
      return sent({ ...state, sendingHeader }, { type: 'header', chunk });
    }
    case 'header-sent': {
      const [chunk, sendingKey] = state.sendingKey.next();
      return sent({ ...state, sendingKey }, { type: 'encapsulation-key', chunk });
    }
    case 'ct1-received': {
      const [chunk, sendingKey] = state.sendingKey.next();
      return sent({ ...state, sendingKey }, { type: 'encapsulation-key-ct1-ack', chunk });
    }
    case 'key-sent-ct1-received':
      return sent(state, { type: 'ct1-ack' });
    case 'no-header-received':
      return sent(state, { type: 'none' });
    case 'header-received': {
      const m = ctx.random(ENCAPSULATION_RANDOM_LENGTH);
      const first = encapsulate1(state.header, m);
      m.fill(0);
      const secret = epochSecret(ctx.crypto, first.sharedSecret, epoch);
      first.sharedSecret.fill(0);
      const auth = updateAuthenticator(ctx.crypto, state.auth, epoch, secret);
      const [chunk, sendingCiphertext1] = ChunkEncoder.of(first.ciphertext1).next();
      return sent(
        {
          kind: 'ct1-sampled',
          epoch,
          auth,
          header: state.header,
          encapsulation: first.state,
          ciphertext1: first.ciphertext1,
          sendingCiphertext1,
          receivingKey: state.receivingKey,
        },
        { type: 'ciphertext1', chunk },
        { epoch, secret },
      );
    }
    case 'ct1-sampled':
    case 'key-received-ct1-sampled': {
      const [chunk, sendingCiphertext1] = state.sendingCiphertext1.next();
      return sent({ ...state, sendingCiphertext1 }, { type: 'ciphertext1', chunk });
    }
    case 'ct1-acknowledged':
      return sent(state, { type: 'none' });
    case 'ct2-sampled': {
      const [chunk, sendingCiphertext2] = state.sendingCiphertext2.next();
      return sent({ ...state, sendingCiphertext2 }, { type: 'ciphertext2', chunk });
    }
  }
}

/** ct2 ‖ its MAC, to be sent as chunks, once both the key and the go-ahead are there. */
function sampleCiphertext2(
  crypto: CryptoProvider,
  state: { epoch: number; auth: Authenticator; encapsulation: Uint8Array; ciphertext1: Uint8Array },
  encapsulationKey: Uint8Array,
): BraidState {
  const ciphertext2 = encapsulate2(state.encapsulation, encapsulationKey);
  const mac = macCiphertext(crypto, state.auth, state.epoch, concatBytes(state.ciphertext1, ciphertext2));
  return {
    kind: 'ct2-sampled',
    epoch: state.epoch,
    auth: state.auth,
    sendingCiphertext2: ChunkEncoder.of(concatBytes(ciphertext2, mac)),
  };
}

function checkKey(header: Uint8Array, key: Uint8Array, epoch: number): void {
  if (!encapsulationKeyMatchesHeader(key, header)) {
    throw pqRatchetError('erroneous-data', 'the ML-KEM key part does not match its header', { epoch });
  }
}

/**
 * Takes in the payload of a received message. Messages of earlier epochs change nothing;
 * messages of a later epoch than this side can be in are refused, except that the
 * encapsulating side learns from epoch n + 1 that its ct2 arrived and starts sending keys.
 */
export function braidReceive(
  crypto: CryptoProvider,
  state: BraidState,
  message: BraidMessage,
): { state: BraidState; secret?: EpochSecret } {
  const unchanged = { state };
  if (message.epoch > state.epoch) {
    if (state.kind === 'ct2-sampled' && message.epoch === state.epoch + 1) {
      return { state: { kind: 'keys-unsampled', epoch: message.epoch, auth: state.auth } };
    }
    throw pqRatchetError('epoch', 'the message is from an epoch this side has not reached', {
      epoch: message.epoch,
      stateEpoch: state.epoch,
    });
  }
  if (message.epoch < state.epoch) return unchanged;
  const payload = message.payload;
  const { epoch } = state;
  switch (state.kind) {
    case 'keys-unsampled':
    case 'header-received':
    case 'ct2-sampled':
      return unchanged;
    case 'keys-sampled': {
      if (payload.type !== 'ciphertext1') return unchanged;
      return {
        state: {
          kind: 'header-sent',
          epoch,
          auth: state.auth,
          decapsulationKey: state.decapsulationKey,
          sendingKey: ChunkEncoder.of(state.encapsulationKey),
          receivingCiphertext1: ChunkDecoder.forLength(CIPHERTEXT1_MESSAGE_LENGTH).withChunk(payload.chunk),
        },
      };
    }
    case 'header-sent': {
      if (payload.type !== 'ciphertext1') return unchanged;
      const receivingCiphertext1 = state.receivingCiphertext1.withChunk(payload.chunk);
      const ciphertext1 = receivingCiphertext1.decoded();
      if (!ciphertext1) return { state: { ...state, receivingCiphertext1 } };
      return {
        state: {
          kind: 'ct1-received',
          epoch,
          auth: state.auth,
          decapsulationKey: state.decapsulationKey,
          ciphertext1,
          sendingKey: state.sendingKey,
        },
      };
    }
    case 'ct1-received': {
      if (payload.type !== 'ciphertext2') return unchanged;
      return {
        state: {
          kind: 'key-sent-ct1-received',
          epoch,
          auth: state.auth,
          decapsulationKey: state.decapsulationKey,
          ciphertext1: state.ciphertext1,
          receivingCiphertext2: ChunkDecoder.forLength(CIPHERTEXT2_MESSAGE_LENGTH).withChunk(payload.chunk),
        },
      };
    }
    case 'key-sent-ct1-received': {
      if (payload.type !== 'ciphertext2') return unchanged;
      const receivingCiphertext2 = state.receivingCiphertext2.withChunk(payload.chunk);
      const decoded = receivingCiphertext2.decoded();
      if (!decoded) return { state: { ...state, receivingCiphertext2 } };
      const ciphertext2 = decoded.subarray(0, CIPHERTEXT2_LENGTH);
      const mac = decoded.subarray(CIPHERTEXT2_LENGTH);
      const shared = decapsulate(state.decapsulationKey, state.ciphertext1, ciphertext2);
      const secret = epochSecret(crypto, shared, epoch);
      shared.fill(0);
      const auth = updateAuthenticator(crypto, state.auth, epoch, secret);
      verifyCiphertext(crypto, auth, epoch, concatBytes(state.ciphertext1, ciphertext2), mac);
      return {
        state: {
          kind: 'no-header-received',
          epoch: epoch + 1,
          auth,
          receivingHeader: ChunkDecoder.forLength(HEADER_MESSAGE_LENGTH),
        },
        secret: { epoch, secret },
      };
    }
    case 'no-header-received': {
      if (payload.type !== 'header') return unchanged;
      const receivingHeader = state.receivingHeader.withChunk(payload.chunk);
      const decoded = receivingHeader.decoded();
      if (!decoded) return { state: { ...state, receivingHeader } };
      const header = decoded.slice(0, HEADER_LENGTH);
      verifyHeader(crypto, state.auth, epoch, header, decoded.subarray(HEADER_LENGTH));
      return {
        state: {
          kind: 'header-received',
          epoch,
          auth: state.auth,
          header,
          receivingKey: ChunkDecoder.forLength(KEY_MESSAGE_LENGTH),
        },
      };
    }
    case 'ct1-sampled': {
      if (payload.type !== 'encapsulation-key' && payload.type !== 'encapsulation-key-ct1-ack')
        return unchanged;
      const acknowledged = payload.type === 'encapsulation-key-ct1-ack';
      const receivingKey = state.receivingKey.withChunk(payload.chunk);
      const key = receivingKey.decoded();
      if (key) {
        checkKey(state.header, key, epoch);
        if (acknowledged) return { state: sampleCiphertext2(crypto, state, key) };
        return {
          state: {
            kind: 'key-received-ct1-sampled',
            epoch,
            auth: state.auth,
            encapsulation: state.encapsulation,
            encapsulationKey: key,
            ciphertext1: state.ciphertext1,
            sendingCiphertext1: state.sendingCiphertext1,
          },
        };
      }
      if (acknowledged) {
        return {
          state: {
            kind: 'ct1-acknowledged',
            epoch,
            auth: state.auth,
            header: state.header,
            encapsulation: state.encapsulation,
            ciphertext1: state.ciphertext1,
            receivingKey,
          },
        };
      }
      return { state: { ...state, receivingKey } };
    }
    case 'key-received-ct1-sampled': {
      if (payload.type !== 'ct1-ack' && payload.type !== 'encapsulation-key-ct1-ack') return unchanged;
      return { state: sampleCiphertext2(crypto, state, state.encapsulationKey) };
    }
    case 'ct1-acknowledged': {
      // In order, no key chunk comes after the first acknowledgement; out of order they do.
      if (payload.type !== 'encapsulation-key' && payload.type !== 'encapsulation-key-ct1-ack')
        return unchanged;
      const receivingKey = state.receivingKey.withChunk(payload.chunk);
      const key = receivingKey.decoded();
      if (!key) return { state: { ...state, receivingKey } };
      checkKey(state.header, key, epoch);
      return { state: sampleCiphertext2(crypto, state, key) };
    }
  }
}
