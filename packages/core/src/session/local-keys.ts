import { ByteWriter } from '../binary.js';
import { assertInteger } from '../crypto/guards.js';
import { isParleyError, ParleyError } from '../errors.js';
import { assertKeyBytes, generateKeyPair, SERIALIZED_PUBLIC_KEY_LENGTH } from '../keys/curve.js';
import {
  generateRegistrationId,
  isValidRegistrationId,
  MAX_REGISTRATION_ID,
  MIN_REGISTRATION_ID,
} from '../keys/identity.js';
import { decodeKyberPreKeyRecord } from '../keys/kyber-prekeys.js';
import { MAX_UINT32, type PreKeyBundle } from '../keys/prekeys.js';
import {
  decodeOneTimePreKeyRecord as decodeOneTimePreKey,
  decodeSignedPreKeyRecord as decodeSignedPreKey,
} from '../keys/records.js';
import type { WriteOperation } from '../storage/contract.js';
import { kyberPreKeyWrites, oneTimePreKeyWrites, signedPreKeyWrite } from './local-key-writes.js';
import { LOCAL_IDENTITY_FORMAT, preKeyNotFound, type SessionContext } from './session-context.js';
import type { LocalIdentity } from './types.js';

/**
 * The local side's keys in one scope: the identity, one-time, signed and Kyber prekeys, and
 * the bundles built from them. Functions over a `SessionContext`; `SessionManager` exposes them.
 */

/** Creates the local identity (or imports the given one) unless one exists; returns it. */
export async function initializeIdentity(
  ctx: SessionContext,
  given?: Partial<LocalIdentity>,
): Promise<LocalIdentity> {
  checkGivenIdentity(given);
  const existing = await ctx.findLocalIdentity();
  if (existing) return existing;
  const identity: LocalIdentity = {
    identityKeyPair: given?.identityKeyPair ?? generateKeyPair(ctx.ratchet),
    registrationId: given?.registrationId ?? generateRegistrationId(ctx.random),
  };
  const key = ctx.records.localIdentityKey();
  const bytes = new ByteWriter(80)
    .u8(LOCAL_IDENTITY_FORMAT)
    .fixed(identity.identityKeyPair.publicKey)
    .fixed(identity.identityKeyPair.privateKey)
    .u32(identity.registrationId)
    .finish();
  try {
    await ctx.records.store.commit([ctx.records.put('identities', key, bytes)], {
      expectVersions: [{ namespace: 'identities', key, version: 0 }],
    });
  } catch (error) {
    // Another instance created it first: theirs wins.
    if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
    return ctx.localIdentity();
  }
  ctx.rememberLocalIdentity(identity);
  return identity;
}

/** Generates and stores `count` one-time prekeys with ids `startId…`; returns their public halves. */
export async function generateOneTimePreKeys(
  ctx: SessionContext,
  startId: number,
  count: number,
): Promise<{ id: number; publicKey: Uint8Array }[]> {
  const { writes, published } = oneTimePreKeyWrites(ctx.records, ctx.ratchet, startId, count);
  await ctx.records.store.commit(writes);
  return published;
}

/** Generates, signs with the identity key and stores a signed prekey. */
export async function generateSignedPreKeyFor(
  ctx: SessionContext,
  id: number,
): Promise<{ id: number; publicKey: Uint8Array; signature: Uint8Array }> {
  const identity = await ctx.localIdentity();
  const { write, published } = signedPreKeyWrite(
    ctx.records,
    ctx.ratchet,
    identity.identityKeyPair,
    id,
    ctx.clock.now(),
  );
  await ctx.records.store.commit([write]);
  return published;
}

/**
 * Generates, signs and stores a Kyber prekey. A last-resort key serves many sessions (each
 * base key once); a one-time key is consumed by the session that uses it.
 */
export async function generateKyberPreKeyFor(
  ctx: SessionContext,
  id: number,
  options: { lastResort?: boolean } = {},
): Promise<{ id: number; publicKey: Uint8Array; signature: Uint8Array; lastResort: boolean }> {
  const identity = await ctx.localIdentity();
  const { writes, published } = kyberPreKeyWrites(
    ctx.records,
    ctx.ratchet,
    identity.identityKeyPair,
    [id],
    ctx.clock.now(),
    options,
  );
  await ctx.records.store.commit(writes);
  return published[0]!;
}

/** Where the base keys a last-resort Kyber prekey has served are marked (store `meta`). */
export function kyberUsePrefix(ctx: SessionContext, kyberPreKeyId: number): string {
  return `${ctx.records.scope}/kyber-used/${kyberPreKeyId}/`;
}

/** Removes a prekey; for a Kyber prekey also the base keys it has already served. */
export async function removePreKey(
  ctx: SessionContext,
  kind: 'one-time' | 'signed' | 'kyber',
  id: number,
): Promise<void> {
  if (kind !== 'one-time' && kind !== 'signed' && kind !== 'kyber') {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"kind" expected "one-time", "signed" or "kyber"', {
      field: 'kind',
    });
  }
  assertInteger(id, 'id', 0, MAX_UINT32);
  const writes =
    kind === 'kyber'
      ? await kyberPreKeyRemovals(ctx, id)
      : [ctx.records.delete('prekeys', ctx.records.preKeyKey(kind, id))];
  await ctx.records.store.commit(writes);
}

/** The writes that remove a Kyber prekey and the base-key markers of the sessions it served. */
export async function kyberPreKeyRemovals(ctx: SessionContext, id: number): Promise<WriteOperation[]> {
  const writes = [ctx.records.delete('prekeys', ctx.records.preKeyKey('kyber', id))];
  const used = await ctx.records.store.list('meta', { prefix: kyberUsePrefix(ctx, id) });
  for (const marker of used) writes.push(ctx.records.delete('meta', marker.key));
  return writes;
}

/** A bundle for others to start sessions with; one-time and Kyber prekeys are optional. */
export async function createBundle(
  ctx: SessionContext,
  options: { deviceId: number; signedPreKeyId: number; preKeyId?: number; kyberPreKeyId?: number },
): Promise<PreKeyBundle> {
  if (typeof options !== 'object' || options === null) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"options" expected { deviceId, signedPreKeyId, preKeyId?, kyberPreKeyId? }',
      { field: 'options' },
    );
  }
  assertInteger(options.deviceId, 'deviceId', 1, 0x7fff_ffff);
  assertInteger(options.signedPreKeyId, 'signedPreKeyId', 0, MAX_UINT32);
  if (options.preKeyId !== undefined) assertInteger(options.preKeyId, 'preKeyId', 0, MAX_UINT32);
  if (options.kyberPreKeyId !== undefined)
    assertInteger(options.kyberPreKeyId, 'kyberPreKeyId', 0, MAX_UINT32);
  const identity = await ctx.localIdentity();
  const signed = await ctx.records.read('prekeys', ctx.records.preKeyKey('signed', options.signedPreKeyId));
  if (!signed.bytes) throw preKeyNotFound('signed', options.signedPreKeyId);
  const signedPreKey = decodeSignedPreKey(signed.bytes);
  let preKey: Uint8Array | undefined;
  if (options.preKeyId !== undefined) {
    const oneTime = await ctx.records.read('prekeys', ctx.records.preKeyKey('one-time', options.preKeyId));
    if (!oneTime.bytes) throw preKeyNotFound('one-time', options.preKeyId);
    preKey = decodeOneTimePreKey(oneTime.bytes).keyPair.publicKey;
  }
  let kyber: { id: number; publicKey: Uint8Array; signature: Uint8Array } | undefined;
  if (options.kyberPreKeyId !== undefined) {
    const read = await ctx.records.read('prekeys', ctx.records.preKeyKey('kyber', options.kyberPreKeyId));
    if (!read.bytes) throw preKeyNotFound('kyber', options.kyberPreKeyId);
    kyber = decodeKyberPreKeyRecord(read.bytes);
  }
  return {
    registrationId: identity.registrationId,
    deviceId: options.deviceId,
    identityKey: identity.identityKeyPair.publicKey,
    signedPreKeyId: signedPreKey.id,
    signedPreKey: signedPreKey.keyPair.publicKey,
    signedPreKeySignature: signedPreKey.signature,
    preKeyId: preKey ? options.preKeyId : undefined,
    preKey,
    kyberPreKeyId: kyber?.id,
    kyberPreKey: kyber?.publicKey,
    kyberPreKeySignature: kyber?.signature,
  };
}

/** An identity given to `initializeIdentity` (importing one): checked before anything is stored. */
function checkGivenIdentity(given: unknown): void {
  if (given === undefined) return;
  if (typeof given !== 'object' || given === null) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"identity" expected { identityKeyPair?, registrationId? }',
      {
        field: 'identity',
      },
    );
  }
  const { identityKeyPair, registrationId } = given as Partial<LocalIdentity>;
  if (registrationId !== undefined && !isValidRegistrationId(registrationId)) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      `"registrationId" expected an integer from ${MIN_REGISTRATION_ID} to ${MAX_REGISTRATION_ID}`,
      {
        field: 'registrationId',
      },
    );
  }
  if (identityKeyPair !== undefined) {
    if (typeof identityKeyPair !== 'object' || identityKeyPair === null) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"identityKeyPair" expected { publicKey, privateKey }', {
        field: 'identityKeyPair',
      });
    }
    assertKeyBytes(identityKeyPair.publicKey, 'identityKeyPair.publicKey', SERIALIZED_PUBLIC_KEY_LENGTH);
    assertKeyBytes(identityKeyPair.privateKey, 'identityKeyPair.privateKey', 32);
  }
}
