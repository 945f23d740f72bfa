import { utf8 } from '../bytes.js';
import { isParleyError, ParleyError } from '../errors.js';
import { MAX_LOCAL_PREKEY_ID } from '../keys/prekeys.js';
import {
  kyberPreKeyWrites,
  oneTimePreKeyWrites,
  signedPreKeyWrite,
  storedKyberPublicKeys,
  storedOneTimePublicKeys,
} from '../session/local-key-writes.js';
import type { WriteOperation } from '../storage/contract.js';
import { allBusinesses, business, numbers } from './businesses.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { numberIndexKey, numberKeysKey } from './durable/layout.js';
import { put, sealedPut } from './durable/message-store.js';
import {
  decodeNumberKeys,
  encodeNumberKeys,
  type NumberKeys,
  type PreviousPreKey,
} from './durable/records.js';
import { errorCode } from './logger.js';
import { BUSINESS_DEVICE_ID } from './outbound.js';
import { assertPhoneNumber } from './validation.js';

/**
 * Registers a business number in ONE commit: its number index, its key schedule and every
 * prekey (signed, last-resort Kyber, one-time EC and Kyber). Only the identity key is written
 * before, by the idempotent `initializeIdentity` (a retry after a crash finds and reuses it).
 * A crash anywhere leaves either no registration (call `addNumber` again) or a complete one;
 * an interrupted upload to the directory is repeated by `maintainPreKeys` (the schedule says
 * it is not published; see `publishPending` for its one-time keys).
 */
export async function addNumber(g: GatewayContext, businessId: string, number: string): Promise<void> {
  g.assertOpen();
  assertPhoneNumber(number, 'number');
  const ctx = await business(g, businessId);
  if (await g.store.get('meta', numberIndexKey(number))) throw alreadyRegistered();
  const sessions = g.sessions(ctx, number);
  const { identityKeyPair } = await sessions.initializeIdentity();
  const records = sessions.records;
  const keyCtx = { crypto: g.crypto, random: g.random };
  const now = g.clock.now();
  const signed = signedPreKeyWrite(records, keyCtx, identityKeyPair, 1, now);
  const lastResort = kyberPreKeyWrites(records, keyCtx, identityKeyPair, [1], now, { lastResort: true });
  const oneTime = oneTimePreKeyWrites(records, keyCtx, 1, g.preKeyBatch);
  const oneTimeKyber = kyberPreKeyWrites(records, keyCtx, identityKeyPair, idRange(2, g.kyberBatch), now, {
    lastResort: false,
  });
  const keys: NumberKeys = {
    signedPreKeyId: 1,
    signedPreKeyCreatedAt: now,
    previousSignedPreKeys: [],
    nextSignedPreKeyId: 2,
    nextOneTimePreKeyId: nextId(1, g.preKeyBatch),
    lastResortKyberPreKeyId: 1,
    previousKyberPreKeys: [],
    nextKyberPreKeyId: nextId(2, g.kyberBatch),
    published: false,
    unpublishedOneTime: oneTime.published.map((key) => key.id),
    unpublishedKyber: oneTimeKyber.published.map((key) => key.id),
  };
  const scheduleKey = numberKeysKey(ctx.id, number);
  try {
    await g.store.commit(
      [
        signed.write,
        ...lastResort.writes,
        ...oneTime.writes,
        ...oneTimeKyber.writes,
        sealedPut(ctx, 'meta', scheduleKey, encodeNumberKeys(keys)),
        put('meta', numberIndexKey(number), utf8(businessId)),
      ],
      {
        expectVersions: [
          { namespace: 'meta', key: numberIndexKey(number), version: 0 },
          { namespace: 'meta', key: scheduleKey, version: 0 },
        ],
      },
    );
  } catch (error) {
    if (isParleyError(error, 'ERR_STORE_CONFLICT')) throw alreadyRegistered();
    throw error;
  }
  // Registered. The upload is retried by `maintainPreKeys` if the directory fails now.
  try {
    await g.queue.run(`keys/${number}`, () => publishPending(g, ctx, number));
  } catch (error) {
    g.log('warn', 'prekey upload failed; maintainPreKeys retries it', {
      businessId,
      code: errorCode(error),
    });
    g.reportError(error);
  }
}

function alreadyRegistered(): ParleyError {
  return new ParleyError('ERR_CONFIGURATION', 'this number is already registered with the gateway');
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

/**
 * One round of upkeep for a number: rotation, removal of expired predecessors and top-ups are
 * computed together and committed with the schedule in one commit (expecting the schedule's
 * version: two instances cannot both top up), then whatever is unpublished is uploaded.
 */
export async function maintainNumber(g: GatewayContext, ctx: BusinessContext, number: string): Promise<void> {
  const now = g.clock.now();
  const scheduleKey = numberKeysKey(ctx.id, number);
  const stored = await g.store.get('meta', scheduleKey);
  if (!stored) return;
  const initial = decodeNumberKeys(ctx.sealer.open('meta', scheduleKey, stored.value));
  let keys = initial;
  const sessions = g.sessions(ctx, number);
  const records = sessions.records;
  const keyCtx = { crypto: g.crypto, random: g.random };
  const writes: WriteOperation[] = [];
  const rotate = now - keys.signedPreKeyCreatedAt >= g.signedRotationMs;
  // A number added before Kyber prekeys existed gets its first last-resort key here.
  const rotateKyber = rotate || keys.lastResortKyberPreKeyId === 0;
  const identity = rotate || rotateKyber ? (await sessions.localIdentity()).identityKeyPair : undefined;
  if (rotate && identity) {
    const id = keys.nextSignedPreKeyId;
    writes.push(signedPreKeyWrite(records, keyCtx, identity, id, now).write);
    keys = {
      ...keys,
      signedPreKeyId: id,
      signedPreKeyCreatedAt: now,
      nextSignedPreKeyId: nextId(id, 1),
      previousSignedPreKeys: [
        ...keys.previousSignedPreKeys,
        { id: keys.signedPreKeyId, removeAt: now + g.signedGraceMs },
      ],
      published: false,
    };
  }
  if (rotateKyber && identity) {
    const id = keys.nextKyberPreKeyId;
    writes.push(...kyberPreKeyWrites(records, keyCtx, identity, [id], now, { lastResort: true }).writes);
    const previous = keys.lastResortKyberPreKeyId;
    keys = {
      ...keys,
      lastResortKyberPreKeyId: id,
      nextKyberPreKeyId: nextId(id, 1),
      previousKyberPreKeys:
        previous === 0
          ? keys.previousKyberPreKeys
          : [...keys.previousKyberPreKeys, { id: previous, removeAt: now + g.signedGraceMs }],
      published: false,
    };
  }
  const due = (previous: PreviousPreKey) => previous.removeAt <= now;
  for (const previous of keys.previousSignedPreKeys.filter(due)) {
    writes.push(records.delete('prekeys', records.preKeyKey('signed', previous.id)));
  }
  for (const previous of keys.previousKyberPreKeys.filter(due)) {
    writes.push(...(await sessions.kyberPreKeyRemovals(previous.id)));
  }
  keys = {
    ...keys,
    previousSignedPreKeys: keys.previousSignedPreKeys.filter((previous) => !due(previous)),
    previousKyberPreKeys: keys.previousKyberPreKeys.filter((previous) => !due(previous)),
  };
  // Keys still waiting for an upload count as available: they are not topped up twice.
  if (
    keys.unpublishedOneTime.length === 0 &&
    (await g.directory.availableOneTimePreKeys(number)) < g.preKeyLowWater
  ) {
    const batch = oneTimePreKeyWrites(records, keyCtx, keys.nextOneTimePreKeyId, g.preKeyBatch);
    writes.push(...batch.writes);
    keys = {
      ...keys,
      nextOneTimePreKeyId: nextId(keys.nextOneTimePreKeyId, g.preKeyBatch),
      unpublishedOneTime: batch.published.map((key) => key.id),
      published: false,
    };
  }
  if (
    keys.unpublishedKyber.length === 0 &&
    (await g.directory.availableOneTimeKyberPreKeys(number)) < g.kyberLowWater
  ) {
    const signer = identity ?? (await sessions.localIdentity()).identityKeyPair;
    const ids = idRange(keys.nextKyberPreKeyId, g.kyberBatch);
    const batch = kyberPreKeyWrites(records, keyCtx, signer, ids, now, { lastResort: false });
    writes.push(...batch.writes);
    keys = {
      ...keys,
      nextKyberPreKeyId: nextId(keys.nextKyberPreKeyId, g.kyberBatch),
      unpublishedKyber: ids,
      published: false,
    };
  }
  if (writes.length > 0) {
    writes.push(sealedPut(ctx, 'meta', scheduleKey, encodeNumberKeys(keys)));
    try {
      await g.store.commit(writes, {
        expectVersions: [{ namespace: 'meta', key: scheduleKey, version: stored.version }],
      });
    } catch (error) {
      // Another instance did this round's upkeep first: nothing of ours was written.
      if (isParleyError(error, 'ERR_STORE_CONFLICT')) return;
      throw error;
    }
  }
  if (!keys.published) await publishPending(g, ctx, number);
}

/**
 * Uploads the number's current keys with every one-time key not yet published (read back from
 * the store), then marks the schedule published — unless it changed meanwhile (that change
 * publishes itself).
 *
 * The directory appends one-time keys, so each is handed to at most one upload: a commit takes
 * them off the unpublished lists before the upload starts. An upload that dies after reaching
 * the directory and before the schedule says so is repeated without them (the directory holds
 * them already; sent again, each would be served to two people and the second one's first
 * message refused). One that never arrived loses its keys: upkeep sees the directory run low
 * and publishes a fresh batch. Taking the keys expects the schedule's version, so of two
 * instances only one uploads them.
 */
export async function publishPending(g: GatewayContext, ctx: BusinessContext, number: string): Promise<void> {
  const scheduleKey = numberKeysKey(ctx.id, number);
  const stored = await g.store.get('meta', scheduleKey);
  if (!stored) return;
  const keys = decodeNumberKeys(ctx.sealer.open('meta', scheduleKey, stored.value));
  if (keys.published) return;
  let version = stored.version;
  if (keys.unpublishedOneTime.length > 0 || keys.unpublishedKyber.length > 0) {
    const taken: NumberKeys = { ...keys, unpublishedOneTime: [], unpublishedKyber: [] };
    try {
      const result = await g.store.commit([sealedPut(ctx, 'meta', scheduleKey, encodeNumberKeys(taken))], {
        expectVersions: [{ namespace: 'meta', key: scheduleKey, version }],
      });
      version = result.versions[0]!.version;
    } catch (error) {
      // Another instance took them (and uploads them), or changed the schedule (and publishes).
      if (isParleyError(error, 'ERR_STORE_CONFLICT')) return;
      throw error;
    }
  }
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
    oneTimePreKeys: await storedOneTimePublicKeys(sessions.records, keys.unpublishedOneTime),
    lastResortKyberPreKey: {
      id: keys.lastResortKyberPreKeyId,
      publicKey: bundle.kyberPreKey!,
      signature: bundle.kyberPreKeySignature!,
    },
    oneTimeKyberPreKeys: await storedKyberPublicKeys(sessions.records, keys.unpublishedKyber),
  });
  const done: NumberKeys = { ...keys, published: true, unpublishedOneTime: [], unpublishedKyber: [] };
  try {
    await g.store.commit([sealedPut(ctx, 'meta', scheduleKey, encodeNumberKeys(done))], {
      expectVersions: [{ namespace: 'meta', key: scheduleKey, version }],
    });
  } catch (error) {
    if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
  }
}

/** `count` prekey ids from `startId`, wrapping like `nextId`. */
export function idRange(startId: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => nextId(startId, i));
}

/** Next prekey id after using `count` ids from `id`, wrapping within 1..0xFFFFFF as libsignal does. */
export function nextId(id: number, count: number): number {
  return ((id - 1 + count) % MAX_LOCAL_PREKEY_ID) + 1;
}
