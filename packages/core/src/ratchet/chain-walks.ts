import { toHex } from '../bytes.js';

/**
 * Remembers where walks along symmetric KDF chains got to, so the same walk is never done
 * twice for an unverified message. A forged message claiming counter 25 000 makes us walk a
 * receiver chain 25 000 steps before its MAC fails; nothing of that is committed (failure
 * changes nothing), so without this cache every repeat of the frame — or a variation of its
 * counter — would pay again. A walk is identified by where it starts (the chain key at the
 * committed index); positions along it are kept every CHECKPOINT_INTERVAL steps and at its
 * furthest point, so any later request on the same chain starts at most one interval back.
 *
 * Per `SessionManager` instance and in memory only: a cache, never the truth. Positions hold
 * chain keys (as decoded session records do in memory); nothing here is logged or exported.
 */
export interface ChainPosition {
  readonly index: number;
  readonly key: Uint8Array;
}

/** Steps between kept positions: a repeat with another counter costs at most this many. */
export const CHECKPOINT_INTERVAL = 512;
/** Walks kept (least recently used dropped): ~60 positions × 40 bytes each at most. */
const DEFAULT_MAX_WALKS = 512;

interface Walk {
  /** Ascending by index; the first is the start. */
  readonly positions: ChainPosition[];
}

export class ChainWalks {
  private readonly walks = new Map<string, Walk>();

  constructor(private readonly maxWalks = DEFAULT_MAX_WALKS) {}

  /** The furthest known position at or before `target` on the chain starting at `start`. */
  nearest(domain: string, start: ChainPosition, target: number): ChainPosition {
    const id = walkId(domain, start);
    const walk = this.walks.get(id);
    if (!walk) return start;
    // Refresh its place in the LRU order.
    this.walks.delete(id);
    this.walks.set(id, walk);
    const positions = walk.positions;
    let lo = 0;
    let hi = positions.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (positions[mid]!.index <= target) lo = mid;
      else hi = mid - 1;
    }
    const found = positions[lo]!;
    return found.index <= target ? found : start;
  }

  /** Records a position reached on the chain starting at `start` (kept when it is a checkpoint or the furthest). */
  record(domain: string, start: ChainPosition, position: ChainPosition, furthest = false): void {
    if (!furthest && (position.index - start.index) % CHECKPOINT_INTERVAL !== 0) return;
    const id = walkId(domain, start);
    let walk = this.walks.get(id);
    if (!walk) {
      walk = { positions: [start] };
      this.walks.set(id, walk);
      if (this.walks.size > this.maxWalks) this.walks.delete(this.walks.keys().next().value!);
    }
    const positions = walk.positions;
    const last = positions[positions.length - 1]!;
    if (position.index > last.index) {
      // A furthest point that is not a checkpoint is replaced when the walk goes further.
      if (last !== positions[0] && (last.index - start.index) % CHECKPOINT_INTERVAL !== 0) positions.pop();
      positions.push(position);
    }
  }

  get size(): number {
    return this.walks.size;
  }
}

function walkId(domain: string, start: ChainPosition): string {
  return `${domain}:${start.index}:${toHex(start.key)}`;
}
