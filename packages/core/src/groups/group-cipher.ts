import type { ProtocolAddress } from '../session/address.js';
import type { GroupId } from './group-id.js';
import type {
  GroupCiphertext,
  GroupDecryptResult,
  GroupDistribution,
  GroupSessions,
  GroupWriteOptions,
  ProcessedDistribution,
} from './group-sessions.js';

/**
 * libsignal-shaped views of a `GroupSessions` bound to one group, for code that knows
 * libsignal-protocol's GroupSessionBuilder / GroupCipher (whose `SenderKeyName` is a group and
 * a sender). They add no behaviour of their own.
 */
export class GroupSessionBuilder {
  constructor(
    private readonly groups: GroupSessions,
    readonly group: GroupId,
  ) {}

  /** Our distribution message for the group (creating our chain on first use). */
  create(options?: GroupWriteOptions<GroupDistribution>): Promise<GroupDistribution> {
    return this.groups.createDistribution(this.group, options);
  }

  /** A member device's distribution message, received over its 1:1 session. */
  process(
    sender: ProtocolAddress,
    message: Uint8Array,
    options?: GroupWriteOptions<ProcessedDistribution>,
  ): Promise<ProcessedDistribution> {
    return this.groups.processDistribution(this.group, sender, message, options);
  }
}

export class GroupCipher {
  constructor(
    private readonly groups: GroupSessions,
    readonly group: GroupId,
  ) {}

  encrypt(plaintext: Uint8Array, options?: GroupWriteOptions<GroupCiphertext>): Promise<GroupCiphertext> {
    return this.groups.encrypt(this.group, plaintext, options);
  }

  decrypt(
    sender: ProtocolAddress,
    message: Uint8Array,
    options?: GroupWriteOptions<GroupDecryptResult>,
  ): Promise<GroupDecryptResult> {
    return this.groups.decrypt(this.group, sender, message, options);
  }
}
