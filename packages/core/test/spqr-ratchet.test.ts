/**
 * The sparse post-quantum ratchet on its own: two sides exchanging pq_ratchet fields must
 * derive the same message key for every message, whatever the order, losses and repeats, and
 * the epochs must advance in both directions. Interop with libsignal is in interop-spqr.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDeterministicRandom } from '../src/crypto/random.js';
import { isParleyError } from '../src/errors.js';
import {
  initialPqRatchetState,
  type PqRatchetState,
  pqRatchetReceive,
  pqRatchetSend,
  spqrEpoch,
} from '../src/spqr/pq-ratchet.js';
import { testCrypto } from './support/parties.js';

const crypto = testCrypto();
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'none');
const AUTH = new Uint8Array(32).fill(41);

function pair(
  seed: string,
  modes: ['offer' | 'require', 'offer' | 'require'] = ['require', 'require'],
  authKey = AUTH,
) {
  const ctx = { crypto, random: createDeterministicRandom(seed) };
  const a = initialPqRatchetState(ctx, { mode: modes[0], authKey, initiator: true });
  const b = initialPqRatchetState(ctx, { mode: modes[1], authKey, initiator: false });
  return { ctx, a, b };
}

interface Sent {
  readonly field: Uint8Array;
  readonly key: string;
}

function send(ctx: { crypto: typeof crypto; random: (n: number) => Uint8Array }, state: PqRatchetState) {
  const out = pqRatchetSend(ctx, state);
  return { state: out.state, sent: { field: out.field, key: hex(out.key) } };
}

function receive(ctx: { crypto: typeof crypto }, state: PqRatchetState, sent: Sent): PqRatchetState {
  const r = pqRatchetReceive(ctx as never, state, sent.field);
  expect(hex(r.key)).toBe(sent.key);
  const next = r.commit();
  expect(next).toBeDefined();
  return next!;
}

describe('SPQR between two sides', () => {
  it('in lock step both sides agree on every key and the epoch advances both ways', () => {
    let { ctx, a, b } = pair('lockstep');
    for (let i = 0; i < 120; i++) {
      const fromA = send(ctx, a);
      a = fromA.state;
      b = receive(ctx, b, fromA.sent);
      const fromB = send(ctx, b);
      b = fromB.state;
      a = receive(ctx, a, fromB.sent);
    }
    // An epoch takes ~45 round trips (3 header and 36 key chunks one way, 30 + 5 ciphertext
    // chunks the other, partly overlapping): two in 120.
    expect(spqrEpoch(a)).toBeGreaterThanOrEqual(2);
    // The encapsulating side has an epoch's secret from its first ct1 chunk, the key side only
    // once all of ct2 arrived: they may be one epoch apart.
    expect(Math.abs(spqrEpoch(b) - spqrEpoch(a))).toBeLessThanOrEqual(1);
  });

  it('keys agree under reordering, loss and repeats (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 99 })), {
          minLength: 100,
          maxLength: 300,
        }),
        fc.string({ minLength: 1, maxLength: 8 }),
        (steps, seed) => {
          let { ctx, a, b } = pair(`prop ${seed}`);
          const inFlight: { to: 'a' | 'b'; sent: Sent }[] = [];
          const delivered = new Set<string>();
          for (const [fromA, pick, roll] of steps) {
            if (roll < 45) {
              const out = send(ctx, fromA ? a : b);
              if (fromA) a = out.state;
              else b = out.state;
              inFlight.push({ to: fromA ? 'b' : 'a', sent: out.sent });
            } else if (inFlight.length > 0) {
              const [item] = inFlight.splice(pick % inFlight.length, 1);
              if (roll < 90) {
                const id = hex(item!.sent.field);
                const target = item!.to === 'a' ? a : b;
                const r = (() => {
                  try {
                    return pqRatchetReceive(ctx, target, item!.sent.field);
                  } catch (error) {
                    // A repeat, or a message from an epoch whose keys are gone: refused, typed.
                    expect(isParleyError(error, 'ERR_PQ_RATCHET')).toBe(true);
                    return undefined;
                  }
                })();
                if (r) {
                  if (!delivered.has(id)) expect(hex(r.key)).toBe(item!.sent.key);
                  delivered.add(id);
                  const next = r.commit()!;
                  if (item!.to === 'a') a = next;
                  else b = next;
                }
              }
              // roll ≥ 90: the message is lost.
            }
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('an offering side sends no keys until it hears from the peer, then both use keys', () => {
    let { ctx, a, b } = pair('offer', ['offer', 'offer']);
    const first = send(ctx, a);
    expect(first.sent.key).toBe('none');
    a = first.state;
    b = receive(ctx, b, first.sent);
    const reply = send(ctx, b);
    expect(reply.sent.key).not.toBe('none');
    b = reply.state;
    a = receive(ctx, a, reply.sent);
    expect(send(ctx, a).sent.key).not.toBe('none');
  });

  it('a requiring side has keys from its first message', () => {
    const { ctx, a } = pair('require', ['require', 'offer']);
    expect(send(ctx, a).sent.key).not.toBe('none');
  });

  it('negotiation: an offering side falls back when the peer sends no pq_ratchet; a requiring side refuses', () => {
    const { ctx, a, b } = pair('negotiate', ['offer', 'require']);
    const fallback = pqRatchetReceive(ctx, a, undefined);
    expect(fallback.key).toBeUndefined();
    expect(fallback.commit()).toBeUndefined();
    const refusal = (() => {
      try {
        pqRatchetReceive(ctx, b, undefined);
      } catch (error) {
        return error;
      }
    })();
    expect(isParleyError(refusal, 'ERR_PEER_LACKS_SPQR')).toBe(true);
    // Once negotiated, going back to no SPQR is refused.
    const settled = receive(ctx, b, send(ctx, a).sent);
    expect(() => pqRatchetReceive(ctx, settled, undefined)).toThrow(/stopped using/);
    // A version we do not know yet is ignored and changes nothing.
    const future = pqRatchetReceive(ctx, settled, Uint8Array.of(2, 1, 1, 0));
    expect(future.key).toBeUndefined();
    expect(future.commit()).toBe(settled);
  });
});

describe('the braid authenticates what it assembles', () => {
  it('header chunks from another session are refused when the header completes, and the state is kept', () => {
    const { ctx, b } = pair('mine');
    // Another session: another SPQR key from its own PQXDH.
    const other = pair('theirs', ['require', 'require'], new Uint8Array(32).fill(42));
    let foreign = other.a;
    let state = b;
    let refusal: unknown;
    // Three chunks make the 96-byte header ‖ MAC. The message keys differ too (another chain),
    // but the braid is fed only after a message MAC passed: this is the check behind that one.
    for (let i = 0; i < 3 && !refusal; i++) {
      const sent = pqRatchetSend(other.ctx, foreign);
      foreign = sent.state;
      const received = pqRatchetReceive(ctx, state, sent.field);
      expect(hex(received.key)).not.toBe(sent.key);
      try {
        state = received.commit()!;
      } catch (error) {
        refusal = error;
      }
    }
    expect(isParleyError(refusal, 'ERR_PQ_RATCHET')).toBe(true);
    expect((refusal as { details: { reason: string } }).details.reason).toBe('authentication');
    // The state from before the failed commit still works with its own peer.
    expect(state.braid.kind).toBe('no-header-received');
  });
});
