/**
 * Limits of sender-key (group) state, with libsignal's values (`rust/protocol/src/consts.rs`,
 * used by `group_cipher.rs` and `sender_keys.rs`), so that Parley accepts exactly what a
 * libsignal or WhatsApp-family sender may legitimately send, and no sender can make a
 * receiver's state grow without bound.
 */

/**
 * Chains kept per sender per group (libsignal `MAX_SENDER_KEY_STATES`, Baileys `MAX_STATES`):
 * a rotation adds a chain, and the previous ones stay so that messages sent on them just
 * before the rotation still open. The oldest is dropped first.
 */
export const MAX_SENDER_KEY_STATES = 5;

/**
 * Skipped message keys kept per chain (libsignal `MAX_MESSAGE_KEYS`, Baileys
 * `MAX_MESSAGE_KEYS`); the oldest are evicted first, never refused. Baileys reaches this bound
 * in ordinary traffic: after its first message it only sends even iterations, so every message
 * it sends leaves one key behind at each receiver that will never be used.
 */
export const MAX_SENDER_MESSAGE_KEYS = 2_000;

/**
 * How far one message may jump ahead of its chain (libsignal `MAX_FORWARD_JUMPS`, which
 * `group_cipher.rs` applies to sender keys; Baileys refuses beyond 2 000). Bounds the HMAC work
 * one message can cause (two HMACs per step). Taken from libsignal, the more lenient peer, so
 * that no legitimate sender is refused; only the newest MAX_SENDER_MESSAGE_KEYS are kept.
 */
export const MAX_SENDER_KEY_FORWARD_JUMPS = 25_000;

/**
 * The iteration is a uint32 on the wire. A chain whose next iteration would not fit is used
 * up (libsignal: "Sender chain is too long"): the sender must rotate.
 */
export const MAX_SENDER_KEY_ITERATION = 0xffff_ffff;
