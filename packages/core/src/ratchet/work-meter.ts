/**
 * Work a received message makes us do before its MAC can be checked. The MAC key sits at the
 * counter the message claims (and, with SPQR, behind the pq_ratchet field it carries), so a
 * forged message can demand up to MAX_FORWARD_JUMPS chain steps before it is found out. A
 * meter is charged before such work is done and refuses (by throwing a typed error) when the
 * sender's budget does not cover it; see `session/unverified-work.ts` for the budgets.
 *
 * Costs are in units of one symmetric chain step (one HMAC-SHA256 call, ~2 µs with the
 * node:crypto provider); they only need to be right within a small factor.
 */
export interface WorkMeter {
  /**
   * Accounts for `units` of work about to be done; throws when the budget cannot pay.
   * `ceiling`: the most unverified work a genuine message of this session can need — a sender
   * that has already had that much fail verification is refused sooner than the budget's
   * full size, which must cover the costliest kind of session.
   */
  charge(units: number, ceiling?: number): void;
}

/** A meter that never refuses: for callers with nothing to protect (tests, local replays). */
export const unmetered: WorkMeter = { charge: () => {} };

/** One Double Ratchet chain step. */
export const CHAIN_STEP_COST = 1;
/** A DH ratchet step: a key pair, two X25519 and two HKDF (~90 µs against ~2 µs per step). */
export const DH_STEP_COST = 48;
/** A responder handshake: four or five X25519 and, for PQXDH, a Kyber-1024 decapsulation (~1 ms). */
export const HANDSHAKE_COST = 500;
/** One SPQR chain step: an HKDF with a 64-byte output (three HMAC calls and their buffers: ~5 steps). */
export const SPQR_CHAIN_STEP_COST = 5;

/** Slack above a maximal gap: the DH step and handshake that may come with it, and then some. */
const CEILING_SLACK = 5_000;

/**
 * The most unverified work one genuine message can cause in a session: the longest walk of
 * the receiving chain and, with SPQR, of the SPQR chain.
 */
export function unverifiedWorkCeiling(maxForwardJumps: number, spqr: boolean): number {
  return maxForwardJumps * (CHAIN_STEP_COST + (spqr ? SPQR_CHAIN_STEP_COST : 0)) + CEILING_SLACK;
}
