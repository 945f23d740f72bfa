/**
 * Fetching a blob from the network's media host into the blob store: a person's file the first
 * time the business downloads it (or any file whose blob the store lost).
 *
 * Resumable: a download that breaks off (an error, or a stream that ends early) is resumed with
 * a ranged request from the first missing byte, inside the same blob-store write, so the file is
 * never fetched twice and never stored in pieces. Verified end to end: every byte, from however
 * many requests, runs through one `MediaVerifier`, and the blob-store write commits only if the
 * whole blob has the pointer's length, MAC and both hashes — a host that serves other bytes on a
 * resumed request fails the check and nothing is stored.
 */
import { isParleyError, ParleyError } from '../errors.js';
import { readBytes } from '../media/byte-source.js';
import { encryptedLength } from '../media/media-format.js';
import { type MediaDescriptor, MediaVerifier } from '../media/media-verifier.js';
import type { GatewayContext } from './context.js';
import type { GatewayMedia, MediaLocation } from './media-options.js';
import type { MediaTransferProgress } from './media-types.js';

export interface BlobFetch {
  readonly blobId: string;
  readonly location: MediaLocation;
  readonly descriptor: MediaDescriptor;
  /** The blob's `expiresAt` in the blob store: the media record's deadline. */
  readonly deadline: number;
  /** For logs: ids only. */
  readonly businessId: string;
  readonly mediaId: string;
  readonly onProgress?: ((progress: MediaTransferProgress) => void) | undefined;
}

/**
 * Fetches once per blob at a time: a second caller in this process waits and then finds the
 * blob stored; another instance sharing the blob store that stored it first wins the write-once
 * `put`, and its blob (checked the same way) is used.
 */
export async function fetchBlobOnce(g: GatewayContext, media: GatewayMedia, fetch: BlobFetch): Promise<void> {
  await g.queue.run(`media/${fetch.blobId}`, async () => {
    if (await media.blobStore.head(fetch.blobId)) return;
    try {
      await fetchBlob(g, media, fetch);
    } catch (error) {
      if (isParleyError(error, 'ERR_STORE_CONFLICT') && (await media.blobStore.head(fetch.blobId))) return;
      throw error;
    }
  });
}

async function fetchBlob(g: GatewayContext, media: GatewayMedia, fetch: BlobFetch): Promise<void> {
  const length = encryptedLength(fetch.descriptor.fileLength);
  const verifier = new MediaVerifier({ crypto: g.crypto, random: g.random, descriptor: fetch.descriptor });
  const { businessId, mediaId } = fetch;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    let offset = 0;
    let fruitless = 0;
    try {
      for (;;) {
        const start = offset;
        try {
          const source = await media.transport.download(fetch.location, start > 0 ? { start } : undefined);
          for await (const chunk of readBytes(source, 'download')) {
            // Throws ERR_MEDIA_INTEGRITY at the first byte past the pointer's length.
            verifier.update(chunk);
            offset += chunk.length;
            fetch.onProgress?.({ phase: 'fetch', bytes: offset, total: length });
            yield chunk;
          }
          if (offset === length) break;
        } catch (error) {
          if (isParleyError(error, 'ERR_MEDIA_INTEGRITY')) throw error;
        }
        fruitless = offset > start ? 0 : fruitless + 1;
        if (fruitless >= media.downloadAttempts) {
          throw new ParleyError(
            'ERR_TRANSPORT_FAILURE',
            'the media host did not deliver the blob (attempts without progress exhausted)',
            { businessId, mediaId, attempts: fruitless, received: offset, length },
          );
        }
        g.log('debug', 'media download broke off; resuming with a ranged request', {
          businessId,
          mediaId,
          received: offset,
          length,
        });
      }
      verifier.finish().binding.destroy();
    } finally {
      verifier.abort();
    }
  }
  await media.blobStore.put(fetch.blobId, chunks(), {
    maxBytes: length,
    declaredLength: length,
    expiresAt: fetch.deadline,
  });
  g.log('debug', 'media fetched from the media host', { businessId, mediaId });
}
