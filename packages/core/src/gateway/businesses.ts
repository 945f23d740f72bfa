import { wipe } from '../bytes.js';
import { isParleyError, ParleyError } from '../errors.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { BUSINESS_PREFIX, businessKey, numberIndexKey, numberKeysPrefix } from './durable/layout.js';
import { put } from './durable/message-store.js';
import { createAesGcmSealer } from './durable/record-sealer.js';
import { type BusinessConfig, decodeBusinessConfig, encodeBusinessConfig } from './durable/records.js';
import { DAY_MS, KEY_LENGTH, MAX_RETENTION_DAYS } from './options.js';
import type { BusinessRegistration } from './types.js';
import { assertArgumentObject, assertBusinessId, BUSINESS_ID } from './validation.js';

export async function registerBusiness(g: GatewayContext, registration: BusinessRegistration): Promise<void> {
  g.assertOpen();
  assertArgumentObject(
    registration,
    'registration',
    'a registration { businessId, retentionDays?, region? }',
  );
  const businessId = registration.businessId;
  assertBusinessId(businessId);
  const retentionDays = registration.retentionDays ?? MAX_RETENTION_DAYS;
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > MAX_RETENTION_DAYS) {
    throw new ParleyError(
      'ERR_CONFIGURATION',
      `"retentionDays" expected an integer from 1 to ${MAX_RETENTION_DAYS}`,
      {
        retentionDays: Number.isFinite(retentionDays) ? retentionDays : String(retentionDays),
      },
    );
  }
  const region = registration.region;
  if (region !== undefined && (typeof region !== 'string' || region.length === 0)) {
    throw new ParleyError('ERR_CONFIGURATION', '"region" expected a non-empty string');
  }
  assertResidency(g, businessId, region);
  const existing = await g.store.get('meta', businessKey(businessId));
  if (existing) {
    const config = decodeBusinessConfig(existing.value);
    if (config.retentionDays === retentionDays && config.region === region) return;
    throw new ParleyError('ERR_CONFIGURATION', 'business already registered with other settings', {
      retentionDays: config.retentionDays,
    });
  }
  const recordKey = g.random(KEY_LENGTH);
  const pseudonymKey = g.random(KEY_LENGTH);
  const config: BusinessConfig = {
    retentionDays,
    region,
    wrappedRecordKey: await g.keyProvider.wrapKey(recordKey, recordKeyContext(businessId)),
    wrappedPseudonymKey: await g.keyProvider.wrapKey(pseudonymKey, pseudonymKeyContext(businessId)),
  };
  wipe(recordKey, pseudonymKey);
  try {
    await g.store.commit([put('meta', businessKey(businessId), encodeBusinessConfig(config))], {
      expectVersions: [{ namespace: 'meta', key: businessKey(businessId), version: 0 }],
    });
  } catch (error) {
    if (isParleyError(error, 'ERR_STORE_CONFLICT')) return registerBusiness(g, registration);
    throw error;
  }
}

export async function numbers(g: GatewayContext, businessId: string): Promise<string[]> {
  g.assertOpen();
  await business(g, businessId);
  const prefix = numberKeysPrefix(businessId);
  return (await g.store.list('meta', { prefix })).map((record) => record.key.slice(prefix.length));
}

// ── Helpers ───────────────────────────────────────────────────────────────────────

export async function business(g: GatewayContext, businessId: string): Promise<BusinessContext> {
  assertBusinessId(businessId);
  let pending = g.businesses.get(businessId);
  if (!pending) {
    pending = loadBusiness(g, businessId);
    g.businesses.set(businessId, pending);
    pending.catch(() => g.businesses.delete(businessId));
  }
  const ctx = await pending;
  assertResidency(g, businessId, ctx.config.region);
  return ctx;
}

/** Every registered business this gateway may serve; one pinned elsewhere is reported and skipped. */
export async function allBusinesses(g: GatewayContext): Promise<BusinessContext[]> {
  const out: BusinessContext[] = [];
  for (const record of await g.store.list('meta', { prefix: BUSINESS_PREFIX })) {
    try {
      out.push(await business(g, record.key.slice(BUSINESS_PREFIX.length)));
    } catch (error) {
      if (!isParleyError(error, 'ERR_RESIDENCY')) throw error;
      g.reportError(error);
    }
  }
  return out;
}

export async function loadBusiness(g: GatewayContext, businessId: string): Promise<BusinessContext> {
  const record = await g.store.get('meta', businessKey(businessId));
  if (!record) throw new ParleyError('ERR_NOT_FOUND', 'no such business; call registerBusiness() first');
  const config = decodeBusinessConfig(record.value);
  assertResidency(g, businessId, config.region);
  const recordKey = await g.keyProvider.unwrapKey(config.wrappedRecordKey, recordKeyContext(businessId));
  const pseudonymKey = await g.keyProvider.unwrapKey(
    config.wrappedPseudonymKey,
    pseudonymKeyContext(businessId),
  );
  const sealer = createAesGcmSealer(g.crypto, g.random, recordKey);
  wipe(recordKey);
  const ctx: BusinessContext = {
    id: businessId,
    config,
    retentionMs: config.retentionDays * DAY_MS,
    sealer,
    pseudonymKey,
    numbers: new Map(),
  };
  for (const loaded of g.onBusinessLoaded) await loaded(ctx);
  return ctx;
}

/** A business pinned to a region writes only to stores, and unwraps only with a provider, of that region. */
export function assertResidency(g: GatewayContext, businessId: string, region: string | undefined): void {
  if (region === undefined) return;
  const components: [string, string | undefined][] = [
    ['store', g.store.region],
    ['vaultStore', g.vaultStore.region],
    ['keyProvider', g.keyProvider.region],
    ...(g.media ? ([['blobStore', g.media.blobStore.region]] as [string, string | undefined][]) : []),
  ];
  for (const [component, declared] of components) {
    if (declared !== region) {
      throw new ParleyError('ERR_RESIDENCY', `the ${component} is not in the business's pinned region`, {
        businessId,
        component,
        required: region,
        declared: declared ?? 'undeclared',
      });
    }
  }
}

export async function businessOfNumber(g: GatewayContext, number: string): Promise<string> {
  const record = await g.store.get('meta', numberIndexKey(number));
  if (!record)
    throw new ParleyError('ERR_NOT_FOUND', 'this business number is not registered with the gateway');
  const businessId = decodeText(record.value);
  if (businessId === undefined || !BUSINESS_ID.test(businessId)) {
    throw new ParleyError('ERR_INVALID_RECORD', 'the number index record is corrupt', {
      record: 'number index',
    });
  }
  return businessId;
}

function decodeText(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

export function recordKeyContext(businessId: string): string {
  return `parley/records/${businessId}`;
}

export function pseudonymKeyContext(businessId: string): string {
  return `parley/pseudonym/${businessId}`;
}
