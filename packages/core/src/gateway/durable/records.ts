import { ByteReader, ByteWriter } from '../../binary.js';
import { concatBytes, utf8 } from '../../bytes.js';
import type { CryptoProvider, RandomSource } from '../../crypto/provider.js';
import { isParleyError, ParleyError } from '../../errors.js';
import type { InboundStatus, OutboundStatus } from '../types.js';

/** Encodings of the gateway's own records (Parley's compact format, see binary.ts). */

const FORMAT = 1;

// ── Business config ────────────────────────────────────────────────────────────────

export interface BusinessConfig {
  readonly retentionDays: number;
  readonly region: string | undefined;
  /** Record-sealing key, wrapped by the key provider. */
  readonly wrappedRecordKey: Uint8Array;
  /** Pseudonym (HMAC) key, wrapped by the key provider. */
  readonly wrappedPseudonymKey: Uint8Array;
}

export function encodeBusinessConfig(config: BusinessConfig): Uint8Array {
  return new ByteWriter()
    .u8(FORMAT)
    .u32(config.retentionDays)
    .bytes(utf8(config.region ?? ''))
    .bytes(config.wrappedRecordKey)
    .bytes(config.wrappedPseudonymKey)
    .finish();
}

export function decodeBusinessConfig(bytes: Uint8Array): BusinessConfig {
  const r = new ByteReader(bytes, 'business config');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const retentionDays = r.u32();
  const region = r.text();
  const wrappedRecordKey = r.bytes();
  const wrappedPseudonymKey = r.bytes();
  r.end();
  return { retentionDays, region: region === '' ? undefined : region, wrappedRecordKey, wrappedPseudonymKey };
}

// ── Prekey schedule of a business number ───────────────────────────────────────────

export interface NumberKeys {
  readonly signedPreKeyId: number;
  /** When the current signed prekey (and the last-resort Kyber prekey with it) was made. */
  readonly signedPreKeyCreatedAt: number;
  /** Earlier signed prekeys kept for prekey messages already under way, until `removeAt`. */
  readonly previousSignedPreKeys: readonly PreviousPreKey[];
  readonly nextSignedPreKeyId: number;
  readonly nextOneTimePreKeyId: number;
  /** Current last-resort Kyber prekey; 0 = none yet (a number added before Kyber). */
  readonly lastResortKyberPreKeyId: number;
  /** Earlier last-resort Kyber prekeys, removed (with their base-key markers) at `removeAt`. */
  readonly previousKyberPreKeys: readonly PreviousPreKey[];
  /** One-time and last-resort Kyber prekeys share one id space. */
  readonly nextKyberPreKeyId: number;
  /** False while a change is not yet known to be in the directory; `maintainPreKeys` re-publishes. */
  readonly published: boolean;
  /**
   * One-time EC and Kyber prekeys generated (and stored) but not yet handed to an upload. The
   * commit before an upload empties the lists: the directory appends one-time keys, so each is
   * uploaded at most once (gateway/prekeys.ts `publishPending`).
   */
  readonly unpublishedOneTime: readonly number[];
  readonly unpublishedKyber: readonly number[];
}

export interface PreviousPreKey {
  readonly id: number;
  readonly removeAt: number;
}

/**
 * Format 1 predates Kyber prekeys, format 2 the unpublished-key lists; both are still read (and
 * upgraded by `maintainPreKeys`).
 */
const NUMBER_KEYS_FORMAT = 3;

export function encodeNumberKeys(keys: NumberKeys): Uint8Array {
  const w = new ByteWriter()
    .u8(NUMBER_KEYS_FORMAT)
    .u32(keys.signedPreKeyId)
    .u64(keys.signedPreKeyCreatedAt)
    .u32(keys.nextSignedPreKeyId)
    .u32(keys.nextOneTimePreKeyId);
  writePrevious(w, keys.previousSignedPreKeys);
  w.u32(keys.lastResortKyberPreKeyId)
    .u32(keys.nextKyberPreKeyId)
    .u8(keys.published ? 1 : 0);
  writePrevious(w, keys.previousKyberPreKeys);
  writeIds(w, keys.unpublishedOneTime);
  writeIds(w, keys.unpublishedKyber);
  return w.finish();
}

export function decodeNumberKeys(bytes: Uint8Array): NumberKeys {
  const r = new ByteReader(bytes, 'number keys');
  const format = r.u8();
  if (format < 1 || format > NUMBER_KEYS_FORMAT) r.fail('unknown format');
  const signedPreKeyId = r.u32();
  const signedPreKeyCreatedAt = r.u64();
  const nextSignedPreKeyId = r.u32();
  const nextOneTimePreKeyId = r.u32();
  const previousSignedPreKeys = readPrevious(r);
  let lastResortKyberPreKeyId = 0;
  let nextKyberPreKeyId = 1;
  let published = true;
  let previousKyberPreKeys: PreviousPreKey[] = [];
  let unpublishedOneTime: number[] = [];
  let unpublishedKyber: number[] = [];
  if (format >= 2) {
    lastResortKyberPreKeyId = r.u32();
    nextKyberPreKeyId = r.u32();
    published = r.u8() === 1;
    previousKyberPreKeys = readPrevious(r);
  }
  if (format >= 3) {
    unpublishedOneTime = readIds(r);
    unpublishedKyber = readIds(r);
  }
  r.end();
  return {
    signedPreKeyId,
    signedPreKeyCreatedAt,
    previousSignedPreKeys,
    nextSignedPreKeyId,
    nextOneTimePreKeyId,
    lastResortKyberPreKeyId,
    previousKyberPreKeys,
    nextKyberPreKeyId,
    published,
    unpublishedOneTime,
    unpublishedKyber,
  };
}

function writeIds(w: ByteWriter, ids: readonly number[]): void {
  w.u32(ids.length);
  for (const id of ids) w.u32(id);
}

function readIds(r: ByteReader): number[] {
  const count = r.u32();
  if (count > r.remaining / 4) r.fail('id count out of range');
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(r.u32());
  return out;
}

function writePrevious(w: ByteWriter, previous: readonly PreviousPreKey[]): void {
  w.u32(previous.length);
  for (const entry of previous) w.u32(entry.id).u64(entry.removeAt);
}

function readPrevious(r: ByteReader): PreviousPreKey[] {
  const count = r.u32();
  const out: PreviousPreKey[] = [];
  for (let i = 0; i < count; i++) out.push({ id: r.u32(), removeAt: r.u64() });
  return out;
}

// ── Messages ───────────────────────────────────────────────────────────────────────

export type Direction = 'inbound' | 'outbound';
/** Per-device progress of an outbound message. */
export type DeviceState = 'pending' | 'sent' | 'delivered';

export interface MessageRecord {
  readonly direction: Direction;
  status: InboundStatus | OutboundStatus;
  readonly createdAt: number;
  readonly deadline: number;
  /** Business number. */
  readonly number: string;
  /** The person; an outbound group message has none and holds its group id here. */
  readonly pseudonym: string;
  /** Inbound: the sender's device. Outbound: 0. */
  readonly deviceId: number;
  attempts: number;
  /** When delivery (inbound) or sending (outbound) was first tried; 0 = not yet. */
  firstAttemptAt: number;
  /** Outbound: the person's devices (a group message: every member device) and how far each got. */
  devices: MessageDevice[];
  /** Retention period whose key encrypts `content`. */
  readonly period: number;
  /** nonce ‖ AES-256-GCM(period key, phone number ‖ content); a group message has no number. */
  readonly content: Uint8Array;
  /** A group message (either direction): the group. */
  readonly group?: string | undefined;
  /**
   * An outbound group message: the members (pseudonyms) it was sent to, fixed when it was
   * accepted — a member added later never gets it; one removed since is dropped.
   */
  recipients?: string[] | undefined;
}

export interface MessageDevice {
  id: number;
  state: DeviceState;
  /** Group messages: the member (pseudonym) the device belongs to. */
  member?: string | undefined;
}

const DIRECTIONS: readonly Direction[] = ['inbound', 'outbound'];
const STATUSES: readonly (InboundStatus | OutboundStatus)[] = [
  'pending',
  'delivered',
  'dropped',
  'accepted',
  'sent',
  'failed',
  'expired',
];
const DEVICE_STATES: readonly DeviceState[] = ['pending', 'sent', 'delivered'];

/**
 * Format 1: 1:1 messages. Format 2 (group messages) adds the member of each device, and after
 * the content the group and the recipients.
 */
const GROUP_MESSAGE_FORMAT = 2;

export function encodeMessageRecord(record: MessageRecord): Uint8Array {
  const grouped = record.group !== undefined;
  const w = new ByteWriter(256)
    .u8(grouped ? GROUP_MESSAGE_FORMAT : FORMAT)
    .u8(DIRECTIONS.indexOf(record.direction))
    .u8(STATUSES.indexOf(record.status))
    .u64(record.createdAt)
    .u64(record.deadline)
    .bytes(utf8(record.number))
    .bytes(utf8(record.pseudonym))
    .u32(record.deviceId)
    .u32(record.attempts)
    .u64(record.firstAttemptAt)
    .u32(record.devices.length);
  for (const device of record.devices) {
    w.u32(device.id).u8(DEVICE_STATES.indexOf(device.state));
    if (grouped) w.bytes(utf8(device.member ?? ''));
  }
  w.u32(record.period).bytes(record.content);
  if (!grouped) return w.finish();
  w.bytes(utf8(record.group!));
  const recipients = record.recipients ?? [];
  w.u32(recipients.length);
  for (const member of recipients) w.bytes(utf8(member));
  return w.finish();
}

export function decodeMessageRecord(bytes: Uint8Array): MessageRecord {
  const r = new ByteReader(bytes, 'message record');
  const format = r.u8();
  if (format !== FORMAT && format !== GROUP_MESSAGE_FORMAT) r.fail('unknown format');
  const grouped = format === GROUP_MESSAGE_FORMAT;
  const direction = DIRECTIONS[r.u8()] ?? r.fail('unknown direction');
  const status = STATUSES[r.u8()] ?? r.fail('unknown status');
  const createdAt = r.u64();
  const deadline = r.u64();
  const number = r.text();
  const pseudonym = r.text();
  const deviceId = r.u32();
  const attempts = r.u32();
  const firstAttemptAt = r.u64();
  const count = r.u32();
  if (count > r.remaining / 5) r.fail('device count out of range');
  const devices: MessageDevice[] = [];
  for (let i = 0; i < count; i++) {
    const device: MessageDevice = {
      id: r.u32(),
      state: DEVICE_STATES[r.u8()] ?? r.fail('unknown device state'),
    };
    if (grouped) device.member = r.text();
    devices.push(device);
  }
  const period = r.u32();
  const content = r.bytes();
  let group: string | undefined;
  let recipients: string[] | undefined;
  if (grouped) {
    group = r.text();
    const members = r.u32();
    if (members > r.remaining / 4) r.fail('recipient count out of range');
    recipients = [];
    for (let i = 0; i < members; i++) recipients.push(r.text());
  }
  r.end();
  return {
    ...(grouped ? { group, recipients } : {}),
    direction,
    status,
    createdAt,
    deadline,
    number,
    pseudonym,
    deviceId,
    attempts,
    firstAttemptAt,
    devices,
    period,
    content,
  };
}

const NONCE_LENGTH = 12;

/** Encrypts a person's phone number and the content under a period key. */
export function sealContent(
  crypto: CryptoProvider,
  random: RandomSource,
  periodKey: Uint8Array,
  aad: string,
  phoneNumber: string,
  content: Uint8Array,
): Uint8Array {
  const nonce = random(NONCE_LENGTH);
  const plaintext = new ByteWriter(content.length + 32).bytes(utf8(phoneNumber)).bytes(content).finish();
  const sealed = concatBytes(nonce, crypto.aes256GcmEncrypt(periodKey, nonce, plaintext, utf8(aad)));
  plaintext.fill(0);
  return sealed;
}

export function openContent(
  crypto: CryptoProvider,
  periodKey: Uint8Array,
  aad: string,
  sealed: Uint8Array,
): { phoneNumber: string; content: Uint8Array } {
  let plaintext: Uint8Array;
  try {
    plaintext = crypto.aes256GcmDecrypt(
      periodKey,
      sealed.subarray(0, NONCE_LENGTH),
      sealed.subarray(NONCE_LENGTH),
      utf8(aad),
    );
  } catch (error) {
    if (isParleyError(error))
      throw new ParleyError('ERR_INVALID_RECORD', 'message content does not open', {});
    throw error;
  }
  const r = new ByteReader(plaintext, 'message content');
  const phoneNumber = r.text();
  const content = r.bytes();
  r.end();
  plaintext.fill(0);
  return { phoneNumber, content };
}

export function contentAad(businessId: string, messageId: string): string {
  return `parley/message/v1/${businessId}/${messageId}`;
}

// ── Outbox (work queue) and small records ─────────────────────────────────────────

export interface OutboxEntry {
  readonly direction: Direction;
  /** When the next attempt is due — or, while an instance holds the entry, when its claim ends. */
  readonly nextAttemptAt: number;
  readonly deadline: number;
  /** The gateway instance working on it until `nextAttemptAt`; '' when no one holds it. */
  readonly claimedBy: string;
}

/** Format 1 had no claim: it reads as unclaimed. */
const OUTBOX_FORMAT = 2;

export function encodeOutboxEntry(entry: OutboxEntry): Uint8Array {
  return new ByteWriter(48)
    .u8(OUTBOX_FORMAT)
    .u8(DIRECTIONS.indexOf(entry.direction))
    .u64(entry.nextAttemptAt)
    .u64(entry.deadline)
    .bytes(utf8(entry.claimedBy))
    .finish();
}

export function decodeOutboxEntry(bytes: Uint8Array): OutboxEntry {
  const r = new ByteReader(bytes, 'outbox entry');
  const format = r.u8();
  if (format !== FORMAT && format !== OUTBOX_FORMAT) r.fail('unknown format');
  const direction = DIRECTIONS[r.u8()] ?? r.fail('unknown direction');
  const nextAttemptAt = r.u64();
  const deadline = r.u64();
  const claimedBy = format === OUTBOX_FORMAT ? r.text() : '';
  r.end();
  return { direction, nextAttemptAt, deadline, claimedBy };
}

export interface MessageIndex {
  readonly businessId: string;
  readonly deadline: number;
}

export function encodeMessageIndex(index: MessageIndex): Uint8Array {
  return new ByteWriter(64).u8(FORMAT).bytes(utf8(index.businessId)).u64(index.deadline).finish();
}

export function decodeMessageIndex(bytes: Uint8Array): MessageIndex {
  const r = new ByteReader(bytes, 'message index');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const businessId = r.text();
  const deadline = r.u64();
  r.end();
  return { businessId, deadline };
}

export function encodeTimestamp(value: number): Uint8Array {
  return new ByteWriter(9).u8(FORMAT).u64(value).finish();
}

export function decodeTimestamp(bytes: Uint8Array): number {
  const r = new ByteReader(bytes, 'timestamp');
  if (r.u8() !== FORMAT) r.fail('unknown format');
  const value = r.u64();
  r.end();
  return value;
}
