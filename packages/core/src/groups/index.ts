/** Groups: sender keys in libsignal's and the WhatsApp family's formats. */
export type { SenderKeyFormat } from '../wire/sender-key-format.js';
export { GroupCipher, GroupSessionBuilder } from './group-cipher.js';
export type { GroupId } from './group-id.js';
export {
  type GroupCiphertext,
  type GroupDecryptResult,
  type GroupDistribution,
  GroupSessions,
  type GroupSessionsOptions,
  type GroupWriteOptions,
  type ProcessedDistribution,
  SENDER_KEY_MESSAGE_TYPE,
  type SenderKeyChain,
} from './group-sessions.js';
export type { MembershipPolicy, MembershipQuestion } from './membership.js';
