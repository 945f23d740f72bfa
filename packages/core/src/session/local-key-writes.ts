import type { KeyContext, KeyPair } from '../keys/curve.js';
import {
  decodeKyberPreKeyRecord,
  encodeKyberPreKeyRecord,
  type GenerateKyberPreKeyOptions,
  generateKyberPreKey,
} from '../keys/kyber-prekeys.js';
import { generatePreKeys, generateSignedPreKey } from '../keys/prekeys.js';
import {
  decodeOneTimePreKeyRecord,
  encodeOneTimePreKeyRecord,
  encodeSignedPreKeyRecord,
} from '../keys/records.js';
import type { WriteOperation } from '../storage/contract.js';
import type { ProtocolStore } from './protocol-store.js';

/**
 * Local prekeys as store writes rather than commits, so a caller can put many of them — with
 * its own records — into one atomic mutation (a gateway registering a business number commits
 * its identity's prekeys, its key schedule and its number index together: a crash leaves all
 * or none). Each function returns the writes and the public halves to publish.
 */

export interface PublicPreKey {
  readonly id: number;
  readonly publicKey: Uint8Array;
}

export interface SignedPublicKey extends PublicPreKey {
  /** XEdDSA by the identity key over the serialized public key. */
  readonly signature: Uint8Array;
}

export function oneTimePreKeyWrites(
  records: ProtocolStore,
  ctx: KeyContext,
  startId: number,
  count: number,
): { readonly writes: WriteOperation[]; readonly published: PublicPreKey[] } {
  const preKeys = generatePreKeys(ctx, startId, count);
  return {
    writes: preKeys.map((preKey) =>
      records.put('prekeys', records.preKeyKey('one-time', preKey.id), encodeOneTimePreKeyRecord(preKey)),
    ),
    published: preKeys.map((preKey) => ({ id: preKey.id, publicKey: preKey.keyPair.publicKey })),
  };
}

export function signedPreKeyWrite(
  records: ProtocolStore,
  ctx: KeyContext,
  identity: KeyPair,
  id: number,
  now: number,
): { readonly write: WriteOperation; readonly published: SignedPublicKey } {
  const signed = generateSignedPreKey(ctx, identity, id, now);
  return {
    write: records.put('prekeys', records.preKeyKey('signed', id), encodeSignedPreKeyRecord(signed)),
    published: { id, publicKey: signed.keyPair.publicKey, signature: signed.signature },
  };
}

export function kyberPreKeyWrites(
  records: ProtocolStore,
  ctx: KeyContext,
  identity: KeyPair,
  ids: readonly number[],
  now: number,
  options: GenerateKyberPreKeyOptions | undefined,
): {
  readonly writes: WriteOperation[];
  readonly published: (SignedPublicKey & { readonly lastResort: boolean })[];
} {
  const writes: WriteOperation[] = [];
  const published: (SignedPublicKey & { readonly lastResort: boolean })[] = [];
  for (const id of ids) {
    const preKey = generateKyberPreKey(ctx, identity, id, now, options);
    writes.push(records.put('prekeys', records.preKeyKey('kyber', id), encodeKyberPreKeyRecord(preKey)));
    published.push({
      id,
      publicKey: preKey.publicKey,
      signature: preKey.signature,
      lastResort: preKey.lastResort,
    });
  }
  return { writes, published };
}

/**
 * Public halves of stored one-time prekeys (for publishing again after an interrupted upload);
 * ids whose record is gone (consumed meanwhile) are skipped.
 */
export async function storedOneTimePublicKeys(
  records: ProtocolStore,
  ids: readonly number[],
): Promise<PublicPreKey[]> {
  const out: PublicPreKey[] = [];
  for (const id of ids) {
    const { bytes } = await records.read('prekeys', records.preKeyKey('one-time', id));
    if (bytes) out.push({ id, publicKey: decodeOneTimePreKeyRecord(bytes).keyPair.publicKey });
  }
  return out;
}

/** Like `storedOneTimePublicKeys`, for one-time Kyber prekeys (with their signatures). */
export async function storedKyberPublicKeys(
  records: ProtocolStore,
  ids: readonly number[],
): Promise<SignedPublicKey[]> {
  const out: SignedPublicKey[] = [];
  for (const id of ids) {
    const { bytes } = await records.read('prekeys', records.preKeyKey('kyber', id));
    if (!bytes) continue;
    const preKey = decodeKyberPreKeyRecord(bytes);
    out.push({ id, publicKey: preKey.publicKey, signature: preKey.signature });
  }
  return out;
}
