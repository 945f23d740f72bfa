import type { Namespace, Store, WriteOperation } from '../storage/contract.js';
import { addressKey, nameKeyPrefix, type ProtocolAddress } from './address.js';
import { plainRecords, type RecordSealer } from './record-sealer.js';

/** A record as read: its (opened) bytes and the version to expect when writing it back. */
export interface VersionedBytes {
  readonly bytes: Uint8Array | undefined;
  /** 0 when the record does not exist: the commit then requires that it still does not. */
  readonly version: number;
}

/**
 * Key layout of the protocol records of one scope (one local identity: a business phone
 * number in the gateway, one device in a client) on top of a generic `Store`:
 *
 *   identities  {scope}/local                 own identity key pair and registration id
 *   identities  {scope}/remote/{name}         a remote identity key (33 bytes)
 *   prekeys     {scope}/one-time/{id}         one-time prekey
 *   prekeys     {scope}/signed/{id}           signed prekey
 *   prekeys     {scope}/kyber/{id}            Kyber prekey
 *   sessions    {scope}/{name}/{deviceId}     session record
 *
 * Every value passes through the sealer, with its namespace and key as associated data.
 */
export class ProtocolStore {
  readonly scope: string;

  constructor(
    readonly store: Store,
    scope: string,
    readonly sealer: RecordSealer = plainRecords,
  ) {
    this.scope = encodeURIComponent(scope);
  }

  sessionKey(address: ProtocolAddress): string {
    return `${this.scope}/${addressKey(address)}`;
  }

  sessionPrefix(name: string): string {
    return `${this.scope}/${nameKeyPrefix(name)}`;
  }

  localIdentityKey(): string {
    return `${this.scope}/local`;
  }

  remoteIdentityKey(name: string): string {
    return `${this.scope}/remote/${encodeURIComponent(name)}`;
  }

  preKeyKey(kind: 'one-time' | 'signed' | 'kyber', id: number): string {
    return `${this.scope}/${kind}/${id}`;
  }

  async read(namespace: Namespace, key: string): Promise<VersionedBytes> {
    const record = await this.store.get(namespace, key);
    if (!record) return { bytes: undefined, version: 0 };
    return { bytes: this.sealer.open(namespace, key, record.value), version: record.version };
  }

  put(namespace: Namespace, key: string, bytes: Uint8Array, expiresAt?: number): WriteOperation {
    return { type: 'put', namespace, key, value: this.sealer.seal(namespace, key, bytes), expiresAt };
  }

  delete(namespace: Namespace, key: string): WriteOperation {
    return { type: 'delete', namespace, key };
  }
}
