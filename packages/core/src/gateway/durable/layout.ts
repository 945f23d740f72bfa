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
 *   outbox    gw/b/{biz}/o/{messageId}          pending delivery or send, with next attempt time
 *   outbox    gw/due/{time}/{biz}/{messageId}   time index of due work (hint; time: 15 digits)
 *   outbox    gw/b/{biz}/ev/{time}/{seq}/{eventId}  a status or dropped event not yet handed over (sealed)
 *   meta      gw/b/{biz}/seen/{pseud}/{digest}  inbound frame ids already taken (dedup)
 *   meta      gw/b/{biz}/d/{pseud}              a person's device list
 *   meta      gw/b/{biz}/c/{pseud}              last activity (inactivity cleanup)
 *   meta      gw/b/{biz}/r/{number}/{pseud}/{device}  retry request sent (rate limit)
 *   vault     gw/b/{biz}/period/{period}        wrapped content key (vault store)
 *   meta      gw/integrity/key                  integrity sketch key (wrapped by the key provider)
 *   counters  gw/b/{biz}/integrity              integrity counters (sealed; keyed hashes, counts)
 *   meta      gw/statistics/key                 statistics people-tag key (wrapped by the key provider)
 *   counters  gw/b/{biz}/statistics             daily counts and billing (sealed; no person in them)
 *   counters  gw/b/{biz}/statistics-people      open 24-hour windows (sealed; keyed tags; expire with them)
 *   meta      gw/access-log/key                 access-log MAC key (wrapped by the key provider)
 *   meta      gw/b/{biz}/log/{seq}              access-log record (seq: 16 digits; expires after accessLog.retentionMs)
 *   meta      gw/b/{biz}/log-head               newest access-log sequence number and MAC
 *   meta      gw/group/{group}                  group id → business id (group ids are the gateway's, random)
 *   meta      gw/b/{biz}/grp/{group}            a group: business number, creation time, rotation due (sealed)
 *   meta      gw/b/{biz}/gm/{group}/{pseud}     a member: phone number, when added, the chain each device was sent (sealed)
 *   meta      gw/b/{biz}/pg/{pseud}/{group}     a person's groups (erasure removes the person from each)
 *   meta      gw/b/{biz}/gx/{group}/{messageId} a group's outbound messages (erasure strips the person; expires with them)
 *   messages  gw/b/{biz}/gc/{messageId}         a group message's sender-key ciphertext, sealed under its period key
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
export const messagePrefix = (biz: string) => `gw/b/${biz}/m/`;
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
export const pendingDistributionKey = (biz: string, pseud: string, deviceId: number, digest: string) =>
  `gw/b/${biz}/gd/${pseud}/${deviceId}/${digest}`;
export const pendingDistributionPrefix = (biz: string, pseud: string, deviceId?: number) =>
  deviceId === undefined ? `gw/b/${biz}/gd/${pseud}/` : `gw/b/${biz}/gd/${pseud}/${deviceId}/`;
export const groupResendKey = (biz: string, id: string, tag: string, deviceId: number) =>
  `gw/b/${biz}/gr/${id}/${tag}/${deviceId}`;
