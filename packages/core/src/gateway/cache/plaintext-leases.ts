import { wipe } from '../../bytes.js';
import type { Clock } from '../../storage/contract.js';

/**
 * Plaintext the gateway holds while it works on a message ("data in use"). Every such buffer
 * is taken under a lease; a lease older than the TTL (injected clock) is revoked by
 * {@link PlaintextLeases.expire}: its buffers are zeroed and whoever holds it must read the
 * content again from the encrypted store (or give up this attempt). Zeroing is best-effort in
 * JavaScript — the engine may have made copies Parley cannot reach — but no structure the
 * gateway owns keeps plaintext longer than the TTL.
 */
export class PlaintextLeases {
  private readonly leases = new Set<PlaintextLease>();

  constructor(
    private readonly clock: Clock,
    readonly ttlMs: number,
  ) {}

  /** A lease over `buffers` (more can be added), taken now. */
  acquire(...buffers: Uint8Array[]): PlaintextLease {
    const lease = new PlaintextLease(this.clock.now(), buffers, (done) => this.leases.delete(done));
    this.leases.add(lease);
    return lease;
  }

  /** Revokes every lease taken more than the TTL ago; returns how many. */
  expire(now = this.clock.now()): number {
    let revoked = 0;
    for (const lease of [...this.leases]) {
      if (now - lease.acquiredAt < this.ttlMs) continue;
      lease.revoke();
      revoked += 1;
    }
    return revoked;
  }

  /** How many leases are held, and since when the oldest. */
  stats(now = this.clock.now()): { readonly leases: number; readonly oldestAgeMs: number | undefined } {
    let oldest: number | undefined;
    for (const lease of this.leases) oldest = Math.min(oldest ?? lease.acquiredAt, lease.acquiredAt);
    return { leases: this.leases.size, oldestAgeMs: oldest === undefined ? undefined : now - oldest };
  }

  /** Revokes every lease (the gateway is closing). */
  clear(): void {
    for (const lease of [...this.leases]) lease.revoke();
  }
}

export class PlaintextLease {
  private readonly buffers: Uint8Array[];
  private readonly expiredPromise: Promise<void>;
  private resolveExpired: () => void = () => undefined;
  private state: 'held' | 'released' | 'revoked' = 'held';

  constructor(
    readonly acquiredAt: number,
    buffers: Uint8Array[],
    private readonly onDone: (lease: PlaintextLease) => void,
  ) {
    this.buffers = [...buffers];
    this.expiredPromise = new Promise((resolve) => {
      this.resolveExpired = resolve;
    });
  }

  /** True once the TTL ran out: the buffers are zeros now; read the content again. */
  get revoked(): boolean {
    return this.state === 'revoked';
  }

  /** Resolves when the lease is revoked (never, if it is released first). */
  get expired(): Promise<void> {
    return this.expiredPromise;
  }

  add(buffer: Uint8Array): Uint8Array {
    if (this.state === 'held') this.buffers.push(buffer);
    else wipe(buffer);
    return buffer;
  }

  /** Done with the plaintext: zeroes the buffers. */
  release(): void {
    if (this.state !== 'held') return;
    this.state = 'released';
    this.end();
  }

  /** The buffers now belong to someone else (the business's handler): drop them unzeroed. */
  handOver(): void {
    if (this.state !== 'held') return;
    this.state = 'released';
    this.buffers.length = 0;
    this.onDone(this);
  }

  revoke(): void {
    if (this.state !== 'held') return;
    this.state = 'revoked';
    this.end();
    this.resolveExpired();
  }

  private end(): void {
    wipe(...this.buffers);
    this.buffers.length = 0;
    this.onDone(this);
  }
}
