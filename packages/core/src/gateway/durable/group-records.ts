import { ByteReader, ByteWriter } from '../../binary.js';
import { utf8 } from '../../bytes.js';

/**
 * Encodings of the gateway's group records (Parley's compact format, see binary.ts; layout.ts
 * lists where each lives). Every one is sealed by the business's record sealer when stored;
 * the sender-key ciphertext is sealed under the message's period key as well.
 */

const FORMAT = 1;

// ── The group ──────────────────────────────────────────────────────────────────────

export interface GroupHeader {
  /** The business number whose identity (and sender keys) the group uses. */
  readonly number: string;
  readonly createdAt: number;
  /**
   * Set in the same commit that removes a member; cleared once the business's chain was
   * rotated. A crash in between leaves it set, and the next send rotates first, so a removed
   * member never reads a message sent after the removal.
   */
  readonly rotationDue: boolean;
}

export function encodeGroupHeader(header: GroupHeader): Uint8Array {
  return new ByteWriter(48)
    .u8(FORMAT)
    .bytes(utf8(header.number))
    .u64(header.createdAt)
    .u8(header.rotationDue ? 1 : 0)
    .finish();
}

export function decodeGroupHeader(bytes: Uint8Array): GroupHeader {
  const r = new ByteReader(bytes, 'group');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const number = r.text();
  const createdAt = r.u64();
  const flag = r.u8();
  if (flag > 1) r.fail('malformed flag');
  r.end();
  return { number, createdAt, rotationDue: flag === 1 };
}

// ── A member ───────────────────────────────────────────────────────────────────────

/** Which of the business's chains one of the member's devices was sent (its distribution message). */
export interface DistributedChain {
  readonly deviceId: number;
  readonly chainId: number;
}

export interface GroupMemberRecord {
  /** Kept because the group sends to it (routing); deleted with the member. */
  readonly phoneNumber: string;
  readonly addedAt: number;
  /**
   * Devices whose 1:1 session carried the distribution message of the chain named, as far as
   * the transport took it. A device not listed, or listed with an older chain, gets the
   * current one before its next group message.
   */
  readonly distributed: readonly DistributedChain[];
}

export function encodeGroupMember(member: GroupMemberRecord): Uint8Array {
  const w = new ByteWriter(32 + member.distributed.length * 8)
    .u8(FORMAT)
    .bytes(utf8(member.phoneNumber))
    .u64(member.addedAt)
    .u32(member.distributed.length);
  for (const entry of member.distributed) w.u32(entry.deviceId).u32(entry.chainId);
  return w.finish();
}

export function decodeGroupMember(bytes: Uint8Array): GroupMemberRecord {
  const r = new ByteReader(bytes, 'group member');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const phoneNumber = r.text();
  const addedAt = r.u64();
  const count = r.u32();
  if (count > r.remaining / 8) r.fail('device count out of range');
  const distributed: DistributedChain[] = [];
  for (let i = 0; i < count; i++) distributed.push({ deviceId: r.u32(), chainId: r.u32() });
  r.end();
  return { phoneNumber, addedAt, distributed };
}

// ── A distribution message taken over 1:1, until it is stored ─────────────────────

export interface PendingDistribution {
  readonly groupId: string;
  /** The SenderKeyDistributionMessage as the member device sent it. */
  readonly message: Uint8Array;
}

export function encodePendingDistribution(pending: PendingDistribution): Uint8Array {
  return new ByteWriter(160).u8(FORMAT).bytes(utf8(pending.groupId)).bytes(pending.message).finish();
}

export function decodePendingDistribution(bytes: Uint8Array): PendingDistribution {
  const r = new ByteReader(bytes, 'pending distribution');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const groupId = r.text();
  const message = r.bytes();
  r.end();
  return { groupId, message };
}

// ── The sender-key ciphertext of an outbound group message ────────────────────────

/**
 * A group message's one sender-key encryption, kept so that every retry and retransmission
 * sends the same bytes under the same frame ids, with the distribution message of its chain
 * made just before it (same iteration): a device that lacked the chain reads this message
 * from it, and every later one. Sealed under the message's period key like its content (it
 * opens the chain from this message on), and gone with the message.
 */
export interface StoredGroupCiphertext {
  readonly chainId: number;
  readonly iteration: number;
  /** The sending attempt that made it: the third part of its frame ids. */
  readonly attempt: number;
  readonly body: Uint8Array;
  /** The chain's SenderKeyDistributionMessage at `iteration`. */
  readonly distribution: Uint8Array;
}

export function encodeGroupCiphertext(ciphertext: StoredGroupCiphertext): Uint8Array {
  return new ByteWriter(ciphertext.body.length + ciphertext.distribution.length + 24)
    .u8(FORMAT)
    .u32(ciphertext.chainId)
    .u32(ciphertext.iteration)
    .u32(ciphertext.attempt)
    .bytes(ciphertext.body)
    .bytes(ciphertext.distribution)
    .finish();
}

export function decodeGroupCiphertext(bytes: Uint8Array): StoredGroupCiphertext {
  const r = new ByteReader(bytes, 'group ciphertext');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const chainId = r.u32();
  const iteration = r.u32();
  const attempt = r.u32();
  const body = r.bytes();
  const distribution = r.bytes();
  r.end();
  return { chainId, iteration, attempt, body, distribution };
}

export function groupCiphertextAad(businessId: string, messageId: string): string {
  return `parley/group-ciphertext/v1/${businessId}/${messageId}`;
}
