import { wipe } from '../../bytes.js';
import type { RandomSource } from '../../crypto/provider.js';
import { isParleyError, ParleyError } from '../../errors.js';
import type { Clock, Store } from '../../storage/contract.js';
import type { KeyProvider } from '../key-provider.js';
import { vaultKey } from './layout.js';

/** Default retention period: one content key per day of deadlines. */
export const DEFAULT_PERIOD_MS = 24 * 60 * 60 * 1000;
const DATA_KEY_LENGTH = 32;

/**
 * Content keys for crypto-shredding. A message whose deadline falls in period `p`
 * (`floor(deadline / periodMs)`) is encrypted under the key of `p`. That key is stored
 * wrapped in the vault store (its own adapter instance) with `expiresAt` at the end of `p`,
 * i.e. after the last deadline it guards; sweeping the vault destroys it, and every copy of
 * the message store, backups included, loses that period's content. Content in a backup
 * stays readable at most one period past its deadline: pick a shorter period to tighten it.
 */
export class PeriodKeys {
  private readonly cache = new Map<string, { readonly key: Uint8Array; readonly expiresAt: number }>();

  constructor(
    private readonly options: {
      readonly vaultStore: Store;
      readonly keyProvider: KeyProvider;
      readonly random: RandomSource;
      readonly clock: Clock;
      readonly periodMs: number;
    },
  ) {}

  periodOf(deadline: number): number {
    return Math.floor(deadline / this.options.periodMs);
  }

  /** The key for a message with this deadline, created on first use. */
  async forDeadline(businessId: string, deadline: number): Promise<{ period: number; key: Uint8Array }> {
    const period = this.periodOf(deadline);
    for (let attempt = 0; attempt < 4; attempt++) {
      const existing = await this.forPeriod(businessId, period);
      if (existing) return { period, key: existing };
      const key = this.options.random(DATA_KEY_LENGTH);
      const recordKey = vaultKey(businessId, period);
      const wrapped = await this.options.keyProvider.wrapKey(key, context(businessId, period));
      const expiresAt = (period + 1) * this.options.periodMs;
      try {
        await this.options.vaultStore.commit(
          [{ type: 'put', namespace: 'vault', key: recordKey, value: wrapped, expiresAt }],
          {
            expectVersions: [{ namespace: 'vault', key: recordKey, version: 0 }],
          },
        );
      } catch (error) {
        // Another writer created this period's key first: use theirs.
        if (isParleyError(error, 'ERR_STORE_CONFLICT')) continue;
        throw error;
      }
      this.cache.set(recordKey, { key, expiresAt });
      return { period, key };
    }
    throw new ParleyError('ERR_STORE_CONFLICT', 'could not create the period key', { period });
  }

  /** The key of a period, or undefined once it was destroyed (or never existed). */
  async forPeriod(businessId: string, period: number): Promise<Uint8Array | undefined> {
    const recordKey = vaultKey(businessId, period);
    const now = this.options.clock.now();
    const cached = this.cache.get(recordKey);
    if (cached && cached.expiresAt > now) return cached.key;
    if (cached) this.drop(recordKey);
    const record = await this.options.vaultStore.get('vault', recordKey);
    if (!record) return undefined;
    const key = await this.options.keyProvider.unwrapKey(record.value, context(businessId, period));
    this.cache.set(recordKey, { key, expiresAt: record.expiresAt ?? (period + 1) * this.options.periodMs });
    return key;
  }

  /** Forgets cached keys of ended periods (best-effort wipe) and destroys them in the vault. */
  async destroyExpired(): Promise<number> {
    const now = this.options.clock.now();
    for (const [recordKey, entry] of this.cache) if (entry.expiresAt <= now) this.drop(recordKey);
    return this.options.vaultStore.sweepExpired(now);
  }

  /** Wipes every cached key (on close). */
  clear(): void {
    for (const recordKey of [...this.cache.keys()]) this.drop(recordKey);
  }

  private drop(recordKey: string): void {
    wipe(this.cache.get(recordKey)?.key);
    this.cache.delete(recordKey);
  }
}

export function periodKeyContext(businessId: string, period: number): string {
  return context(businessId, period);
}

function context(businessId: string, period: number): string {
  return `parley/period/${businessId}/${period}`;
}
