import type { ProtocolAddress } from '../session/address.js';
import type { GroupId } from './group-id.js';

/** What a membership policy is asked. */
export interface MembershipQuestion {
  readonly group: GroupId;
  /** The member device that sent the distribution message or the group message. */
  readonly sender: ProtocolAddress;
  /**
   * `distribution`: its sender key is about to be stored. `message`: one of its group messages
   * is about to be decrypted — asked too, so that a member removed from the group cannot post
   * with the key it still has here even if deleting that key did not happen (or not yet).
   */
  readonly purpose: 'distribution' | 'message';
}

/**
 * Who belongs to a group is the caller's knowledge (a gateway's member list, a client's group
 * state), not the protocol's: distribution messages name no group in the `signal` format and
 * are only as trustworthy as the 1:1 session that carried them. Parley asks this hook before
 * it stores a sender key and before it decrypts a group message; anything but `true` refuses
 * with `ERR_NOT_GROUP_MEMBER` and stores nothing.
 */
export interface MembershipPolicy {
  /** For diagnostics (appears in error details and summaries). */
  readonly name: string;
  isMember(question: MembershipQuestion): boolean | Promise<boolean>;
}
