import type { RecordSealer } from '../session/record-sealer.js';
import { plainRecords } from '../session/record-sealer.js';
import type { Store, WriteOperation } from '../storage/contract.js';
import type { GroupId } from './group-id.js';

/** A record as read: its opened bytes and the version to expect when writing it back (0: absent). */
export interface VersionedRecord {
  readonly bytes: Uint8Array | undefined;
  readonly version: number;
}

/**
 * Key layout of sender-key records, in the `sessions` namespace beside the session records of
 * the same scope (one local identity):
 *
 *   sessions  {scope}/#group/{group}/local                    our sending chain in the group
 *   sessions  {scope}/#group/{group}/remote/{name}/{deviceId} a member device's chains
 *
 * Names and group ids are URI-encoded, and `#` is a character `encodeURIComponent` never
 * leaves, so no session key (`{scope}/{name}/{deviceId}`) or name prefix can ever match a group
 * record, and every record of one group or one member shares a prefix (deletion by `list`).
 * Every value passes through the sealer with its namespace and key as associated data.
 */
export class GroupRecords {
  readonly scope: string;

  constructor(
    readonly store: Store,
    scope: string,
    readonly sealer: RecordSealer = plainRecords,
  ) {
    this.scope = encodeURIComponent(scope);
  }

  groupPrefix(group: GroupId): string {
    return `${this.scope}/#group/${encodeURIComponent(group)}/`;
  }

  localKey(group: GroupId): string {
    return `${this.groupPrefix(group)}local`;
  }

  memberPrefix(group: GroupId, name: string): string {
    return `${this.groupPrefix(group)}remote/${encodeURIComponent(name)}/`;
  }

  remoteKey(group: GroupId, sender: { readonly name: string; readonly deviceId: number }): string {
    return `${this.memberPrefix(group, sender.name)}${sender.deviceId}`;
  }

  async read(key: string): Promise<VersionedRecord> {
    const record = await this.store.get('sessions', key);
    if (!record) return { bytes: undefined, version: 0 };
    return { bytes: this.sealer.open('sessions', key, record.value), version: record.version };
  }

  put(key: string, bytes: Uint8Array): WriteOperation {
    return { type: 'put', namespace: 'sessions', key, value: this.sealer.seal('sessions', key, bytes) };
  }

  delete(key: string): WriteOperation {
    return { type: 'delete', namespace: 'sessions', key };
  }

  /** Keys of every record under a prefix (expired ones excluded by the store). */
  async keysUnder(prefix: string): Promise<string[]> {
    return (await this.store.list('sessions', { prefix })).map((record) => record.key);
  }
}
