import { ByteReader, ByteWriter } from '../../binary.js';
import { utf8 } from '../../bytes.js';
import type { GatewayContext } from '../context.js';
import { leaseKey } from './layout.js';
import { commitExpecting, put } from './message-store.js';

/**
 * A lease on shared upkeep (the retention sweep): one record per job holding the instance that
 * runs it and until when, taken by compare-and-swap, so that of several instances over one
 * store one does the job per lease period. The holder may renew its own lease; a lease that
 * ran out (its holder died) is free. Times are each instance's injected clock (see claims.ts).
 */
export async function tryLease(g: GatewayContext, name: string, durationMs: number): Promise<boolean> {
  const key = leaseKey(name);
  const stored = await g.store.get('meta', key);
  const now = g.clock.now();
  if (stored) {
    const held = decodeLease(stored.value);
    if (held.until > now && held.holder !== g.instanceId) return false;
    // Ours with more than half to run: no need to write the renewal yet.
    if (held.holder === g.instanceId && held.until - now > durationMs / 2) return true;
  }
  const until = now + durationMs;
  const value = new ByteWriter(32).u8(1).bytes(utf8(g.instanceId)).u64(until).finish();
  const committed = await commitExpecting(
    g,
    [put('meta', key, value, until)],
    [{ namespace: 'meta', key, version: stored?.version ?? 0 }],
  );
  return committed !== undefined;
}

function decodeLease(bytes: Uint8Array): { holder: string; until: number } {
  const r = new ByteReader(bytes, 'lease');
  if (r.u8() !== 1) r.fail('unknown format');
  const holder = r.text();
  const until = r.u64();
  r.end();
  return { holder, until };
}
