import { ByteReader, ByteWriter } from '../../binary.js';
import { ParleyError } from '../../errors.js';
import type { WriteOperation } from '../../storage/contract.js';
import { allBusinesses, numbers } from '../businesses.js';
import { type BusinessContext, type GatewayContext, personQueueKey } from '../context.js';
import { errorCode } from '../logger.js';
import { assertDeviceId, assertDeviceIds, assertPhoneNumber } from '../validation.js';
import { contactKey, devicesKey } from './layout.js';
import { readSealed, sealedPut } from './message-store.js';

/**
 * A person's devices, as one business knows them. The directory is the truth; the stored list
 * is a cache of it with the time it was confirmed. A list is asked of the directory again
 * before a send when it is older than `devices.refreshMs`, or was never confirmed — it grew
 * from inbound frames alone (a device the business had not heard of wrote in) — so a person
 * who wrote from one device gets replies on all of them. `setDevices` from the transport
 * replaces it at once.
 */
export interface DeviceList {
  readonly devices: readonly number[];
  /** When the directory (or the transport's `setDevices`) last confirmed it; 0 = never. */
  readonly confirmedAt: number;
}

/** Format 1 had no confirmation time: it reads as never confirmed (refreshed at the next send). */
const DEVICE_LIST_FORMAT = 2;

export function encodeDeviceList(list: DeviceList): Uint8Array {
  const w = new ByteWriter(16 + list.devices.length * 4)
    .u8(DEVICE_LIST_FORMAT)
    .u64(list.confirmedAt)
    .u32(list.devices.length);
  for (const id of list.devices) w.u32(id);
  return w.finish();
}

export function decodeDeviceList(bytes: Uint8Array): DeviceList {
  const r = new ByteReader(bytes, 'device list');
  const format = r.u8();
  if (format !== 1 && format !== DEVICE_LIST_FORMAT) r.fail('unknown format');
  const confirmedAt = format === 1 ? 0 : r.u64();
  const count = r.u32();
  if (count > r.remaining / 4) r.fail('device count out of range');
  const devices: number[] = [];
  for (let i = 0; i < count; i++) devices.push(r.u32());
  r.end();
  return { devices, confirmedAt };
}

export async function readDeviceList(
  g: GatewayContext,
  ctx: BusinessContext,
  pseudonym: string,
): Promise<DeviceList | undefined> {
  const bytes = await readSealed(g, ctx, 'meta', devicesKey(ctx.id, pseudonym));
  return bytes && decodeDeviceList(bytes);
}

export function deviceListWrite(ctx: BusinessContext, pseudonym: string, list: DeviceList): WriteOperation {
  return sealedPut(ctx, 'meta', devicesKey(ctx.id, pseudonym), encodeDeviceList(list));
}

/**
 * The person's devices for a send: the stored list while it is fresh, else the directory's
 * (stored, with the sessions of devices that left deleted, in one commit). When the directory
 * fails, a stored list is used as it is; with none, the send fails and is retried.
 */
export async function currentDevices(
  g: GatewayContext,
  ctx: BusinessContext,
  phoneNumber: string,
  pseudonym: string,
): Promise<readonly number[]> {
  const stored = await readDeviceList(g, ctx, pseudonym);
  const now = g.clock.now();
  if (stored && stored.confirmedAt > 0 && stored.confirmedAt + g.deviceRefreshMs > now) {
    return stored.devices;
  }
  let fetched: number[];
  try {
    fetched = [...new Set(await g.directory.fetchDevices(phoneNumber))];
    for (const deviceId of fetched) assertDeviceId(deviceId);
  } catch (error) {
    if (!stored || stored.devices.length === 0) throw error;
    g.log('warn', 'the directory did not answer for a device list; the stored one is used', {
      businessId: ctx.id,
      code: errorCode(error),
    });
    return stored.devices;
  }
  if (fetched.length === 0) throw new ParleyError('ERR_NOT_FOUND', 'the recipient has no devices');
  await replaceDevices(g, ctx, pseudonym, stored, { devices: fetched, confirmedAt: now });
  return fetched;
}

/** The transport's list for a person: applied in every business that knows the person. */
export async function setDevices(
  g: GatewayContext,
  phoneNumber: string,
  deviceIds: readonly number[],
): Promise<void> {
  g.assertOpen();
  assertPhoneNumber(phoneNumber, 'phoneNumber');
  assertDeviceIds(deviceIds);
  const devices = [...new Set(deviceIds)];
  const now = g.clock.now();
  // Every business's list is read (and decoded) before any is replaced: an unreadable record
  // of one business refuses the call before another business's list has changed.
  const lists: { ctx: BusinessContext; pseudonym: string; stored: DeviceList | undefined }[] = [];
  for (const ctx of await allBusinesses(g)) {
    const pseudonym = g.pseudonym(ctx, phoneNumber);
    const stored = await readDeviceList(g, ctx, pseudonym);
    // A business that never exchanged a message with the person keeps nothing about them
    // (MISSION: nothing else about the person is kept); its first send asks the directory.
    if (!stored && !(await g.store.get('meta', contactKey(ctx.id, pseudonym)))) continue;
    lists.push({ ctx, pseudonym, stored });
  }
  for (const { ctx, pseudonym, stored } of lists) {
    await g.queue.run(personQueueKey(ctx.id, pseudonym), () =>
      replaceDevices(g, ctx, pseudonym, stored, { devices, confirmedAt: now }),
    );
  }
}

/** Stores a new list and deletes the sessions of devices no longer on it, in one commit. */
async function replaceDevices(
  g: GatewayContext,
  ctx: BusinessContext,
  pseudonym: string,
  previous: DeviceList | undefined,
  next: DeviceList,
): Promise<void> {
  const writes: WriteOperation[] = [deviceListWrite(ctx, pseudonym, next)];
  const removed = (previous?.devices ?? []).filter((deviceId) => !next.devices.includes(deviceId));
  if (removed.length > 0) {
    for (const number of await numbers(g, ctx.id)) {
      const records = g.sessions(ctx, number).records;
      for (const deviceId of removed) {
        writes.push(records.delete('sessions', records.sessionKey({ name: pseudonym, deviceId })));
      }
    }
  }
  await g.store.commit(writes);
  if (removed.length > 0) for (const sessions of ctx.numbers.values()) sessions.forgetName(pseudonym);
}
