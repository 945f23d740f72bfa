/**
 * Media settings are checked at construction (ERR_CONFIGURATION naming the field), the blob
 * store's region joins the residency check, a gateway without media still receives people's
 * media messages (recorded, handed over with their facts) while refusing transfers, and a blob
 * another instance stored first (a shared blob store) is used rather than refused.
 */
import { describe, expect, it } from 'vitest';
import { isParleyError } from '../src/errors.js';
import { createGateway } from '../src/gateway/gateway.js';
import { createLocalKeyProvider } from '../src/gateway/key-provider.js';
import type { GatewayOptions } from '../src/gateway/options.js';
import { createMemoryBlobStore } from '../src/media/memory-blob-store.js';
import { createMemoryStore } from '../src/storage/memory.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import { SimulatedMediaServer } from '../src/testing/media-server.js';
import { TestNetwork } from '../src/testing/test-network.js';
import { createTestWorld } from '../src/testing/test-world.js';
import { testCrypto } from './support/parties.js';

function thrown(fn: () => unknown): { code: string; field: unknown } {
  try {
    fn();
  } catch (error) {
    if (isParleyError(error)) return { code: error.code, field: error.details.field };
    return { code: `not a ParleyError: ${String(error)}`, field: undefined };
  }
  return { code: 'nothing thrown', field: undefined };
}

async function rejected(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => (isParleyError(error) ? error.code : String(error)),
  );
}

function options(media: unknown, region?: string): GatewayOptions {
  const network = new TestNetwork();
  return {
    store: createMemoryStore({ region }),
    vaultStore: createMemoryStore({ region }),
    keyProvider: createLocalKeyProvider({ kek: new Uint8Array(32).fill(1), region }),
    transport: network,
    directory: network,
    timer: false,
    media,
  } as GatewayOptions;
}

describe('gateway media settings', () => {
  const blobStore = createMemoryBlobStore();
  const transport = new SimulatedMediaServer();

  it('each wrong setting is ERR_CONFIGURATION naming its field', () => {
    const cases: [unknown, string][] = [
      [null, 'media'],
      [{ transport }, 'media.blobStore'],
      [{ blobStore: Promise.resolve(blobStore), transport }, 'media.blobStore'],
      [{ blobStore, transport: { upload: async () => ({}) } }, 'media.transport'],
      [{ blobStore, transport, maxBytes: { photo: 10 } }, 'media.maxBytes.photo'],
      [{ blobStore, transport, maxBytes: { image: -1 } }, 'media.maxBytes.image'],
      [{ blobStore, transport, maxBytes: { image: 2 ** 41 } }, 'media.maxBytes.image'],
      [{ blobStore, transport, downloadAttempts: 0 }, 'media.downloadAttempts'],
    ];
    for (const [media, field] of cases) {
      expect(
        thrown(() => createGateway(options(media))),
        field,
      ).toEqual({ code: 'ERR_CONFIGURATION', field });
    }
  });

  it('a business pinned to a region needs a blob store declared in it', async () => {
    const gateway = createGateway(options({ blobStore, transport }, 'eu'));
    const error = await gateway.registerBusiness({ businessId: 'eu-shop', region: 'eu' }).catch((e) => e);
    expect(isParleyError(error, 'ERR_RESIDENCY')).toBe(true);
    expect(error.details.component).toBe('blobStore');
    const pinned = createGateway(
      options({ blobStore: createMemoryBlobStore({ region: 'eu' }), transport }, 'eu'),
    );
    await pinned.registerBusiness({ businessId: 'eu-shop', region: 'eu' });
    await Promise.all([gateway.close(), pinned.close()]);
  });

  it('without media a person’s media message is still received and described; transfers are refused', async () => {
    const world = await createTestWorld({ crypto: testCrypto(), gateway: { media: undefined } });
    const file = new TextEncoder().encode('a photo');
    await world.person.sendMedia(world.business.number, file, { type: 'image', mimetype: 'image/png' });
    await world.network.flush();
    const media = world.business.messages[0]?.media;
    expect(media).toMatchObject({ type: 'image', mimetype: 'image/png', fileLength: file.length });
    expect((await world.gateway.mediaInfo(world.business.id, media!.mediaId)).stored).toBe(false);
    expect(await rejected(world.gateway.downloadMedia(world.business.id, media!.mediaId))).toBe(
      'ERR_CONFIGURATION',
    );
    expect(
      await rejected(
        world.gateway.uploadMedia(world.business.id, file, { type: 'image', mimetype: 'image/png' }),
      ),
    ).toBe('ERR_CONFIGURATION');
    await world.close();
  });
});

describe('a blob store shared with another instance', () => {
  it('a fetch that loses the write-once put to another instance uses the blob that instance stored', async () => {
    const clock = new ManualClock();
    const inner = createMemoryBlobStore({ clock });
    let lies = 0;
    let conflicts = 0;
    // Between this instance's "is it there?" and its put, another instance stores the blob.
    const shared = {
      ...inner,
      kind: inner.kind,
      head: async (id: string) => {
        if (lies === 0) return inner.head(id);
        lies -= 1;
        return undefined;
      },
      put: async (...args: Parameters<typeof inner.put>) => {
        try {
          return await inner.put(...args);
        } catch (error) {
          if (isParleyError(error, 'ERR_STORE_CONFLICT')) conflicts += 1;
          throw error;
        }
      },
      get: inner.get,
      delete: inner.delete,
      list: inner.list,
      sweepExpired: inner.sweepExpired,
      close: inner.close,
    };
    const world = await createTestWorld({ crypto: testCrypto(), clock, media: { blobStore: shared } });
    const file = new TextEncoder().encode('a photo fetched by two instances');
    await world.person.sendMedia(world.business.number, file, { type: 'image', mimetype: 'image/png' });
    await world.network.flush();
    const { mediaId } = world.business.messages[0]!.media!;
    const read = async () => {
      const stream = await world.gateway.downloadMedia(world.business.id, mediaId);
      return new TextDecoder().decode(new Uint8Array(await new Response(stream).arrayBuffer()));
    };
    expect(await read()).toBe('a photo fetched by two instances');
    // Both of this instance's checks (the download's and the fetch's) miss the blob.
    lies = 2;
    expect(await read()).toBe('a photo fetched by two instances');
    expect(lies).toBe(0);
    // The second fetch's put was refused (write-once) and the stored blob was used.
    expect(conflicts).toBe(1);
    await world.close();
  });
});
