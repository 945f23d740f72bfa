import { wipe } from '../../bytes.js';
import { isParleyError, ParleyError } from '../../errors.js';
import type { GatewayContext } from '../context.js';
import { KEY_LENGTH } from '../options.js';
import { put } from './message-store.js';

/**
 * A gateway-wide secret (the integrity sketch key, the statistics tag key, the access-log MAC
 * key): made once per message store, kept only wrapped by the key provider under `context`,
 * and unwrapped by every instance that uses the store. Two instances creating it at once
 * agree on the first one committed.
 */
export async function loadOrCreateKey(
  g: GatewayContext,
  recordKey: string,
  context: string,
): Promise<Uint8Array> {
  let stored = await g.store.get('meta', recordKey);
  if (!stored) {
    const fresh = g.random(KEY_LENGTH);
    const wrapped = await g.keyProvider.wrapKey(fresh, context);
    wipe(fresh);
    try {
      await g.store.commit([put('meta', recordKey, wrapped)], {
        expectVersions: [{ namespace: 'meta', key: recordKey, version: 0 }],
      });
    } catch (error) {
      if (!isParleyError(error, 'ERR_STORE_CONFLICT')) throw error;
    }
    stored = await g.store.get('meta', recordKey);
    if (!stored)
      throw new ParleyError('ERR_STORE_FAILURE', 'a gateway key could not be stored', { record: recordKey });
  }
  return g.keyProvider.unwrapKey(stored.value, context);
}
