/**
 * Signed and one-time prekeys, and the bundle a remote party publishes. Kyber prekeys are
 * carried as opaque bytes here; PQXDH gives them meaning later.
 */

import { assertBytes, assertInteger } from '../crypto/guards.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { ParleyError } from '../errors.js';
import { KYBER_KEY_TYPE, KYBER1024_PUBLIC_KEY_LENGTH } from '../kyber/kyber1024.js';
import {
  assertKeyBytes,
  deserializePublicKey,
  generateKeyPair,
  type KeyContext,
  type KeyPair,
  SIGNATURE_LENGTH,
  sign,
} from './curve.js';
import type { IdentityKeyPair } from './identity.js';

/** Ids we generate are 24-bit, as libsignal-java's `Medium.MAX_VALUE`; ids on the wire are uint32. */
export const MAX_LOCAL_PREKEY_ID = 0xffffff;
export const MAX_UINT32 = 0xffffffff;
/** A replenishment uploads ~100 keys; far more means a unit mix-up, not a real request. */
export const MAX_PREKEYS_PER_BATCH = 10_000;

export interface SignedPreKey {
  readonly id: number;
  readonly keyPair: KeyPair;
  /** XEdDSA by the identity key over the 33-byte serialized public key. */
  readonly signature: Uint8Array;
  /** Epoch milliseconds, from the injected clock. */
  readonly timestamp: number;
}

export interface OneTimePreKey {
  readonly id: number;
  readonly keyPair: KeyPair;
}

/** What a remote party publishes; keys are serialized (33 bytes, 0x05-prefixed). */
export interface PreKeyBundle {
  readonly registrationId: number;
  readonly deviceId: number;
  readonly identityKey: Uint8Array;
  readonly signedPreKeyId: number;
  readonly signedPreKey: Uint8Array;
  readonly signedPreKeySignature: Uint8Array;
  readonly preKeyId?: number | undefined;
  readonly preKey?: Uint8Array | undefined;
  readonly kyberPreKeyId?: number | undefined;
  /** 1569 bytes, `0x08 ‖ Kyber-1024 public key`; opaque until PQXDH. */
  readonly kyberPreKey?: Uint8Array | undefined;
  readonly kyberPreKeySignature?: Uint8Array | undefined;
}

export function generateSignedPreKey(
  ctx: KeyContext,
  identity: IdentityKeyPair,
  id: number,
  timestamp: number,
): SignedPreKey {
  assertInteger(id, 'id', 0, MAX_LOCAL_PREKEY_ID);
  assertInteger(timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER);
  assertKeyBytes(identity.privateKey, 'identity.privateKey', 32);
  const keyPair = generateKeyPair(ctx);
  const signature = sign(ctx, identity.privateKey, keyPair.publicKey);
  return { id, keyPair, signature, timestamp };
}

/**
 * `count` one-time prekeys with consecutive ids from `startId`, wrapping within 1..0xFFFFFF
 * (as libsignal-java does) so a long-lived account can keep replenishing.
 */
export function generatePreKeys(ctx: KeyContext, startId: number, count: number): OneTimePreKey[] {
  assertInteger(startId, 'startId', 1, MAX_LOCAL_PREKEY_ID);
  assertInteger(count, 'count', 1, MAX_PREKEYS_PER_BATCH);
  const out: OneTimePreKey[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ id: ((startId - 1 + i) % MAX_LOCAL_PREKEY_ID) + 1, keyPair: generateKeyPair(ctx) });
  }
  return out;
}

const isAbsent = (value: unknown): value is undefined | null => value === undefined || value === null;

function assertSignatureShape(value: unknown, field: string): asserts value is Uint8Array {
  assertBytes(value, field);
  if (value.length !== SIGNATURE_LENGTH) {
    throw new ParleyError(
      'ERR_INVALID_SIGNATURE',
      `"${field}" expected ${SIGNATURE_LENGTH} bytes, got ${value.length}`,
      {
        field,
        length: value.length,
      },
    );
  }
}

function assertPaired(idField: string, id: unknown, keyField: string, key: unknown): boolean {
  if (isAbsent(id) !== isAbsent(key)) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', `"${idField}" and "${keyField}" must be given together`, {
      field: isAbsent(id) ? idField : keyField,
    });
  }
  return !isAbsent(id);
}

/**
 * Checks every field's shape and the identity key's signatures over the signed prekey (and the
 * Kyber prekey when present). Throws `ERR_INVALID_ARGUMENT` (missing/ill-typed field or id out
 * of range), `ERR_INVALID_KEY` (malformed key) or `ERR_INVALID_SIGNATURE`; never mutates.
 */
export function verifyPreKeyBundle(crypto: CryptoProvider, bundle: PreKeyBundle): void {
  if (typeof bundle !== 'object' || bundle === null) {
    throw new ParleyError('ERR_INVALID_ARGUMENT', '"bundle" expected an object', { field: 'bundle' });
  }
  // Remote ids are whatever the peer's library chose within uint32; only our own are narrower.
  assertInteger(bundle.registrationId, 'registrationId', 0, MAX_UINT32);
  assertInteger(bundle.deviceId, 'deviceId', 0, MAX_UINT32);
  assertInteger(bundle.signedPreKeyId, 'signedPreKeyId', 0, MAX_UINT32);
  const identityKey = deserializePublicKey(bundle.identityKey, 'identityKey');
  deserializePublicKey(bundle.signedPreKey, 'signedPreKey');
  assertSignatureShape(bundle.signedPreKeySignature, 'signedPreKeySignature');

  if (assertPaired('preKeyId', bundle.preKeyId, 'preKey', bundle.preKey)) {
    assertInteger(bundle.preKeyId, 'preKeyId', 0, MAX_UINT32);
    deserializePublicKey(bundle.preKey as Uint8Array, 'preKey');
  }

  const hasKyber = assertPaired('kyberPreKeyId', bundle.kyberPreKeyId, 'kyberPreKey', bundle.kyberPreKey);
  if (hasKyber !== !isAbsent(bundle.kyberPreKeySignature)) {
    throw new ParleyError(
      'ERR_INVALID_ARGUMENT',
      '"kyberPreKey" and "kyberPreKeySignature" must be given together',
      {
        field: 'kyberPreKeySignature',
      },
    );
  }
  if (hasKyber) {
    assertInteger(bundle.kyberPreKeyId, 'kyberPreKeyId', 0, MAX_UINT32);
    assertKeyBytes(bundle.kyberPreKey, 'kyberPreKey', KYBER1024_PUBLIC_KEY_LENGTH);
    if (bundle.kyberPreKey[0] !== KYBER_KEY_TYPE) {
      throw new ParleyError(
        'ERR_INVALID_KEY',
        `"kyberPreKey" has unknown key type ${bundle.kyberPreKey[0]}`,
        {
          field: 'kyberPreKey',
          keyType: bundle.kyberPreKey[0],
        },
      );
    }
    assertSignatureShape(bundle.kyberPreKeySignature, 'kyberPreKeySignature');
  }

  if (!crypto.xeddsaVerify(identityKey, bundle.signedPreKey, bundle.signedPreKeySignature)) {
    throw new ParleyError('ERR_INVALID_SIGNATURE', 'signed prekey signature does not verify', {
      field: 'signedPreKeySignature',
      signedPreKeyId: bundle.signedPreKeyId,
    });
  }
  if (hasKyber && !crypto.xeddsaVerify(identityKey, bundle.kyberPreKey!, bundle.kyberPreKeySignature!)) {
    throw new ParleyError('ERR_INVALID_SIGNATURE', 'Kyber prekey signature does not verify', {
      field: 'kyberPreKeySignature',
      kyberPreKeyId: bundle.kyberPreKeyId,
    });
  }
}
