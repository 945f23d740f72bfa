/**
 * The gateway's media scenarios (issue 21), run against any set of stores: memory in core,
 * SQLite with the filesystem blob store in the examples. People are the testing kit's
 * simulated clients; their files travel through the network's simulated media host.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/bytes.js';
import { createDeterministicRandom } from '../../src/crypto/random.js';
import { isParleyError } from '../../src/errors.js';
import type { BusinessHandle } from '../../src/gateway/business-handle.js';
import { businessKey, vaultKey } from '../../src/gateway/durable/layout.js';
import { decodeStoredMedia } from '../../src/gateway/durable/media-store.js';
import { periodKeyContext } from '../../src/gateway/durable/period-keys.js';
import { createAesGcmSealer } from '../../src/gateway/durable/record-sealer.js';
import { decodeBusinessConfig } from '../../src/gateway/durable/records.js';
import { createLocalKeyProvider, type KeyProvider } from '../../src/gateway/key-provider.js';
import type { MediaTransferProgress } from '../../src/gateway/media-types.js';
import type { BlobStore } from '../../src/media/blob-store.js';
import { blobOpener } from '../../src/media/blob-store-kit.js';
import { mediaRecordAad, openMediaFields } from '../../src/media/media-record.js';
import { decryptMediaStream } from '../../src/media/media-streams.js';
import type { MediaType } from '../../src/media/media-type.js';
import { NAMESPACES, type Store } from '../../src/storage/contract.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { createTestWorld, type TestWorld, type TestWorldOptions } from '../../src/testing/test-world.js';
import { testCrypto } from './parties.js';

const DAY = 24 * 60 * 60 * 1000;
const BUSINESS = 'acme';
const NUMBER = '+15550100';
const ALICE = '+15550123';
const BOB = '+15550124';
const crypto = testCrypto();

/** The message store, vault store and blob store of one gateway, and backup copies of them. */
export interface MediaStoresFactory {
  readonly kind: string;
  create(clock: ManualClock): Promise<{ store: Store; vaultStore: Store; blobStore: BlobStore }>;
  /** A copy as a backup would hold it, opened with a clock frozen at copy time. */
  copyStore(store: Store, clock: ManualClock): Promise<Store>;
  copyBlobStore(blobStore: BlobStore, clock: ManualClock): Promise<BlobStore>;
  cleanup?(): Promise<void>;
}

/** A file whose plaintext is recognisable anywhere it could leak: a canary text, repeated. */
export function canaryFile(size: number, label: string): Uint8Array {
  const pattern = new TextEncoder().encode(`MEDIA-CANARY-${label}-`);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = pattern[i % pattern.length]!;
  return out;
}

/** Chunks of a file as a Web stream, counting how many were pulled. */
function chunked(
  file: Uint8Array,
  chunkBytes: number,
): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let offset = 0;
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= file.length) return controller.close();
        pulls += 1;
        controller.enqueue(file.slice(offset, offset + chunkBytes));
        offset += chunkBytes;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulls };
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    parts.push(chunk);
    length += chunk.length;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => (isParleyError(error) ? error.code : String(error)),
  );
}

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  return promise.then(
    () => ({ code: 'resolved', message: '' }),
    (error: unknown) =>
      isParleyError(error) ? { code: error.code, message: error.message } : { code: 'other', message: '' },
  );
}

/** Every record of a store (key, version, value), for "nothing changed" checks. */
async function snapshot(store: Store): Promise<string[]> {
  const out: string[] = [];
  for (const namespace of NAMESPACES) {
    for (const record of await store.list(namespace))
      out.push(`${namespace}:${record.key}:${record.version}:${toHex(record.value)}`);
  }
  return out;
}

/** Snapshot lines without the access log (every call through a handle appends to it). */
function withoutLog(lines: string[]): string[] {
  return lines.filter((line) => !line.includes(`/${BUSINESS}/log`) && !line.includes('gw/access-log/key'));
}

function includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle));
}

const sha256 = (bytes: Uint8Array) => toHex(crypto.sha256(bytes));

/**
 * Reads a business's media files from a message store and a blob store — the live ones or
 * copies — as anyone holding the operator's key could: the proof that destroying a period key
 * shreds every copy of a blob.
 */
async function readMediaCopy(options: {
  store: Store;
  vaultStore: Store;
  blobStore: BlobStore;
  keyProvider: KeyProvider;
}): Promise<{ readable: boolean; bytes?: Uint8Array }[]> {
  const { store, vaultStore, blobStore, keyProvider } = options;
  const config = decodeBusinessConfig((await store.get('meta', businessKey(BUSINESS)))!.value);
  const recordKey = await keyProvider.unwrapKey(config.wrappedRecordKey, `parley/records/${BUSINESS}`);
  const sealer = createAesGcmSealer(crypto, createDeterministicRandom('archive'), recordKey);
  const prefix = `gw/b/${BUSINESS}/media/`;
  const out: { readable: boolean; bytes?: Uint8Array }[] = [];
  for (const found of await store.list('messages', { prefix })) {
    const mediaId = found.key.slice(prefix.length);
    const { record } = decodeStoredMedia(sealer.open('messages', found.key, found.value));
    // The blob is there either way: only the key decides whether it is readable.
    expect(await blobStore.head(record.blobId)).toBeDefined();
    const wrapped = await vaultStore.get('vault', vaultKey(BUSINESS, record.period));
    if (!wrapped) {
      out.push({ readable: false });
      continue;
    }
    const periodKey = await keyProvider.unwrapKey(wrapped.value, periodKeyContext(BUSINESS, record.period));
    const fields = openMediaFields(
      { crypto, periodKey, aad: mediaRecordAad(BUSINESS, mediaId) },
      record.sealed,
    );
    out.push({
      readable: true,
      bytes: await readAll(decryptMediaStream(blobOpener(blobStore, record.blobId), fields)),
    });
  }
  return out;
}

export function describeGatewayMediaScenarios(factory: MediaStoresFactory): void {
  afterAll(async () => {
    await factory.cleanup?.();
  });

  async function world(
    options: Omit<TestWorldOptions, 'stores' | 'clock'> & {
      maxBytes?: Partial<Record<MediaType, number>>;
    } = {},
  ): Promise<TestWorld & { blobStore: BlobStore; store: Store; vaultStore: Store; acme: BusinessHandle }> {
    const clock = new ManualClock();
    const { store, vaultStore, blobStore } = await factory.create(clock);
    const created = await createTestWorld({
      seed: `media-${factory.kind}-${Math.random()}`,
      businessId: BUSINESS,
      businessNumber: NUMBER,
      personNumber: ALICE,
      crypto,
      ...options,
      clock,
      stores: { store, vaultStore },
      media: { blobStore, maxBytes: options.maxBytes },
      gateway: {
        // Kyber-1024 key generation costs ~3 ms a key: small pools keep the suite fast.
        preKeys: { batchSize: 10, kyberBatchSize: 2, lowWaterMark: 2, kyberLowWaterMark: 1 },
        ...options.gateway,
      },
    });
    const acme = created.gateway.forBusiness(BUSINESS, { principal: 'media-test' });
    return Object.assign(created, { blobStore, store, vaultStore, acme });
  }

  describe(`gateway media (${factory.kind})`, () => {
    it('upload → send → each of the person’s devices fetches and decrypts the file; the blob store holds only ciphertext', async () => {
      const w = await world({ personDevices: 2 });
      const file = canaryFile(300_000, 'upload');
      const progress: MediaTransferProgress[] = [];
      const source = chunked(file, 64 * 1024);
      const info = await w.acme.uploadMedia(source.stream, {
        type: 'image',
        mimetype: 'image/jpeg',
        width: 640,
        height: 480,
        onProgress: (p) => progress.push(p),
      });
      expect(info).toMatchObject({
        businessId: BUSINESS,
        origin: 'upload',
        type: 'image',
        mimetype: 'image/jpeg',
        fileLength: file.length,
        sha256: sha256(file),
        width: 640,
        stored: true,
        expiresAt: w.clock.now() + 30 * DAY,
      });
      expect(progress.filter((p) => p.phase === 'encrypt').at(-1)?.bytes).toBe(file.length);
      const uploaded = progress.filter((p) => p.phase === 'upload');
      expect(uploaded.at(-1)?.bytes).toBe(uploaded.at(-1)?.total);

      const id = await w.acme.send({
        from: NUMBER,
        to: ALICE,
        content: { media: { mediaId: info.mediaId, caption: 'your new bike' } },
      });
      await w.network.flush();
      expect(w.business.status(id)).toBe('delivered');
      expect(w.person.received).toHaveLength(2);
      for (const message of w.person.received) {
        expect(message.media).toMatchObject({
          type: 'image',
          mimetype: 'image/jpeg',
          caption: 'your new bike',
        });
        expect(sha256(await w.person.downloadMedia(message.media!))).toBe(sha256(file));
      }

      // At rest: one blob, exactly the ciphertext the media host holds, no plaintext in it.
      const blobs = await w.blobStore.list();
      expect(blobs.map((blob) => blob.id)).toEqual([`${BUSINESS}/${info.mediaId}`]);
      const stored = await readAll((await w.blobStore.get(blobs[0]!.id))!.stream);
      expect(sha256(stored)).toBe(sha256(w.network.media.allBlobs()[0]!));
      expect(includes(stored, new TextEncoder().encode('MEDIA-CANARY'))).toBe(false);
      // The frames carried the pointer, never the file.
      const framed = w.network.sent.reduce((sum, frame) => sum + frame.body.length, 0);
      expect(framed).toBeLessThan(file.length / 20);

      // The business reads its own file back.
      expect(sha256(await readAll(await w.acme.downloadMedia(info.mediaId)))).toBe(sha256(file));
      const operations = (await w.acme.accessLog()).map(
        (r) => `${r.operation} ${r.outcome} ${r.messageId?.[0]}`,
      );
      expect(operations).toEqual(
        expect.arrayContaining(['upload-media ok f', 'send ok m', 'download-media ok f']),
      );
      await w.close();
    });

    it('person → business: the handler gets the pointer’s facts and a media id; the file is fetched once, checked, then released', async () => {
      const w = await world();
      const file = canaryFile(200_000, 'inbound');
      await w.person.sendMedia(NUMBER, file, {
        type: 'document',
        mimetype: 'application/pdf',
        fileName: 'invoice-0042.pdf',
        caption: 'my invoice',
      });
      await w.network.flush();
      const [message] = w.business.messages;
      expect(message?.media).toEqual({
        mediaId: `f${message!.id.slice(1)}`,
        type: 'document',
        mimetype: 'application/pdf',
        fileLength: file.length,
        caption: 'my invoice',
        fileName: 'invoice-0042.pdf',
      });
      const mediaId = message!.media!.mediaId;
      expect(await w.acme.mediaInfo(mediaId)).toMatchObject({
        origin: 'inbound',
        messageId: message!.id,
        stored: false,
        sha256: sha256(file),
      });

      const phases: string[] = [];
      const bytes = await readAll(
        await w.acme.downloadMedia(mediaId, {
          onProgress: (p) => {
            if (phases.at(-1) !== p.phase) phases.push(p.phase);
          },
        }),
      );
      expect(sha256(bytes)).toBe(sha256(file));
      expect(phases).toEqual(['fetch', 'verify', 'decrypt']);
      expect(sha256(await readAll(await w.acme.downloadMedia(mediaId)))).toBe(sha256(file));
      // Fetched from the media host once; the second download came from the blob store.
      expect(w.network.media.requests.filter((r) => r.kind === 'download')).toHaveLength(1);
      expect((await w.acme.mediaInfo(mediaId)).stored).toBe(true);
      await w.close();
    });

    it('a download cut in the middle resumes with ranged requests; a host serving other bytes stores nothing', async () => {
      const w = await world();
      const file = canaryFile(600_000, 'resume');
      await w.person.sendMedia(NUMBER, file, { type: 'video', mimetype: 'video/mp4' });
      await w.network.flush();
      const mediaId = w.business.messages[0]!.media!.mediaId;
      const host = w.network.media;
      const location = { directPath: host.requests[0]!.directPath };
      const original = host.blob(location)!;

      // Bytes that change between the cut request and the resumed one fail the end-to-end check.
      host.cutNextDownloads(200_000);
      const tampered = original.slice();
      tampered[300_000]! ^= 1;
      const before = await snapshot(w.store);
      const download = host.download.bind(host);
      let calls = 0;
      host.download = async (where, range) => {
        calls += 1;
        if (calls === 2) host.replace(location, tampered);
        return download(where, range);
      };
      const failed = await w.acme.downloadMedia(mediaId).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isParleyError(failed, 'ERR_MEDIA_INTEGRITY')).toBe(true);
      expect(calls).toBe(2);
      expect(await w.blobStore.list()).toEqual([]);
      expect(withoutLog(await snapshot(w.store))).toEqual(withoutLog(before));

      host.download = download;
      host.replace(location, original);
      const starts = () => host.requests.filter((r) => r.kind === 'download').map((r) => r.start);
      const asked = starts().length;
      host.cutNextDownloads(250_000, 2);
      expect(sha256(await readAll(await w.acme.downloadMedia(mediaId)))).toBe(sha256(file));
      expect(starts().slice(asked)).toEqual([0, 250_000, 500_000]);

      // A host that never answers: a few attempts, then ERR_TRANSPORT_FAILURE.
      await w.person.sendMedia(NUMBER, canaryFile(1000, 'down'), { type: 'image', mimetype: 'image/png' });
      await w.network.flush();
      host.refuseNextDownloads(10);
      expect(await codeOf(w.acme.downloadMedia(w.business.messages[1]!.media!.mediaId))).toBe(
        'ERR_TRANSPORT_FAILURE',
      );
      expect(starts().length - asked).toBe(3 + 3);
      await w.close();
    });

    it('size limits per type: over the limit is refused before it is buffered, and nothing changes', async () => {
      const w = await world({ maxBytes: { image: 100_000 } });
      const before = await snapshot(w.store);
      const declared = chunked(canaryFile(200_000, 'big'), 10_000);
      expect(
        await codeOf(
          w.acme.uploadMedia(declared.stream, {
            type: 'image',
            mimetype: 'image/png',
            declaredLength: 200_000,
          }),
        ),
      ).toBe('ERR_MEDIA_TOO_LARGE');
      expect(declared.pulled()).toBe(0);
      const undeclared = chunked(canaryFile(200_000, 'big'), 10_000);
      expect(
        await codeOf(w.acme.uploadMedia(undeclared.stream, { type: 'image', mimetype: 'image/png' })),
      ).toBe('ERR_MEDIA_TOO_LARGE');
      // Refused at the chunk that crossed the limit: the rest of the file was never read.
      expect(undeclared.pulled()).toBe(11);
      expect(await w.blobStore.list()).toEqual([]);
      expect(w.network.media.requests).toEqual([]);
      // Bad arguments: refused before anything is read or stored.
      for (const options of [
        { type: 'gif2', mimetype: 'image/gif' },
        { type: 'image', mimetype: '' },
        { type: 'image', mimetype: 'image/png', width: -1 },
        null,
      ]) {
        expect(await codeOf(w.acme.uploadMedia(canaryFile(10, 'x'), options as never))).toBe(
          'ERR_INVALID_ARGUMENT',
        );
      }
      expect(await codeOf(w.acme.uploadMedia(42 as never, { type: 'image', mimetype: 'image/png' }))).toBe(
        'ERR_INVALID_ARGUMENT',
      );
      // Only the access log moved.
      expect(withoutLog(await snapshot(w.store))).toEqual(withoutLog(before));
      // Another type has its own limit.
      const document = await w.acme.uploadMedia(canaryFile(150_000, 'doc'), {
        type: 'document',
        mimetype: 'application/pdf',
      });
      expect(document.fileLength).toBe(150_000);
      // A person's file over the limit is refused before it is fetched.
      await w.person.sendMedia(NUMBER, canaryFile(150_000, 'in'), { type: 'image', mimetype: 'image/png' });
      await w.network.flush();
      const downloads = w.network.media.requests.filter((r) => r.kind === 'download').length;
      expect(await codeOf(w.acme.downloadMedia(w.business.messages[0]!.media!.mediaId))).toBe(
        'ERR_MEDIA_TOO_LARGE',
      );
      expect(w.network.media.requests.filter((r) => r.kind === 'download').length).toBe(downloads);
      await w.close();
    });

    it('after the deadline: download, info and send are ERR_RETENTION_EXPIRED; the sweep deletes the blobs', async () => {
      const w = await world({ retentionDays: 1 });
      const upload = await w.acme.uploadMedia(canaryFile(5_000, 'exp'), {
        type: 'image',
        mimetype: 'image/png',
      });
      await w.person.sendMedia(NUMBER, canaryFile(7_000, 'exp-in'), { type: 'audio', mimetype: 'audio/ogg' });
      await w.network.flush();
      const inbound = w.business.messages[0]!.media!.mediaId;
      await readAll(await w.acme.downloadMedia(inbound));
      expect((await w.blobStore.list()).length).toBe(2);

      w.clock.advance(DAY);
      for (const mediaId of [upload.mediaId, inbound]) {
        expect(await codeOf(w.acme.downloadMedia(mediaId))).toBe('ERR_RETENTION_EXPIRED');
        expect(await codeOf(w.acme.mediaInfo(mediaId))).toBe('ERR_RETENTION_EXPIRED');
      }
      expect(
        await codeOf(
          w.acme.send({ from: NUMBER, to: ALICE, content: { media: { mediaId: upload.mediaId } } }),
        ),
      ).toBe('ERR_RETENTION_EXPIRED');
      expect(await codeOf(w.acme.downloadMedia(`f${'0'.repeat(32)}`))).toBe('ERR_NOT_FOUND');
      const swept = await w.gateway.sweep();
      expect(swept.blobs).toBe(2);
      expect(await w.blobStore.list()).toEqual([]);
      expect(await w.store.list('messages', { prefix: `gw/b/${BUSINESS}/media/` })).toEqual([]);
      // Still "expired", not "unknown", after the sweep (the id index outlives the file).
      expect(await codeOf(w.acme.downloadMedia(upload.mediaId))).toBe('ERR_RETENTION_EXPIRED');
      await w.close();
    });

    it('erase removes the person’s media: files they sent and uploads sent to them alone; a file others got stays', async () => {
      const w = await world();
      const bob = await w.addPerson(BOB);
      await w.person.sendMedia(NUMBER, canaryFile(3_000, 'alice'), { type: 'image', mimetype: 'image/png' });
      await bob.sendMedia(NUMBER, canaryFile(3_000, 'bob'), { type: 'image', mimetype: 'image/png' });
      await w.network.flush();
      const [fromAlice, fromBob] = w.business.messages.map((m) => m.media!.mediaId);
      await readAll(await w.acme.downloadMedia(fromAlice!));
      const upload = (label: string) =>
        w.acme.uploadMedia(canaryFile(2_000, label), { type: 'document', mimetype: 'application/pdf' });
      const onlyAlice = await upload('invoice');
      const both = await upload('catalogue');
      const unsent = await upload('draft');
      const send = (to: string, mediaId: string) =>
        w.acme.send({ from: NUMBER, to, content: { media: { mediaId } } });
      await send(ALICE, onlyAlice.mediaId);
      await send(ALICE, both.mediaId);
      await send(BOB, both.mediaId);
      await w.network.flush();
      expect((await w.blobStore.list()).length).toBe(4);

      await w.acme.erase(ALICE);
      for (const gone of [fromAlice!, onlyAlice.mediaId])
        expect(await codeOf(w.acme.downloadMedia(gone))).toBe('ERR_NOT_FOUND');
      for (const kept of [fromBob!, both.mediaId, unsent.mediaId])
        expect(await codeOf(w.acme.mediaInfo(kept))).toBe('resolved');
      expect((await w.blobStore.list()).map((b) => b.id).sort()).toEqual(
        [both.mediaId, unsent.mediaId].map((id) => `${BUSINESS}/${id}`).sort(),
      );
      // Bob is now the only one who got the catalogue: erasing him takes it too.
      await w.acme.erase(BOB);
      expect(await codeOf(w.acme.mediaInfo(both.mediaId))).toBe('ERR_NOT_FOUND');
      expect(await codeOf(w.acme.mediaInfo(fromBob!))).toBe('ERR_NOT_FOUND');
      expect((await w.blobStore.list()).map((b) => b.id)).toEqual([`${BUSINESS}/${unsent.mediaId}`]);
      expect((await w.store.list('meta')).filter((r) => /\/(pm|mp)\//.test(r.key))).toEqual([]);
      await w.close();
    });

    it('crypto-shredding: copies of the blob store and message store are unreadable once the period key is destroyed; the vault from before still reads them', async () => {
      const kek = new Uint8Array(32).fill(9);
      const keyProvider = createLocalKeyProvider({ kek, crypto });
      const w = await world({ retentionDays: 1, gateway: { keyProvider } });
      const uploaded = canaryFile(4_000, 'shred-out');
      const received = canaryFile(6_000, 'shred-in');
      await w.acme.uploadMedia(uploaded, { type: 'image', mimetype: 'image/png' });
      await w.person.sendMedia(NUMBER, received, { type: 'image', mimetype: 'image/png' });
      await w.network.flush();
      await readAll(await w.acme.downloadMedia(w.business.messages[0]!.media!.mediaId));

      const store = await factory.copyStore(w.store, w.clock);
      const blobStore = await factory.copyBlobStore(w.blobStore, w.clock);
      const vaultBackup = await factory.copyStore(w.vaultStore, w.clock);
      const sorted = (files: { bytes?: Uint8Array }[]) => files.map((f) => f.bytes?.length).sort();
      const before = await readMediaCopy({ store, vaultStore: w.vaultStore, blobStore, keyProvider });
      expect(sorted(before)).toEqual([4_000, 6_000]);

      w.clock.advance(3 * DAY);
      expect((await w.gateway.sweep()).periodKeys).toBeGreaterThanOrEqual(1);
      const after = await readMediaCopy({ store, vaultStore: w.vaultStore, blobStore, keyProvider });
      expect(after).toEqual([{ readable: false }, { readable: false }]);
      // Control: the same copies open with the vault as it was before expiry.
      const control = await readMediaCopy({ store, vaultStore: vaultBackup, blobStore, keyProvider });
      expect(control.map((f) => sha256(f.bytes!)).sort()).toEqual(
        [sha256(uploaded), sha256(received)].sort(),
      );
      await w.close();
    });

    it('media messages count like other messages in integrity, statistics and billing; uploads count nothing', async () => {
      const w = await world();
      await w.person.send(NUMBER, 'hello');
      await w.person.sendMedia(NUMBER, canaryFile(1_000, 'count'), { type: 'image', mimetype: 'image/png' });
      await w.network.flush();
      const files = [];
      for (const label of ['a', 'b', 'c'])
        files.push(
          await w.acme.uploadMedia(canaryFile(1_000, label), { type: 'image', mimetype: 'image/png' }),
        );
      const counts = () => {
        const { statistics } = w.gateway.statisticsExport();
        const day = statistics.days().at(-1)!;
        const row = statistics.snapshot(day).businesses.find((b) => b.businessId === BUSINESS)!;
        return { in: row.messagesIn, out: row.messagesOut, delivered: row.delivered };
      };
      expect(counts()).toEqual({ in: 2, out: 0, delivered: 0 });
      await w.acme.send({ from: NUMBER, to: ALICE, content: 'thanks' });
      await w.acme.send({ from: NUMBER, to: ALICE, content: { media: { mediaId: files[0]!.mediaId } } });
      await w.network.flush();
      expect(counts()).toEqual({ in: 2, out: 2, delivered: 2 });
      const signal = w.gateway.integritySignals().signal(BUSINESS);
      expect(signal.snapshot.sent).toBe(2);
      expect(signal.snapshot.delivered).toBe(2);
      await w.close();
    });

    it('through the handle another business’s media id is ERR_NOT_FOUND exactly like a missing one', async () => {
      const w = await world();
      await w.gateway.registerBusiness({ businessId: 'other' });
      await w.gateway.addNumber('other', '+15550999');
      const other = w.gateway.forBusiness('other', { principal: 'other-app' });
      const theirs = await other.uploadMedia(canaryFile(1_000, 'theirs'), {
        type: 'image',
        mimetype: 'image/png',
      });
      const missing = `f${'a'.repeat(32)}`;
      const before = await snapshot(w.store);
      const attempts = (mediaId: string) => [
        w.acme.downloadMedia(mediaId),
        w.acme.mediaInfo(mediaId),
        w.acme.deleteMedia(mediaId),
        w.acme.send({ from: NUMBER, to: ALICE, content: { media: { mediaId } } }),
      ];
      const foreign = await Promise.all(attempts(theirs.mediaId).map(errorOf));
      const absent = await Promise.all(attempts(missing).map(errorOf));
      expect(foreign).toEqual(absent);
      expect(foreign.every((e) => e.code === 'ERR_NOT_FOUND')).toBe(true);
      // Only the access log moved.
      expect(withoutLog(await snapshot(w.store))).toEqual(withoutLog(before));
      expect(sha256(await readAll(await other.downloadMedia(theirs.mediaId)))).toBe(
        sha256(canaryFile(1_000, 'theirs')),
      );
      const records = await w.acme.accessLog({ since: 0 });
      // The refused attempts are logged without the other business's id.
      expect(JSON.stringify(records)).not.toContain(theirs.mediaId);
      const log = records.map((r) => `${r.operation} ${r.outcome}`);
      expect(log).toEqual(
        expect.arrayContaining([
          'download-media ERR_NOT_FOUND',
          'media-info ERR_NOT_FOUND',
          'delete-media ERR_NOT_FOUND',
          'send ERR_NOT_FOUND',
        ]),
      );
      await w.close();
    });

    it('a refused send or upload changes nothing: a caption a sticker cannot carry, a media host that fails', async () => {
      const w = await world();
      const sticker = await w.acme.uploadMedia(canaryFile(1_000, 'sticker'), {
        type: 'sticker',
        mimetype: 'image/webp',
      });
      const before = await snapshot(w.store);
      const blobsBefore = await w.blobStore.list();
      expect(
        await codeOf(
          w.gateway.send({
            from: NUMBER,
            to: ALICE,
            content: { media: { mediaId: sticker.mediaId, caption: 'hi' } },
          }),
        ),
      ).toBe('ERR_INVALID_ARGUMENT');
      for (const content of [
        { media: { mediaId: 'nope' } },
        { media: {} },
        { media: { mediaId: sticker.mediaId }, text: 'x' },
        // The type the caller expects must be the file's.
        { media: { mediaId: sticker.mediaId, type: 'image' } },
        { media: { mediaId: sticker.mediaId, type: 'png' } },
      ]) {
        expect(await codeOf(w.gateway.send({ from: NUMBER, to: ALICE, content: content as never }))).toBe(
          'ERR_INVALID_ARGUMENT',
        );
      }
      // The media host refuses the upload: the blob is removed again and no record is written.
      const upload = w.network.media.upload.bind(w.network.media);
      w.network.media.upload = async () => {
        throw new Error('media host down');
      };
      expect(
        await codeOf(
          w.gateway.uploadMedia(BUSINESS, canaryFile(1_000, 'x'), { type: 'image', mimetype: 'image/png' }),
        ),
      ).toBe('ERR_TRANSPORT_FAILURE');
      w.network.media.upload = upload;
      expect(await snapshot(w.store)).toEqual(before);
      expect(await w.blobStore.list()).toEqual(blobsBefore);
      expect(w.gateway.statisticsExport().statistics.days()).toEqual([]);
      // deleteMedia removes the record and the blob at once.
      await w.gateway.deleteMedia(BUSINESS, sticker.mediaId);
      expect(await w.blobStore.list()).toEqual([]);
      expect(await codeOf(w.gateway.mediaInfo(BUSINESS, sticker.mediaId))).toBe('ERR_NOT_FOUND');
      await w.close();
    });
  });
}
