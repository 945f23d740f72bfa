/**
 * Limits of the Double Ratchet, with libsignal's values (rust/protocol/src/consts.rs) so
 * that Parley accepts exactly what a libsignal peer may legitimately send.
 */

/** A counter may jump at most this far ahead of its chain: bounds the work one message can cause. */
export const MAX_FORWARD_JUMPS = 25_000;

/** Skipped message keys kept per receiver chain; the oldest are evicted first. */
export const MAX_MESSAGE_KEYS = 2_000;

/** Receiver chains kept per session state; older chains (and their skipped keys) are dropped. */
export const MAX_RECEIVER_CHAINS = 5;

/** Previous session states kept per address, so late messages of an old session still open. */
export const ARCHIVED_STATES_MAX_LENGTH = 40;

/** An initiator session whose prekey message was never answered is refused after this long. */
export const MAX_UNACKNOWLEDGED_SESSION_AGE_MS = 30 * 24 * 60 * 60 * 1000;
