/**
 * The statistics ledger's state to and from bytes, for the store's `counters` namespace, in
 * two records per business because their contents live for different times:
 *
 * - days (`encodeDaysState`): per retained UTC day the nine counts, and either the running
 *   day's category tallies (counts and whether they reached k) or a closed day's folded
 *   breakdown. Nothing about any person; kept for `retainDays`.
 * - people (`encodePeopleState`): the keyed 64-bit tags of the people whose 24-hour windows
 *   are open (last inbound, conversation start, last touched) and the tags behind the running
 *   day's small breakdown rows. Stored with the tag key's fingerprint (never the key) and
 *   expiring with the newest window, so no tag outlives it in the store.
 *
 * Layout: 4-byte magic ("PSD" ‖ version 2, which added three group counts after the nine;
 * version 1 is still read / "PSP" ‖ version 1), then unsigned LEB128 varints for counts and
 * days (days since the epoch), f64 for times, u8 length-prefixed UTF-8 for category labels and
 * 8 raw bytes per tag. Decoders check everything and throw only `ERR_INVALID_RECORD`.
 */
import { fromHex, toHex } from '../bytes.js';
import { ParleyError } from '../errors.js';
import { type Category, isCategory } from './category.js';
import { type Day, dayOf, dayStart } from './day.js';
import type { UsageLedger } from './ledger.js';
import type { CategoryStatistics } from './snapshots.js';

/** Version 1 predates group messages (read as none); version 2 adds their three counts. */
const DAYS_MAGIC_V1 = [0x50, 0x53, 0x44, 0x01] as const;
const DAYS_MAGIC = [0x50, 0x53, 0x44, 0x02] as const;
const PEOPLE_MAGIC = [0x50, 0x53, 0x50, 0x01] as const;
const DAY_MS = 86_400_000;
const TAG_BYTES = 8;
const FINGERPRINT_BYTES = 8;
/** Counts per day: in, out, delivered, failed, expired, sessions, initiated delivered, opened by business, by person. */
export const DAY_COUNTS = 9;

export type DayCounts = readonly [number, number, number, number, number, number, number, number, number];
/** Group messages out, in, delivered (version 2). */
export type GroupDayCounts = readonly [number, number, number];

export interface DayState {
  readonly day: Day;
  readonly counts: DayCounts;
  /** Absent when all three are zero. */
  readonly groupCounts?: GroupDayCounts | undefined;
  /** The running day's tallies (people only as "reached k or not"); undefined once folded. */
  readonly tallies:
    | readonly {
        readonly category: Category;
        readonly messagesIn: number;
        readonly messagesOut: number;
        readonly atLeastK: boolean;
      }[]
    | undefined;
  /** A closed day's folded breakdown. */
  readonly breakdown: readonly CategoryStatistics[] | undefined;
}

export interface PersonState {
  /** 16 hex characters: the keyed tag of a pseudonym. */
  readonly tag: string;
  readonly lastInbound: number | undefined;
  readonly conversationStart: number | undefined;
  readonly touched: number;
}

export interface PeopleState {
  readonly keyFingerprint: Uint8Array;
  /** When the newest window (or the running day's breakdown tags) is over. */
  readonly expiresAt: number;
  readonly people: readonly PersonState[];
  readonly tallyTags:
    | {
        readonly day: Day;
        readonly categories: readonly { readonly category: Category; readonly tags: readonly string[] }[];
      }
    | undefined;
}

export interface LedgerState {
  readonly days: readonly DayState[];
  readonly people: PeopleState | undefined;
}

function invalidRecord(message: string): ParleyError {
  return new ParleyError('ERR_INVALID_RECORD', `statistics state: ${message}`, { record: 'statistics' });
}

const TAG = /^[0-9a-f]{16}$/;

class Writer {
  #bytes: number[] = [];

  raw(bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.#bytes.push(bytes[i]!);
  }

  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw invalidRecord('count out of range');
    let rest = value;
    while (rest >= 0x80) {
      this.#bytes.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.#bytes.push(rest);
  }

  f64(value: number): void {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value);
    this.raw(bytes);
  }

  day(value: Day): void {
    this.varint(dayStart(value) / DAY_MS);
  }

  category(value: Category): void {
    const bytes = new TextEncoder().encode(value);
    this.#bytes.push(bytes.length);
    this.raw(bytes);
  }

  tag(value: string): void {
    if (!TAG.test(value)) throw invalidRecord('malformed tag');
    this.raw(fromHex(value));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

class Reader {
  #offset = 0;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;

  /** The index in `magics` of the one the record starts with. */
  readonly version: number;

  constructor(bytes: unknown, ...magics: (readonly number[])[]) {
    if (!(bytes instanceof Uint8Array)) throw invalidRecord('not bytes');
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const head = this.raw(magics[0]!.length);
    this.version = magics.findIndex((magic) => magic.every((byte, i) => head[i] === byte));
    if (this.version < 0) throw invalidRecord('unknown format or version');
  }

  raw(length: number): Uint8Array {
    if (this.#offset + length > this.#bytes.length) throw invalidRecord('truncated');
    const out = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }

  u8(): number {
    return this.raw(1)[0]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (!Number.isSafeInteger(value)) throw invalidRecord('count out of range');
      if (byte < 0x80) {
        if (byte === 0 && scale > 1) throw invalidRecord('non-canonical count');
        return value;
      }
      scale *= 0x80;
    }
  }

  /** A count that also bounds how many entries follow (each at least `minBytes` long). */
  length(minBytes: number): number {
    const n = this.varint();
    if (n * minBytes > this.#bytes.length - this.#offset) throw invalidRecord('length exceeds the record');
    return n;
  }

  f64(): number {
    const bytes = this.raw(8);
    return this.#view.getFloat64(bytes.byteOffset - this.#bytes.byteOffset);
  }

  time(): number {
    const value = this.f64();
    if (!Number.isSafeInteger(value)) throw invalidRecord('time out of range');
    return value;
  }

  optionalTime(): number | undefined {
    const value = this.f64();
    if (Number.isNaN(value)) return undefined;
    if (!Number.isSafeInteger(value)) throw invalidRecord('time out of range');
    return value;
  }

  day(): Day {
    const days = this.varint();
    if (days > 2_932_896) throw invalidRecord('day out of range'); // 9999-12-31
    return dayOf(days * DAY_MS);
  }

  category(): Category {
    const bytes = this.raw(this.u8());
    let label: string;
    try {
      label = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw invalidRecord('malformed category');
    }
    if (!isCategory(label)) throw invalidRecord('malformed category');
    return label;
  }

  tag(): string {
    return toHex(this.raw(TAG_BYTES));
  }

  bool(): boolean {
    const byte = this.u8();
    if (byte > 1) throw invalidRecord('malformed flag');
    return byte === 1;
  }

  end(): void {
    if (this.#offset !== this.#bytes.length) throw invalidRecord('trailing bytes');
  }
}

function writeRows(
  w: Writer,
  rows: readonly { category: Category; messagesIn: number; messagesOut: number }[],
): void {
  w.varint(rows.length);
  for (const row of rows) {
    w.category(row.category);
    w.varint(row.messagesIn);
    w.varint(row.messagesOut);
  }
}

export function encodeDaysState(days: readonly DayState[]): Uint8Array {
  const w = new Writer();
  w.raw(DAYS_MAGIC);
  w.varint(days.length);
  for (const entry of days) {
    w.day(entry.day);
    for (const count of entry.counts) w.varint(count);
    for (const count of entry.groupCounts ?? [0, 0, 0]) w.varint(count);
    if (entry.tallies) {
      w.raw([0]);
      writeRows(w, entry.tallies);
      for (const tally of entry.tallies) w.raw([tally.atLeastK ? 1 : 0]);
    } else {
      w.raw([1]);
      writeRows(w, entry.breakdown ?? []);
    }
  }
  return w.finish();
}

function readRows(r: Reader): { category: Category; messagesIn: number; messagesOut: number }[] {
  const n = r.length(4);
  const rows: { category: Category; messagesIn: number; messagesOut: number }[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const category = r.category();
    if (seen.has(category)) throw invalidRecord('duplicate category');
    seen.add(category);
    rows.push({ category, messagesIn: r.varint(), messagesOut: r.varint() });
  }
  return rows;
}

export function decodeDaysState(bytes: Uint8Array): DayState[] {
  const r = new Reader(bytes, DAYS_MAGIC_V1, DAYS_MAGIC);
  const withGroups = r.version === 1;
  const n = r.length(DAY_COUNTS + (withGroups ? 3 : 0) + 2);
  const days: DayState[] = [];
  const seen = new Set<Day>();
  for (let i = 0; i < n; i++) {
    const day = r.day();
    if (seen.has(day)) throw invalidRecord('duplicate day');
    seen.add(day);
    const counts = Array.from({ length: DAY_COUNTS }, () => r.varint()) as unknown as DayCounts;
    const group = withGroups ? ([r.varint(), r.varint(), r.varint()] as const) : undefined;
    const groupCounts = group?.some((count) => count > 0) ? { groupCounts: group } : {};
    const folded = r.bool();
    const rows = readRows(r);
    if (folded) {
      days.push({ day, counts, ...groupCounts, tallies: undefined, breakdown: rows });
    } else {
      const tallies = rows.map((row) => ({ ...row, atLeastK: r.bool() }));
      days.push({ day, counts, ...groupCounts, tallies, breakdown: undefined });
    }
  }
  r.end();
  return days;
}

export function encodePeopleState(state: PeopleState): Uint8Array {
  const w = new Writer();
  w.raw(PEOPLE_MAGIC);
  if (state.keyFingerprint.length !== FINGERPRINT_BYTES) throw invalidRecord('malformed key fingerprint');
  w.raw(state.keyFingerprint);
  w.f64(state.expiresAt);
  w.varint(state.people.length);
  for (const person of state.people) {
    w.tag(person.tag);
    w.f64(person.touched);
    w.f64(person.lastInbound ?? Number.NaN);
    w.f64(person.conversationStart ?? Number.NaN);
  }
  if (state.tallyTags) {
    w.raw([1]);
    w.day(state.tallyTags.day);
    w.varint(state.tallyTags.categories.length);
    for (const { category, tags } of state.tallyTags.categories) {
      w.category(category);
      w.varint(tags.length);
      for (const tag of tags) w.tag(tag);
    }
  } else {
    w.raw([0]);
  }
  return w.finish();
}

export function decodePeopleState(bytes: Uint8Array): PeopleState {
  const r = new Reader(bytes, PEOPLE_MAGIC);
  const keyFingerprint = Uint8Array.from(r.raw(FINGERPRINT_BYTES));
  const expiresAt = r.time();
  const n = r.length(TAG_BYTES + 24);
  const people: PersonState[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const tag = r.tag();
    if (seen.has(tag)) throw invalidRecord('duplicate person');
    seen.add(tag);
    people.push({
      tag,
      touched: r.time(),
      lastInbound: r.optionalTime(),
      conversationStart: r.optionalTime(),
    });
  }
  let tallyTags: PeopleState['tallyTags'];
  if (r.bool()) {
    const day = r.day();
    const categories: { category: Category; tags: string[] }[] = [];
    const labels = new Set<string>();
    for (let i = 0, count = r.length(2); i < count; i++) {
      const category = r.category();
      if (labels.has(category)) throw invalidRecord('duplicate category');
      labels.add(category);
      const tags = new Set<string>();
      for (let j = 0, m = r.length(TAG_BYTES); j < m; j++) tags.add(r.tag());
      categories.push({ category, tags: [...tags] });
    }
    tallyTags = { day, categories };
  }
  r.end();
  return { keyFingerprint, expiresAt, people, tallyTags };
}

/** A business's two records and when each may go (see the module comment). */
export interface EncodedStatistics {
  /** Undefined when no day is retained any more: the stored days record should be deleted. */
  readonly days: { readonly bytes: Uint8Array; readonly expiresAt: number } | undefined;
  /** Undefined when no tag is held: the stored people record should then be deleted. */
  readonly people: { readonly bytes: Uint8Array; readonly expiresAt: number } | undefined;
}

export function encodeStatisticsState(ledger: UsageLedger, businessId: string): EncodedStatistics {
  const state = ledger.exportState(businessId);
  const daysExpireAt = ledger.daysExpireAt(state);
  return {
    days:
      daysExpireAt === undefined
        ? undefined
        : { bytes: encodeDaysState(state.days), expiresAt: daysExpireAt },
    people: state.people && { bytes: encodePeopleState(state.people), expiresAt: state.people.expiresAt },
  };
}

/**
 * Replaces a business's statistics with the stored records (either may be missing). On a
 * malformed record the business starts over (nothing of it kept) and `ERR_INVALID_RECORD`
 * is thrown. Returns whether the people were kept (false under another tag key).
 */
export function restoreStatisticsState(
  ledger: UsageLedger,
  businessId: string,
  days: Uint8Array | undefined,
  people: Uint8Array | undefined,
): { readonly peopleKept: boolean } {
  let state: LedgerState;
  try {
    state = {
      days: days === undefined ? [] : decodeDaysState(days),
      people: people === undefined ? undefined : decodePeopleState(people),
    };
  } catch (error) {
    ledger.forgetBusiness(businessId);
    throw error;
  }
  return ledger.restoreState(businessId, state);
}
