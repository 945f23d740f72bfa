import { toHex, utf8 } from '../bytes.js';
import type { GatewayContext } from './context.js';

/**
 * A member's tag within one group message, for that message's frame ids
 * (`{messageId}.{deviceId}.{attempt}.{tag}`, and `.k` on the distribution frame) and the keys of
 * its stored distribution frames: the transport routes by number and never sees the business's
 * pseudonyms, and the tag differs from message to message (64 bits: no two members of a group
 * share one).
 */
export function memberTag(g: GatewayContext, id: string, pseudonym: string): string {
  return toHex(g.crypto.sha256(utf8(`parley/group-member/v1\u0000${id}\u0000${pseudonym}`))).slice(0, 16);
}
