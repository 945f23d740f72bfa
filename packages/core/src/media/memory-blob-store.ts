import { copyBytes } from '../bytes.js';
import { assertOptionalClock, assertOptionalString } from '../configuration.js';
import { ParleyError } from '../errors.js';
import { checkSweepNow, closedError, ExpiryClock, isLive } from '../storage/adapter-kit.js';
import { type Clock, systemClock } from '../storage/contract.js';
import type { BlobInfo, BlobStore } from './blob-store.js';
import {
  assertBlobId,
  checkBlobListOptions,
  checkPutOptions,
  checkRange,
  limitedBytes,
  pullStream,
} from './blob-store-kit.js';

export interface MemoryBlobStoreOptions {
  readonly clock?: Clock;
  readonly region?: string;
}

interface MemoryBlob {
  readonly chunks: readonly Uint8Array[];
  readonly length: number;
  readonly expiresAt: number | undefined;
}

/**
 * The reference blob store: blobs as lists of copied chunks in a `Map`, nothing durable. The
 * other adapters behave exactly like it (the media conformance suite runs against it first).
 */
export function createMemoryBlobStore(options: MemoryBlobStoreOptions = {}): BlobStore {
  assertOptionalClock(options.clock, 'clock');
  assertOptionalString(options.region, 'region', 'a region name such as "eu"');
  const expiry = new ExpiryClock(options.clock ?? systemClock);
  const blobs = new Map<string, MemoryBlob>();
  let closed = false;

  function assertOpen(): void {
    if (closed) throw closedError('memory blob', 'create a new store to continue');
  }

  function live(id: string): MemoryBlob | undefined {
    const blob = blobs.get(id);
    return blob !== undefined && isLive(blob.expiresAt, expiry.now()) ? blob : undefined;
  }

  function info(id: string, blob: MemoryBlob): BlobInfo {
    return { id, length: blob.length, expiresAt: blob.expiresAt };
  }

  return {
    kind: 'memory',
    region: options.region,

    async put(id, source, putOptions) {
      assertOpen();
      assertBlobId(id);
      const checked = checkPutOptions(putOptions);
      if (live(id) !== undefined) throw conflict(id);
      const chunks: Uint8Array[] = [];
      let length = 0;
      for await (const chunk of limitedBytes(source, checked)) {
        chunks.push(copyBytes(chunk));
        length += chunk.length;
      }
      assertOpen();
      // Another put of the same id may have finished while this one was reading.
      if (live(id) !== undefined) throw conflict(id);
      const blob = { chunks, length, expiresAt: checked.expiresAt };
      blobs.set(id, blob);
      return info(id, blob);
    },

    async head(id) {
      assertOpen();
      assertBlobId(id);
      const blob = live(id);
      return blob === undefined ? undefined : info(id, blob);
    },

    async get(id, range) {
      assertOpen();
      assertBlobId(id);
      const blob = live(id);
      if (blob === undefined) return undefined;
      const { start, end } = checkRange(range, blob.length);
      let index = 0;
      let chunkStart = 0;
      const stream = pullStream(async () => {
        // Skips chunks before the range; hands out copies, never the stored arrays.
        while (index < blob.chunks.length) {
          const chunk = blob.chunks[index]!;
          const begin = chunkStart;
          index += 1;
          chunkStart += chunk.length;
          if (begin >= end) break;
          const from = Math.max(start, begin);
          const to = Math.min(end, chunkStart);
          if (from < to) return chunk.slice(from - begin, to - begin);
        }
        return undefined;
      });
      return { info: info(id, blob), stream };
    },

    async delete(id) {
      assertOpen();
      assertBlobId(id);
      return blobs.delete(id);
    },

    async list(listOptions) {
      assertOpen();
      const { prefix, limit } = checkBlobListOptions(listOptions);
      const out: BlobInfo[] = [];
      const ids = [...blobs.keys()]
        .filter((id) => id.startsWith(prefix))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const id of ids) {
        if (out.length >= limit) break;
        const blob = live(id);
        if (blob !== undefined) out.push(info(id, blob));
      }
      return out;
    },

    async sweepExpired(now) {
      assertOpen();
      checkSweepNow(now);
      const bound = expiry.sweepBound(now);
      let removed = 0;
      for (const [id, blob] of blobs) {
        if (!isLive(blob.expiresAt, bound)) {
          blobs.delete(id);
          removed += 1;
        }
      }
      return removed;
    },

    async close() {
      closed = true;
      blobs.clear();
    },
  };
}

function conflict(id: string): ParleyError {
  return new ParleyError('ERR_STORE_CONFLICT', 'a blob with this id exists; blobs are written once', {
    store: 'memory blob',
    length: id.length,
  });
}
