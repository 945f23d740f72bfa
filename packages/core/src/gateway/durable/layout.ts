/**
 * Where the gateway keeps its records (besides the SessionManager's own layout, scoped per
 * business number, which GroupSessions shares for sender keys). Nothing outside `m/` (message
 * records, content sealed) and `gm/` (a group member: the group sends to the number) is keyed
 * by or holds a person's phone number: person-related keys use the per-business pseudonym.
 *
 *   meta      gw/business/{biz}                 business config (retention, region, wrapped keys)
 *   meta      gw/number/{number}                business number → business id
 *   meta      gw/b/{biz}/keys/{number}          prekey schedule of a business number
 *   meta      gw/id/{messageId}                 message id → business, deadline (outlives the message)
 *   messages  gw/b/{biz}/m/{messageId}          message record (expires at its deadline)
 *   meta      gw/b/{biz}/p/{pseud}/{messageId}  a person's messages (for erasure)
 *   messages  gw/b/{biz}/media/{mediaId}      media record (blob id, deadline; media key sealed under the period key)
 *   meta      gw/b/{biz}/mi/{mediaId}         media id → deadline (outlives the media: expired vs unknown)
 *   meta      gw/b/{biz}/pm/{pseud}/{mediaId} a person's media (for erasure): sent by them, or an upload sent to them
 *   meta      gw/b/{biz}/mp/{mediaId}/{pseud} people an upload was sent to (erasure keeps a file others got)
 *   blob      {biz}/{mediaId}                 the media blob, ciphertext ‖ MAC (the blob store; expires at the deadline)
 *   outbox    gw/b/{biz}/o/{messageId}          pending delivery or send, with next attempt time
 *   outbox    gw/due/{time}/{biz}/{messageId}   time index of due work (hint; time: 15 digits)
 *   outbox    gw/b/{biz}/ev/{time}/{seq}/{eventId}  a status or dropped event not yet handed over (sealed)
 *   outbox    gw/b/{biz}/f/{messageId}/{device}    the frame encrypted for one device, resent as is (sealed)
 *   meta      gw/b/{biz}/seen/{pseud}/{digest}  inbound frame ids already taken (dedup)
 *   meta      gw/b/{biz}/d/{pseud}              a person's device list
 *   meta      gw/b/{biz}/c/{pseud}              last activity (inactivity cleanup)
 *   meta      gw/b/{biz}/r/{number}/{pseud}/{device}  retry requests sent in the retry interval (a count)
 *   meta      gw/b/{biz}/r/{number}/{pseud}/{device}/reset  session archived on a decryption error (once per interval)
 *   meta      gw/b/{biz}/t/{pseud}/{timestamp}  an outbound message's timestamp → its id (unique per person)
 *   meta      gw/b/{biz}/t/{pseud}/{timestamp}/answered/{device}  a decryption error about it was acted on
 *   vault     gw/b/{biz}/period/{period}        wrapped content key (vault store)
 *   meta      gw/integrity/key                  integrity sketch key (wrapped by the key provider)
 *   counters  gw/b/{biz}/integrity              integrity counters (sealed; keyed hashes, counts)
 *   meta      gw/statistics/key                 statistics people-tag key (wrapped by the key provider)
 *   counters  gw/b/{biz}/statistics             daily counts and billing (sealed; no person in them)
 *   counters  gw/b/{biz}/statistics-people      open 24-hour windows (sealed; keyed tags; expire with them)
 *   counters  gw/j/{biz}/{time}/{instance}-{seq}  tally journal: one counted event, until folded (sealed)
 *   counters  gw/b/{biz}/throttle               the next slot of a throttled business (shared by instances)
 *   counters  gw/b/{biz}/spam/{messageId}       a counted spam report (de-duplicates across instances)
 *   meta      gw/lease/{name}                   a lease on shared upkeep (the retention sweep, folds)
 *   meta      gw/access-log/key                 access-log MAC key (wrapped by the key provider)
 *   meta      gw/b/{biz}/log/{seq}              access-log record (seq: 16 digits; expires after accessLog.retentionMs)
 *   meta      gw/b/{biz}/log-head               newest access-log sequence number and MAC
 *   meta      gw/group/{group}                  group id → business id (group ids are the gateway's, random)
 *   meta      gw/b/{biz}/grp/{group}            a group: business number, creation time, rotation due (sealed)
 *   meta      gw/b/{biz}/gm/{group}/{pseud}     a member: phone number, when added, the chain each device was sent (sealed)
 *   meta      gw/b/{biz}/pg/{pseud}/{group}     a person's groups (erasure removes the person from each)
 *   meta      gw/b/{biz}/gx/{group}/{messageId} a group's outbound messages (erasure strips the person; expires with them)
 *   messages  gw/b/{biz}/gc/{messageId}         a group message's sender-key ciphertext and its chain's distribution message (sealed under its period key)
 *   outbox    gw/b/{biz}/f/{messageId}/{tag}/{device}  a group message's distribution frame for one member device, resent as is (sealed)
 *   meta      gw/b/{biz}/gd/{pseud}/{device}/{digest}  a member's distribution message taken over 1:1, not yet stored (sealed)
 *   meta      gw/b/{biz}/gr/{messageId}/{tag}/{device} a group message resent to a device that lacked the key (rate limit)
 */
export const businessKey = (biz: string) => `gw/business/${biz}`;
export const BUSINESS_PREFIX = 'gw/business/';
export const numberIndexKey = (number: string) => `gw/number/${number}`;
export const numberKeysKey = (biz: string, number: string) => `gw/b/${biz}/keys/${number}`;
export const numberKeysPrefix = (biz: string) => `gw/b/${biz}/keys/`;
export const messageIndexKey = (id: string) => `gw/id/${id}`;
export const messageKey = (biz: string, id: string) => `gw/b/${biz}/m/${id}`;
export const personIndexKey = (biz: string, pseud: string, id: string) => `gw/b/${biz}/p/${pseud}/${id}`;
export const personIndexPrefix = (biz: string, pseud: string) => `gw/b/${biz}/p/${pseud}/`;
export const outboxKey = (biz: string, id: string) => `gw/b/${biz}/o/${id}`;
export const OUTBOX_PREFIX = 'gw/b/';
/** Sorted by time as strings: epoch milliseconds zero-padded to 15 digits. */
export const dueKey = (time: number, biz: string, id: string) =>
  `gw/due/${String(Math.max(0, Math.floor(time))).padStart(15, '0')}/${biz}/${id}`;
export const DUE_PREFIX = 'gw/due/';
export const frameKey = (biz: string, id: string, deviceId: number) => `gw/b/${biz}/f/${id}/${deviceId}`;
export const framePrefix = (biz: string, id: string) => `gw/b/${biz}/f/${id}/`;
/** Ordered by time, then by a per-process sequence (events of one message keep their order). */
export const eventKey = (biz: string, time: number, seq: number, eventId: string) =>
  `gw/b/${biz}/ev/${String(Math.max(0, Math.floor(time))).padStart(15, '0')}/${String(seq).padStart(8, '0')}/${eventId}`;
export const eventPrefix = (biz: string) => `gw/b/${biz}/ev/`;
export const seenKey = (biz: string, pseud: string, digest: string) => `gw/b/${biz}/seen/${pseud}/${digest}`;
export const seenPrefix = (biz: string, pseud: string) => `gw/b/${biz}/seen/${pseud}/`;
export const devicesKey = (biz: string, pseud: string) => `gw/b/${biz}/d/${pseud}`;
export const contactKey = (biz: string, pseud: string) => `gw/b/${biz}/c/${pseud}`;
export const contactPrefix = (biz: string) => `gw/b/${biz}/c/`;
export const retryLimitKey = (biz: string, number: string, pseud: string, deviceId: number) =>
  `gw/b/${biz}/r/${number}/${pseud}/${deviceId}`;
export const retryLimitPrefix = (biz: string, number: string, pseud: string) =>
  `gw/b/${biz}/r/${number}/${pseud}/`;
export const sessionResetKey = (biz: string, number: string, pseud: string, deviceId: number) =>
  `${retryLimitKey(biz, number, pseud, deviceId)}/reset`;
/** Timestamps zero-padded to 15 digits, so no timestamp's key is a prefix of another's. */
const padTimestamp = (timestamp: number) => String(Math.max(0, Math.floor(timestamp))).padStart(15, '0');
export const timestampKey = (biz: string, pseud: string, timestamp: number) =>
  `gw/b/${biz}/t/${pseud}/${padTimestamp(timestamp)}`;
export const timestampPrefix = (biz: string, pseud: string) => `gw/b/${biz}/t/${pseud}/`;
export const answeredKey = (biz: string, pseud: string, timestamp: number, deviceId: number) =>
  `${timestampKey(biz, pseud, timestamp)}/answered/${deviceId}`;
export const messagePrefix = (biz: string) => `gw/b/${biz}/m/`;
export const mediaRecordKey = (biz: string, mediaId: string) => `gw/b/${biz}/media/${mediaId}`;
export const mediaIndexKey = (biz: string, mediaId: string) => `gw/b/${biz}/mi/${mediaId}`;
export const personMediaKey = (biz: string, pseud: string, mediaId: string) =>
  `gw/b/${biz}/pm/${pseud}/${mediaId}`;
export const personMediaPrefix = (biz: string, pseud: string) => `gw/b/${biz}/pm/${pseud}/`;
export const mediaRecipientKey = (biz: string, mediaId: string, pseud: string) =>
  `gw/b/${biz}/mp/${mediaId}/${pseud}`;
export const mediaRecipientPrefix = (biz: string, mediaId: string) => `gw/b/${biz}/mp/${mediaId}/`;
/** Blob store ids: the business (non-personal, lets an operator list one business's blobs) and the random media id. */
export const blobIdOf = (biz: string, mediaId: string) => `${biz}/${mediaId}`;
export const vaultKey = (biz: string, period: number) => `gw/b/${biz}/period/${period}`;
export const sessionScope = (biz: string, number: string) => `gw/${biz}/${number}`;
/** meta: the integrity monitor's sketch key, wrapped by the key provider (one per gateway store). */
export const INTEGRITY_KEY = 'gw/integrity/key';
/** counters: one business's integrity counters (sealed; keyed hashes and counts only). */
export const integrityStateKey = (biz: string) => `gw/b/${biz}/integrity`;
export const STATISTICS_KEY = 'gw/statistics/key';
export const statisticsDaysKey = (biz: string) => `gw/b/${biz}/statistics`;
export const statisticsPeopleKey = (biz: string) => `gw/b/${biz}/statistics-people`;
export const ACCESS_LOG_KEY = 'gw/access-log/key';
export const accessRecordKey = (biz: string, seq: number) =>
  `gw/b/${biz}/log/${String(seq).padStart(16, '0')}`;
export const accessRecordPrefix = (biz: string) => `gw/b/${biz}/log/`;
export const accessHeadKey = (biz: string) => `gw/b/${biz}/log-head`;
export const groupIndexKey = (group: string) => `gw/group/${group}`;
export const groupKey = (biz: string, group: string) => `gw/b/${biz}/grp/${group}`;
export const groupMemberKey = (biz: string, group: string, pseud: string) =>
  `gw/b/${biz}/gm/${group}/${pseud}`;
export const groupMemberPrefix = (biz: string, group: string) => `gw/b/${biz}/gm/${group}/`;
export const personGroupKey = (biz: string, pseud: string, group: string) =>
  `gw/b/${biz}/pg/${pseud}/${group}`;
export const personGroupPrefix = (biz: string, pseud: string) => `gw/b/${biz}/pg/${pseud}/`;
export const groupMessageIndexKey = (biz: string, group: string, id: string) =>
  `gw/b/${biz}/gx/${group}/${id}`;
export const groupMessageIndexPrefix = (biz: string, group: string) => `gw/b/${biz}/gx/${group}/`;
export const groupCiphertextKey = (biz: string, id: string) => `gw/b/${biz}/gc/${id}`;
/** Under the message's `framePrefix`, so an erasure of its frames takes these too. */
export const groupFrameKey = (biz: string, id: string, tag: string, deviceId: number) =>
  `gw/b/${biz}/f/${id}/${tag}/${deviceId}`;
export const pendingDistributionKey = (biz: string, pseud: string, deviceId: number, digest: string) =>
  `gw/b/${biz}/gd/${pseud}/${deviceId}/${digest}`;
export const pendingDistributionPrefix = (biz: string, pseud: string, deviceId?: number) =>
  deviceId === undefined ? `gw/b/${biz}/gd/${pseud}/` : `gw/b/${biz}/gd/${pseud}/${deviceId}/`;
export const groupResendKey = (biz: string, id: string, tag: string, deviceId: number) =>
  `gw/b/${biz}/gr/${id}/${tag}/${deviceId}`;
/** Ordered by time, then by instance and its sequence (an instance's events keep their order). */
export const tallyJournalKey = (biz: string, time: number, instance: string, seq: number) =>
  `gw/j/${biz}/${String(Math.max(0, Math.floor(time))).padStart(15, '0')}/${instance}-${String(seq).padStart(8, '0')}`;
export const tallyJournalPrefix = (biz: string) => `gw/j/${biz}/`;
export const throttleKey = (biz: string) => `gw/b/${biz}/throttle`;
export const spamReportKey = (biz: string, messageId: string) => `gw/b/${biz}/spam/${messageId}`;
export const leaseKey = (name: string) => `gw/lease/${name}`;
