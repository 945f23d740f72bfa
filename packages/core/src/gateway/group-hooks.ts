import type { ErrorCode } from '../errors.js';
import type { ExpectedVersion, WriteOperation } from '../storage/contract.js';
import type { BusinessContext } from './context.js';
import type { MessageRecord } from './durable/records.js';
import type { GroupErasure } from './groups.js';
import type { OpenContent } from './outbound.js';
import type { InboundFrame, MessageId, ReceiveOutcome } from './types.js';
import type { ParsedFrameId } from './validation.js';

/**
 * Where the 1:1 paths hand group work over. Groups build on the 1:1 sessions (a distribution
 * message travels over them), so the group modules import inbound.ts and outbound.ts, and
 * those reach the group modules only through these hooks, which the Gateway registers on its
 * context: each concept keeps one direction of dependency (test/module-graph.test.ts).
 */
export interface GroupHooks {
  /** A type-7 frame: a member's group message. */
  receiveFrame(frame: InboundFrame): Promise<ReceiveOutcome>;
  /**
   * A 1:1 plaintext (unpadded) that may carry a group member's distribution message: the
   * write that keeps it until it is stored (committed with the 1:1 session update), and
   * whether the envelope held nothing else for the business. Synchronous: it runs inside the
   * session's commit.
   */
  takeDistribution(
    ctx: BusinessContext,
    taken: {
      readonly content: Uint8Array;
      readonly pseudonym: string;
      readonly deviceId: number;
      readonly deadline: number;
      readonly frameDigest: string;
    },
  ): { readonly write: WriteOperation; readonly only: boolean } | undefined;
  /** Stores the distribution messages taken from one member device (after that commit). */
  storeDistributions(
    ctx: BusinessContext,
    number: string,
    sender: { readonly pseudonym: string; readonly deviceId: number },
  ): Promise<void>;
  /**
   * One sending attempt of a group message: brings its devices up to date and hands the
   * transport what each pending device needs. The caller commits the record as for 1:1.
   */
  attempt(
    ctx: BusinessContext,
    id: MessageId,
    record: MessageRecord,
    open: OpenContent,
    /** The attempt's claim: the commits that store frames expect it still holds. */
    claim: ExpectedVersion,
  ): Promise<{ readonly erased?: boolean; readonly failure?: ErrorCode | undefined }>;
  /**
   * A member device's decryption-error message naming a group message by its timestamp: that
   * message is resent to the device; true when it was.
   */
  resendNamed(
    ctx: BusinessContext,
    named: { readonly pseudonym: string; readonly deviceId: number; readonly timestamp: number },
  ): Promise<boolean>;
  /** A delivery receipt for one of a group message's frames. */
  receipt(parsed: ParsedFrameId): Promise<void>;
  /**
   * Erasure: what the person leaves in the business's groups, as writes for the erasure's one
   * commit, and the rotation of those groups after it (groups.ts `groupErasure`).
   */
  erase(ctx: BusinessContext, pseudonym: string): Promise<GroupErasure>;
}
