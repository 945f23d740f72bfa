import { utf8 } from '../bytes.js';
import { isParleyError, ParleyError } from '../errors.js';
import { MAX_LOCAL_PREKEY_ID } from '../keys/prekeys.js';
import type { SessionManager } from '../session/session-manager.js';
import { allBusinesses, business, numbers } from './businesses.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { numberIndexKey, numberKeysKey } from './layout.js';
import { put, readSealed, sealedPut } from './message-store.js';
import { BUSINESS_DEVICE_ID } from './outbound.js';
import { decodeNumberKeys, encodeNumberKeys, type NumberKeys, type PreviousPreKey } from './records.js';
import type { SignedPublicPreKey } from './types.js';
import { assertPhoneNumber } from './validation.js';

export async function addNumber(g: GatewayContext, businessId: string, number: string): Promise<void> {
  g.assertOpen();
  assertPhoneNumber(number, 'number');
  const ctx = await business(g, businessId);
  try {
    await g.store.commit([put('meta', numberIndexKey(number), utf8(businessId))], {
      expectVersions: [{ namespace: 'meta', key: numberIndexKey(number), version: 0 }],
    });
  } catch (error) {
    if (isParleyError(error, 'ERR_STORE_CONFLICT')) {
      throw new ParleyError('ERR_CONFIGURATION', 'this number is already registered with the gateway');
    }
    throw error;
  }
  const sessions = g.sessions(ctx, number);
  await sessions.initializeIdentity();
  await sessions.generateSignedPreKey(1);
  await sessions.generateKyberPreKey(1, { lastResort: true });
  const oneTime = await sessions.generateOneTimePreKeys(1, g.preKeyBatch);
  const oneTimeKyber = await generateOneTimeKyberPreKeys(sessions, 2, g.kyberBatch);
  const keys: NumberKeys = {
    signedPreKeyId: 1,
    signedPreKeyCreatedAt: g.clock.now(),
    previousSignedPreKeys: [],
    nextSignedPreKeyId: 2,
    nextOneTimePreKeyId: nextId(1, g.preKeyBatch),
    lastResortKyberPreKeyId: 1,
    previousKyberPreKeys: [],
    nextKyberPreKeyId: nextId(2, g.kyberBatch),
    published: false,
  };
  await saveNumberKeys(g, ctx, number, keys);
  await publish(g, ctx, number, keys, oneTime, oneTimeKyber);
}

export async function maintainPreKeys(g: GatewayContext): Promise<void> {
  g.assertOpen();
  for (const ctx of await allBusinesses(g)) {
    for (const number of await numbers(g, ctx.id)) {
      try {
        await g.queue.run(`keys/${number}`, () => maintainNumber(g, ctx, number));
      } catch (error) {
        g.reportError(error);
      }
    }
  }
}

export async function maintainNumber(g: GatewayContext, ctx: BusinessContext, number: string): Promise<void> {
  const now = g.clock.now();
  const stored = await readSealed(g, ctx, 'meta', numberKeysKey(ctx.id, number));
  if (!stored) return;
  let keys = decodeNumberKeys(stored);
  const sessions = g.sessions(ctx, number);
  let changed = !keys.published;
  let oneTime: { id: number; publicKey: Uint8Array }[] = [];
  let oneTimeKyber: SignedPublicPreKey[] = [];
  const rotate = now - keys.signedPreKeyCreatedAt >= g.signedRotationMs;
  if (rotate) {
    const id = keys.nextSignedPreKeyId;
    await sessions.generateSignedPreKey(id);
    keys = {
      ...keys,
      signedPreKeyId: id,
      signedPreKeyCreatedAt: now,
      nextSignedPreKeyId: nextId(id, 1),
      previousSignedPreKeys: [
        ...keys.previousSignedPreKeys,
        { id: keys.signedPreKeyId, removeAt: now + g.signedGraceMs },
      ],
    };
    changed = true;
  }
  // A number added before Kyber prekeys existed gets its first last-resort key here.
  if (rotate || keys.lastResortKyberPreKeyId === 0) {
    const id = keys.nextKyberPreKeyId;
    await sessions.generateKyberPreKey(id, { lastResort: true });
    const previous = keys.lastResortKyberPreKeyId;
    keys = {
      ...keys,
      lastResortKyberPreKeyId: id,
      nextKyberPreKeyId: nextId(id, 1),
      previousKyberPreKeys:
        previous === 0
          ? keys.previousKyberPreKeys
          : [...keys.previousKyberPreKeys, { id: previous, removeAt: now + g.signedGraceMs }],
    };
    changed = true;
  }
  const due = (previous: PreviousPreKey) => previous.removeAt <= now;
  const expiredSigned = keys.previousSignedPreKeys.filter(due);
  const expiredKyber = keys.previousKyberPreKeys.filter(due);
  if (expiredSigned.length > 0 || expiredKyber.length > 0) {
    for (const previous of expiredSigned) await sessions.removePreKey('signed', previous.id);
    for (const previous of expiredKyber) await sessions.removePreKey('kyber', previous.id);
    keys = {
      ...keys,
      previousSignedPreKeys: keys.previousSignedPreKeys.filter((previous) => !due(previous)),
      previousKyberPreKeys: keys.previousKyberPreKeys.filter((previous) => !due(previous)),
    };
    // Removal is local: nothing new for the directory, but the schedule must be saved.
    await saveNumberKeys(g, ctx, number, keys);
  }
  if ((await g.directory.availableOneTimePreKeys(number)) < g.preKeyLowWater) {
    oneTime = await sessions.generateOneTimePreKeys(keys.nextOneTimePreKeyId, g.preKeyBatch);
    keys = { ...keys, nextOneTimePreKeyId: nextId(keys.nextOneTimePreKeyId, g.preKeyBatch) };
    changed = true;
  }
  if ((await g.directory.availableOneTimeKyberPreKeys(number)) < g.kyberLowWater) {
    oneTimeKyber = await generateOneTimeKyberPreKeys(sessions, keys.nextKyberPreKeyId, g.kyberBatch);
    keys = { ...keys, nextKyberPreKeyId: nextId(keys.nextKyberPreKeyId, g.kyberBatch) };
    changed = true;
  }
  if (!changed) return;
  keys = { ...keys, published: false };
  await saveNumberKeys(g, ctx, number, keys);
  await publish(g, ctx, number, keys, oneTime, oneTimeKyber);
}

/** Uploads the number's current keys (and new one-time keys), then records that it did. */
export async function publish(
  g: GatewayContext,
  ctx: BusinessContext,
  number: string,
  keys: NumberKeys,
  oneTimePreKeys: readonly { id: number; publicKey: Uint8Array }[],
  oneTimeKyberPreKeys: readonly SignedPublicPreKey[],
): Promise<void> {
  const sessions = g.sessions(ctx, number);
  const identity = await sessions.localIdentity();
  const bundle = await sessions.createBundle({
    deviceId: BUSINESS_DEVICE_ID,
    signedPreKeyId: keys.signedPreKeyId,
    kyberPreKeyId: keys.lastResortKyberPreKeyId,
  });
  await g.directory.publish({
    number,
    deviceId: BUSINESS_DEVICE_ID,
    registrationId: identity.registrationId,
    identityKey: identity.identityKeyPair.publicKey,
    signedPreKey: {
      id: bundle.signedPreKeyId,
      publicKey: bundle.signedPreKey,
      signature: bundle.signedPreKeySignature,
    },
    oneTimePreKeys,
    lastResortKyberPreKey: {
      id: keys.lastResortKyberPreKeyId,
      publicKey: bundle.kyberPreKey!,
      signature: bundle.kyberPreKeySignature!,
    },
    oneTimeKyberPreKeys,
  });
  await saveNumberKeys(g, ctx, number, { ...keys, published: true });
}

export async function saveNumberKeys(
  g: GatewayContext,
  ctx: BusinessContext,
  number: string,
  keys: NumberKeys,
): Promise<void> {
  await g.store.commit([sealedPut(ctx, 'meta', numberKeysKey(ctx.id, number), encodeNumberKeys(keys))]);
}

/** `count` one-time Kyber prekeys with ids from `startId` (wrapping like the EC ones). */
export async function generateOneTimeKyberPreKeys(
  sessions: SessionManager,
  startId: number,
  count: number,
): Promise<SignedPublicPreKey[]> {
  const out: SignedPublicPreKey[] = [];
  for (let i = 0; i < count; i++) {
    const { id, publicKey, signature } = await sessions.generateKyberPreKey(nextId(startId, i));
    out.push({ id, publicKey, signature });
  }
  return out;
}

/** Next prekey id after using `count` ids from `id`, wrapping within 1..0xFFFFFF as libsignal does. */
export function nextId(id: number, count: number): number {
  return ((id - 1 + count) % MAX_LOCAL_PREKEY_ID) + 1;
}
