/**
 * Media canaries: a gateway on SQLite with the filesystem blob store, a recording transport, a
 * recording media host and a recording logger. Files made of a canary string go both ways
 * (uploaded by the business and sent, sent by a person and downloaded — resumed after a cut),
 * with canary captions and file names, plus the failures a business can provoke (a file over the
 * limit, a tampered blob, malformed arguments carrying the canary). Then every byte each party
 * got — the blob store's files and the temporary of a write caught in the middle, both
 * databases, the frames, the media host's uploads and downloads, logs and errors — is searched
 * for the content canary and the phone-number canary in every encoding canary-search knows.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BlobStore,
  type BusinessHandle,
  createGateway,
  createLocalKeyProvider,
  type Gateway,
  type InboundMessage,
  isParleyError,
  type Store,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock, type SimulatedPerson, TestNetwork } from '@parley/core/testing';
import { createFsBlobStore } from '@parley/storage-adapters/media-fs';
import { createSqliteStore } from '@parley/storage-adapters/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blob,
  findIn,
  needles,
  RecordingMediaTransport,
  RecordingTransport,
  recordingLogger,
} from './support/canary-search.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const crypto = createNodeCrypto();
const BUSINESS_ID = 'canary-media';
const BUSINESS_NUMBER = '+15550171';
const CONTENT_CANARY = `cnry-${randomBytes(12).toString('hex')}-media`;
const PHONE_CANARY = `+49157${randomInt(10_000_000, 99_999_999)}`;

/** A file made of the canary: any plaintext byte range of a few dozen bytes contains it. */
function canaryFile(size: number): Uint8Array {
  const unit = Buffer.from(`${CONTENT_CANARY}|`);
  const out = Buffer.alloc(size);
  for (let offset = 0; offset < size; offset += unit.length) unit.copy(out, offset);
  return new Uint8Array(out);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Every file under a folder, with its path relative to it. */
function filesUnder(root: string): { name: string; bytes: Buffer }[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return { name: path.slice(root.length + 1), bytes: readFileSync(path) };
    });
}

describe('canary: media blobs carry no plaintext anywhere (SQLite + media-fs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-canary-media-'));
  const blobRoot = join(dir, 'blobs');
  const clock = new ManualClock();
  const logger = recordingLogger();
  const thrown: unknown[] = [];
  const background: unknown[] = [];
  const inbox: InboundMessage[] = [];
  const decrypted: Buffer[] = [];
  /** The blob store's files while an upload was half written (its temporary among them). */
  let midWrite: { name: string; bytes: Buffer }[] = [];
  let store: Store;
  let vaultStore: Store;
  let blobStore: BlobStore;
  let gateway: Gateway;
  let network: TestNetwork;
  let transport: RecordingTransport;
  let media: RecordingMediaTransport;
  let person: SimulatedPerson;
  let business: BusinessHandle;

  async function expectThrown(work: Promise<unknown>, code: string): Promise<void> {
    const error = await work.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    thrown.push(error);
    expect(isParleyError(error) ? error.code : error).toBe(code);
  }

  beforeAll(async () => {
    store = createSqliteStore({ path: join(dir, 'messages.db'), clock });
    vaultStore = createSqliteStore({ path: join(dir, 'vault.db'), clock });
    blobStore = await createFsBlobStore({ root: blobRoot, clock });
    network = new TestNetwork();
    transport = new RecordingTransport(network);
    media = new RecordingMediaTransport(network.media);
    gateway = createGateway({
      store,
      vaultStore,
      keyProvider: createLocalKeyProvider({ kek: randomBytes(32), crypto }),
      transport,
      directory: transport,
      crypto,
      clock,
      timer: false,
      logger,
      preKeys: { kyberBatchSize: 4, kyberLowWaterMark: 2 },
      media: { blobStore, transport: media, maxBytes: { image: 600_000 } },
    });
    gateway.onError((error) => background.push(error));
    transport.connect(gateway);
    await gateway.registerBusiness({ businessId: BUSINESS_ID, retentionDays: 30 });
    await gateway.addNumber(BUSINESS_ID, BUSINESS_NUMBER);
    business = gateway.forBusiness(BUSINESS_ID, { principal: 'canary-app' });
    await business.onMessage((message) => {
      inbox.push(message);
    });
    person = network.addPerson(await createSimulatedPerson({ phoneNumber: PHONE_CANARY, crypto, clock }));

    // Business → person: an upload caught half written, then sent with a canary caption.
    const file = canaryFile(500_000);
    async function* halted(): AsyncGenerator<Uint8Array> {
      yield file.subarray(0, 250_000);
      // The first half went to the temporary (each chunk is written before the next is asked for).
      midWrite = filesUnder(blobRoot);
      yield file.subarray(250_000);
    }
    const uploaded = await business.uploadMedia(halted(), { type: 'image', mimetype: 'image/jpeg' });
    await business.send({
      from: BUSINESS_NUMBER,
      to: PHONE_CANARY,
      content: { media: { mediaId: uploaded.mediaId, caption: `caption ${CONTENT_CANARY}` } },
    });
    await network.flush();
    decrypted.push(Buffer.from(await person.downloadMedia(person.received[0]!.media!)));

    // Person → business: a document with a canary name, fetched with a cut and a resumed request.
    await person.sendMedia(BUSINESS_NUMBER, canaryFile(300_000), {
      type: 'document',
      mimetype: 'application/pdf',
      fileName: `${CONTENT_CANARY}.pdf`,
      caption: `about ${CONTENT_CANARY}`,
    });
    await network.flush();
    network.media.cutNextDownloads(100_000);
    decrypted.push(await readAll(await business.downloadMedia(inbox[0]!.media!.mediaId)));

    // Failures the business can provoke, each with the canary at hand.
    await expectThrown(
      business.uploadMedia(canaryFile(700_000), { type: 'image', mimetype: 'image/jpeg' }),
      'ERR_MEDIA_TOO_LARGE',
    );
    await person.sendMedia(BUSINESS_NUMBER, canaryFile(20_000), { type: 'image', mimetype: 'image/png' });
    await network.flush();
    const tampered = network.media.requests.at(-1)!;
    const bytes = network.media.blob(tampered)!;
    bytes[bytes.length - 1]! ^= 1;
    network.media.replace(tampered, bytes);
    await expectThrown(business.downloadMedia(inbox[1]!.media!.mediaId), 'ERR_MEDIA_INTEGRITY');
    await expectThrown(
      business.uploadMedia(canaryFile(10), { type: 'image', mimetype: CONTENT_CANARY.repeat(20) }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectThrown(
      business.uploadMedia(canaryFile(10), { type: CONTENT_CANARY as never, mimetype: 'image/png' }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectThrown(business.downloadMedia(CONTENT_CANARY), 'ERR_INVALID_ARGUMENT');
    await expectThrown(
      business.send({
        from: BUSINESS_NUMBER,
        to: PHONE_CANARY,
        content: { media: { mediaId: uploaded.mediaId, caption: CONTENT_CANARY.repeat(3_000) } },
      }),
      'ERR_INVALID_ARGUMENT',
    );
    await gateway.idle();
  }, 60_000);

  afterAll(async () => {
    await gateway.close();
    await store.close();
    await vaultStore.close();
    await blobStore.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const content = () => needles('content', CONTENT_CANARY);
  const logBytes = () => Buffer.from(logger.lines.map((line) => JSON.stringify(line)).join('\n'));
  const errorBytes = () => blob([...thrown, ...background]);

  it('the run carried the canaries: files decrypted at both ends, a temporary caught mid-write, a resumed fetch', () => {
    expect(decrypted.map((file) => file.length)).toEqual([500_000, 300_000]);
    for (const file of decrypted) expect(findIn(file, content())).toContain('content raw');
    expect(inbox[0]!.media).toMatchObject({
      fileName: `${CONTENT_CANARY}.pdf`,
      caption: `about ${CONTENT_CANARY}`,
    });
    expect(person.received[0]!.media?.caption).toBe(`caption ${CONTENT_CANARY}`);
    const temporaries = midWrite.filter(
      (file) => file.name.startsWith('tmp/') && file.name.endsWith('.part'),
    );
    expect(temporaries).toHaveLength(1);
    expect(temporaries[0]!.bytes.length).toBeGreaterThan(250_000);
    const starts = network.media.requests.filter((r) => r.kind === 'download').map((r) => r.start);
    expect(starts.slice(0, 3)).toEqual([0, 0, 100_000]);
    expect(thrown).toHaveLength(6);
  });

  it('the blob store holds no plaintext: its blobs, layout file and the temporary of a write in progress', () => {
    const files = [...filesUnder(blobRoot), ...midWrite];
    expect(files.filter((file) => file.name.startsWith('blobs/')).length).toBeGreaterThanOrEqual(2);
    for (const file of files) expect(findIn(file.bytes, content()), file.name).toEqual([]);
    for (const file of files)
      expect(findIn(file.bytes, needles('phone', PHONE_CANARY)), file.name).toEqual([]);
  });

  it('the databases hold no plaintext, caption or file name (sealed), nor the number in clear', () => {
    for (const file of filesUnder(dir).filter((f) => !f.name.startsWith('blobs/'))) {
      expect(findIn(file.bytes, content()), file.name).toEqual([]);
      expect(findIn(file.bytes, needles('phone', PHONE_CANARY)), file.name).toEqual([]);
    }
  });

  it('the network saw no plaintext: frames carry the pointer, the media host only ciphertext', () => {
    expect(findIn(transport.all(), content())).toEqual([]);
    expect(findIn(media.all(), content())).toEqual([]);
    expect(findIn(Buffer.concat(network.media.allBlobs()), content())).toEqual([]);
    // The media host never learns who is talking.
    expect(findIn(media.all(), needles('phone', PHONE_CANARY))).toEqual([]);
  });

  it('logs and errors carry no content, caption, file name or phone number', () => {
    for (const search of [content(), needles('phone', PHONE_CANARY)]) {
      expect(findIn(logBytes(), search)).toEqual([]);
      expect(findIn(errorBytes(), search)).toEqual([]);
    }
    for (const error of thrown) expect(isParleyError(error)).toBe(true);
  });

  it('after retention the sweep leaves no blob on disk', async () => {
    clock.advance(31 * DAY_MS);
    const swept = await gateway.sweep();
    expect(swept.blobs).toBeGreaterThanOrEqual(2);
    expect(filesUnder(blobRoot).filter((file) => file.name.startsWith('blobs/'))).toEqual([]);
    await expectThrown(business.downloadMedia(inbox[0]!.media!.mediaId), 'ERR_RETENTION_EXPIRED');
  });
});
