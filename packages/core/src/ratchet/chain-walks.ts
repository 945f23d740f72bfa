import { bytesEqual, concatBytes, toHex } from '../bytes.js';

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

/**
 * The outputs of a DH ratchet step done for an unverified message: the next root key, the new
 * receiving chain's first key, and our next sending key pair and chain key. Plain bytes: every
 * use builds fresh state objects from them.
 */
export interface RememberedStep {
  readonly rootKey: Uint8Array;
  readonly receivingChainKey: Uint8Array;
  readonly senderPublicKey: Uint8Array;
  readonly senderPrivateKey: Uint8Array;
  readonly sendingChainKey: Uint8Array;
}

export class ChainWalks {
  private readonly walks = new Map<string, Walk>();
  /** By their ratchet key; the root and sending key it was derived from are checked on lookup. */
  private readonly steps = new Map<string, { from: Uint8Array; step: RememberedStep }>();

  constructor(private readonly maxWalks = DEFAULT_MAX_WALKS) {}

  /**
   * A DH step already done from this root key and sending key for this ratchet key (a forged
   * message repeating a new ratchet key costs no new DH, and its walk is found again).
   */
  rememberedStep(
    rootKey: Uint8Array,
    ourPublicKey: Uint8Array,
    theirKey: Uint8Array,
  ): RememberedStep | undefined {
    if (this.steps.size === 0) return undefined;
    const entry = this.steps.get(toHex(theirKey));
    return entry && bytesEqual(entry.from, concatBytes(rootKey, ourPublicKey)) ? entry.step : undefined;
  }

  rememberStep(
    rootKey: Uint8Array,
    ourPublicKey: Uint8Array,
    theirKey: Uint8Array,
    step: RememberedStep,
  ): void {
    const id = toHex(theirKey);
    this.steps.delete(id);
    this.steps.set(id, { from: concatBytes(rootKey, ourPublicKey), step });
    if (this.steps.size > this.maxWalks) this.steps.delete(this.steps.keys().next().value!);
  }

  /** The furthest known position at or before `target` on the chain starting at `start`. */
  nearest(domain: string, start: ChainPosition, target: number): ChainPosition {
    // The usual message needs no walk: skip the lookup.
    if (target <= start.index || this.walks.size === 0) return start;
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
