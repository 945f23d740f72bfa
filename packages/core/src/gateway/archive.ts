import { wipe } from '../bytes.js';
import { assertMethods, assertOptionalCryptoProvider, assertOptions, assertStore } from '../configuration.js';
import { contentBytes, decodeMessagePlaintext } from '../content/message-plaintext.js';
import { defaultCrypto } from '../crypto/default.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { defaultRandom } from '../crypto/random.js';
import type { Store } from '../storage/contract.js';
import { businessKey, messagePrefix, vaultKey } from './durable/layout.js';
import { periodKeyContext } from './durable/period-keys.js';
import { createAesGcmSealer } from './durable/record-sealer.js';
import {
  contentAad,
  type Direction,
  decodeBusinessConfig,
  decodeMessageRecord,
  openContent,
} from './durable/records.js';
import type { KeyProvider } from './key-provider.js';
import type { InboundStatus, MessageId, OutboundStatus } from './types.js';
import { assertBusinessId } from './validation.js';

export interface ArchivedMessage {
  readonly id: MessageId;
  readonly direction: Direction;
  readonly status: InboundStatus | OutboundStatus;
  readonly createdAt: number;
  readonly deadline: number;
  /** Business number. */
  readonly number: string;
  /** False when the content's period key is gone from the vault: the content is shredded. */
  readonly readable: boolean;
  readonly phoneNumber?: string | undefined;
  readonly content?: Uint8Array | undefined;
}

export interface ReadMessageArchiveOptions {
  /** A message store — the live one, or a copy or backup of it. */
  readonly store: Store;
  /** The vault store holding the wrapped period keys. */
  readonly vaultStore: Store;
  readonly keyProvider: KeyProvider;
  readonly businessId: string;
  readonly crypto?: CryptoProvider;
}

/**
 * Reads one business's stored messages from a message store, as an operator (or anyone
 * holding the operator's key) could: for audits, and to prove crypto-shredding. Content
 * opens only while its period key still exists in the given vault store.
 */
export async function readMessageArchive(options: ReadMessageArchiveOptions): Promise<ArchivedMessage[]> {
  assertOptions(options, 'options', 'readMessageArchive({ store, vaultStore, keyProvider, businessId })');
  assertStore(options.store, 'store');
  assertStore(options.vaultStore, 'vaultStore');
  assertMethods(options.keyProvider, 'keyProvider', ['wrapKey', 'unwrapKey'], 'a KeyProvider');
  assertOptionalCryptoProvider(options.crypto, 'crypto');
  assertBusinessId(options.businessId);
  const crypto = options.crypto ?? defaultCrypto();
  const { store, vaultStore, keyProvider, businessId } = options;
  const configRecord = await store.get('meta', businessKey(businessId));
  if (!configRecord) return [];
  const config = decodeBusinessConfig(configRecord.value);
  const recordKey = await keyProvider.unwrapKey(config.wrappedRecordKey, `parley/records/${businessId}`);
  const sealer = createAesGcmSealer(crypto, defaultRandom, recordKey);
  wipe(recordKey);
  const periodKeys = new Map<number, Uint8Array | undefined>();
  const out: ArchivedMessage[] = [];
  const prefix = messagePrefix(businessId);
  for (const stored of await store.list('messages', { prefix })) {
    const id = stored.key.slice(prefix.length) as MessageId;
    const record = decodeMessageRecord(sealer.open('messages', stored.key, stored.value));
    if (!periodKeys.has(record.period)) {
      const wrapped = await vaultStore.get('vault', vaultKey(businessId, record.period));
      periodKeys.set(
        record.period,
        wrapped
          ? await keyProvider.unwrapKey(wrapped.value, periodKeyContext(businessId, record.period))
          : undefined,
      );
    }
    const periodKey = periodKeys.get(record.period);
    const base = {
      id,
      direction: record.direction,
      status: record.status,
      createdAt: record.createdAt,
      deadline: record.deadline,
      number: record.number,
    };
    if (!periodKey) {
      out.push({ ...base, readable: false });
      continue;
    }
    const opened = openContent(crypto, periodKey, contentAad(businessId, id), record.content);
    // Both directions are stored as content envelopes (or raw bytes a peer sent as they came).
    const envelope = decodeMessagePlaintext(opened.content, false);
    out.push({ ...base, readable: true, phoneNumber: opened.phoneNumber, content: contentBytes(envelope) });
  }
  for (const key of periodKeys.values()) wipe(key);
  return out;
}
